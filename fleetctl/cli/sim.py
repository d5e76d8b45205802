"""``fleetctl sim``: run the simulated fleet (the same program as ``python -m simulator``)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Run a simulated Kata fleet for demos, tests and rehearsals.", no_args_is_help=True)


@app.command(
    "serve",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
    add_help_option=False,
)
def serve(ctx: typer.Context) -> None:
    """Serve a simulated fleet: the Kubernetes API and kata-monitor metrics (see --help)."""
    from simulator import serve_command

    serve_command("fleetctl sim serve", list(ctx.args))
