"""A kubeconfig that cannot be used is refused in plain words, naming the context, before any request."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from clients.kube.config import open_contexts
from store.errors import BadInputError

TOKEN = "tok-SECRET-123"


def _kubeconfig(tmp_path: Path, cluster: dict[str, object], user: dict[str, object]) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "ctx1",
                "contexts": [{"name": "ctx1", "context": {"cluster": "c1", "user": "u1"}}],
                "clusters": [{"name": "c1", "cluster": cluster}],
                "users": [{"name": "u1", "user": user}],
            }
        )
    )
    return path


@pytest.mark.parametrize(
    ("cluster", "user", "says", "hint"),
    [
        ({"server": "https://127.0.0.1:6443", "certificate-authority": "/nonexistent/ca.crt"}, {"token": TOKEN},
         "the file /nonexistent/ca.crt that it names does not exist", "kubectl --context ctx1"),
        ({"server": "https://127.0.0.1:6443", "certificate-authority-data": "bm90LWEtY2"}, {"token": TOKEN},
         "certificate or key data is not valid base64", "kubectl --context ctx1"),
        ({"server": "https://127.0.0.1:6443"}, {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                         "command": "no-such-plugin-xyz"}},
         "gets its credentials from 'no-such-plugin-xyz', which is not installed", "install no-such-plugin-xyz"),
        ({}, {"token": TOKEN}, "names a cluster with no server", "kubectl config view"),
        ({"server": "10.0.0.1:6443"}, {"token": TOKEN}, "has no scheme", "https://10.0.0.1:6443"),
    ],
)  # fmt: skip
def test_an_unusable_context_is_refused_in_words(
    tmp_path: Path, cluster: dict[str, object], user: dict[str, object], says: str, hint: str
) -> None:
    with pytest.raises(BadInputError) as err:
        open_contexts(_kubeconfig(tmp_path, cluster, user))
    text = f"{err.value} {err.value.hint}"
    assert says in str(err.value) and hint in (err.value.hint or ""), text
    assert TOKEN not in text and "Error" not in text and "Exception" not in text


def test_broken_yaml_is_described_in_words_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("contexts:\n  - name: a\n    context: {}\n users: []\n")
    with pytest.raises(BadInputError) as err:
        open_contexts(path)
    assert err.value.where == f"{path}:4:2"
    assert "<" not in str(err.value) and "indent" in str(err.value), str(err.value)
