#!/usr/bin/env bash
# Build the Kubernetes control plane that the real-control-plane test tier runs (kube-apiserver,
# kube-controller-manager, kube-scheduler, etcd) from the modules pinned in tools/k8s/go.mod, into a
# cache directory keyed by the pin. Prints that directory on stdout; a second run with the same pin
# builds nothing.
#
#   FLEETCTL_K8S_ASSETS=DIR   use prebuilt binaries in DIR instead (like envtest's KUBEBUILDER_ASSETS)
#   XDG_CACHE_HOME            the cache root (default ~/.cache): builds go to fleetctl/k8s-<version>-<key>/
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
binaries=(kube-apiserver kube-controller-manager kube-scheduler etcd)

have_all() { for b in "${binaries[@]}"; do [ -x "$1/$b" ] || return 1; done; }

if [ -n "${FLEETCTL_K8S_ASSETS:-}" ]; then
  if have_all "$FLEETCTL_K8S_ASSETS"; then echo "$FLEETCTL_K8S_ASSETS"; exit 0; fi
  echo "error: FLEETCTL_K8S_ASSETS=$FLEETCTL_K8S_ASSETS: it must hold ${binaries[*]}" >&2
  echo "  hint: unset it to build them from tools/k8s/go.mod, or point it at a directory with all four" >&2
  exit 2
fi

version="$(awk '$1 == "k8s.io/kubernetes" {print $2; exit}' "$here/go.mod")"
minor="${version#v1.}"; minor="${minor%%.*}"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
ldflags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
recipe="CGO_ENABLED=0 go build -trimpath -ldflags '$ldflags'"  # the key covers the pin and how it is built
key="$( (cat "$here/go.mod" "$here/go.sum" "$here/cmd/etcd/main.go"; echo "$recipe") | sha256sum | cut -c1-12)"
out="${XDG_CACHE_HOME:-$HOME/.cache}/fleetctl/k8s-${version}-${key}"
if have_all "$out"; then echo "$out"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: the real-control-plane tier needs Go (1.26 or newer) to build kube-apiserver, etcd, kube-controller-manager and kube-scheduler" >&2
  echo "  hint: install Go from https://go.dev/dl/ (or Debian's golang-go), or set FLEETCTL_K8S_ASSETS to a directory with those four binaries" >&2
  exit 2
fi

tmp="$(mktemp -d "${out}.partial.XXXXXX" 2>/dev/null || { mkdir -p "$(dirname "$out")"; mktemp -d "${out}.partial.XXXXXX"; })"
trap 'rm -rf "$tmp"' EXIT
echo "building the Kubernetes control plane $version (4 binaries; on 2 cores and a cold cache about 7 minutes, 600 MB of Go modules and 4 GB of build cache) into $out" >&2
started=$SECONDS
(
  cd "$here"
  export CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
  go build -trimpath -ldflags "$ldflags" -o "$tmp/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
  go build -trimpath -ldflags "-s -w" -o "$tmp/etcd" ./cmd/etcd
)
have_all "$tmp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
for old in "$(dirname "$out")"/k8s-*; do  # builds of an older pin: only ours, never anything else
  [ "$old" != "$out" ] && [ -d "$old" ] && rm -rf "$old"
done
echo "built in $((SECONDS - started))s: $(du -sh "$out" | cut -f1) in $out" >&2
echo "$out"
