"""``fleetctl report-node``: run on each node (a DaemonSet), publish Kata's facts as annotations."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from fleetctl.settings import Settings


def report_node(
    ctx: typer.Context,
    node: Annotated[
        str | None,
        typer.Option(
            "--node", envvar="NODE_NAME", help="This node's name (the DaemonSet passes it via the downward API)."
        ),
    ] = None,
    kata_dir: Annotated[Path, typer.Option("--kata-dir", help="Where the host's /opt/kata is mounted.")] = Path(
        "/opt/kata"
    ),
    interval: Annotated[
        str, typer.Option("--interval", help="Report again every interval (10m, ...); 0 reports once.")
    ] = "0",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the annotations instead of writing them.")] = False,
) -> None:
    """Publish `kata-runtime env --json` (else `kata-ctl env`, else the shim's --version) and /opt/kata/VERSION
    as this node's annotations, naming the source used."""
    from collectors.reporting import build_report
    from store.durations import parse_duration
    from store.errors import BadInputError

    settings: Settings = ctx.obj
    every = parse_duration(interval, where="--interval").total_seconds()
    if not node and not dry_run:
        raise BadInputError(
            "which node is this?",
            where="--node",
            hint="pass --node NAME or set NODE_NAME (the downward API's spec.nodeName)",
        )
    while True:
        report = build_report(kata_dir)
        if dry_run:
            typer.echo(json.dumps(report.annotations, indent=2, sort_keys=True))
        else:
            _patch(settings, str(node), report.annotations)
            typer.echo(f"node/{node} annotated from {report.source}")
        if every <= 0:
            return
        time.sleep(every)


def _patch(settings: Settings, node: str, annotations: dict[str, str]) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    from clients.failures import plain_reason
    from clients.kube.config import open_contexts
    from clients.kube.errors import from_status
    from store.errors import UnreachableError

    api = open_contexts(settings.kubeconfig, [settings.context] if settings.context else None)[0].api
    try:
        client.CoreV1Api(api).patch_node(node, {"metadata": {"annotations": annotations}})
    except ApiException as exc:
        raise from_status(exc.status or 0, exc.body, where=f"node/{node}") from None
    except OSError as exc:  # the kubernetes client's urllib3 errors are OSErrors too
        raise UnreachableError(
            f"cannot reach the API server: {plain_reason(exc)}",
            where=f"node/{node}",
            hint="check the cluster is reachable (kubectl cluster-info)",
        ) from None
