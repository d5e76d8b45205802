"""The root command: global options, sub-command groups, and the error-to-exit-code boundary."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import Annotated, NoReturn

import typer
from typer._click.core import Command
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # Typer's own Click

from fleetctl.cli import (
    collect,
    db,
    demo,
    health,
    nodes,
    rehearse,
    releases,
    report_node,
    schedule,
    serve,
    sim,
    tui,
    upgrade,
    versions,
)
from fleetctl.config import load_config
from fleetctl.console import err, print_error, print_internal_error
from fleetctl.exitcodes import ExitCode, exit_code_for
from fleetctl.settings import resolve_settings
from store.errors import FleetctlError


def _typer() -> typer.Typer:
    return typer.Typer(
        name="fleetctl",
        help="See and upgrade a fleet of Kata Containers nodes on Kubernetes.",
        add_completion=False,
        pretty_exceptions_enable=False,  # never print locals: they can hold tokens and passwords
        context_settings={"help_option_names": ["-h", "--help"]},
    )


app = _typer()
app.add_typer(db.app, name="db")
app.add_typer(sim.app, name="sim")
app.add_typer(releases.app, name="releases")
app.command("collect")(collect.collect)
app.command("report-node")(report_node.report_node)
app.command("nodes")(nodes.nodes)
app.command("query")(nodes.query)
app.command("health")(health.health)
app.command("versions")(versions.versions)
app.command("history")(versions.history)
app.add_typer(versions.describe_app, name="describe")
app.add_typer(upgrade.app, name="upgrade")
app.command("rehearse")(rehearse.rehearse)
app.add_typer(schedule.app, name="schedule")
app.command("serve")(serve.serve)
app.command("tui")(tui.tui)
app.command("demo")(demo.demo)


def _show_version(value: bool) -> None:
    if value:
        from fleetctl import __version__

        typer.echo(f"fleetctl {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    db_url: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="FLEETCTL_DB",
            show_envvar=True,
            show_default=False,
            help="Database URL: sqlite:///PATH or postgresql://USER:PASS@HOST/DB. Default: SQLite in the XDG data dir.",
        ),
    ] = None,
    kubeconfig: Annotated[
        str | None,
        typer.Option("--kubeconfig", help="Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)."),
    ] = None,
    context: Annotated[
        str | None, typer.Option("--context", help="The kubeconfig context to use (default: its current-context).")
    ] = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Default output format: table|wide|json|yaml|csv|name.")
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", envvar="FLEETCTL_CONFIG", help="Config file (default: ~/.config/fleetctl/config.toml)."
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """See and upgrade a fleet of Kata Containers nodes on Kubernetes."""
    ctx.obj = resolve_settings(load_config(config), db=db_url, kubeconfig=kubeconfig, context=context, output=output)
    if ctx.invoked_subcommand is None:  # no command: the dashboard on a terminal, the help otherwise
        if sys.stdin.isatty() and sys.stdout.isatty():
            ctx.invoke(tui.tui, ctx)
        else:
            typer.echo(ctx.get_help())
        raise typer.Exit()


_VALUE_OPTIONS = frozenset({"--db", "--kubeconfig", "--context", "--output", "-o", "--config"})


def _app_for(argv: list[str]) -> typer.Typer:
    """The app with only the command ``argv`` names: Typer builds every command's parameters
    from its signature on each start (about 35 ms for all of them), and a command needs only its
    own. Anything else (no command, ``--help``, a typo) gets the whole app, so help and
    did-you-mean are as always."""
    name = _command_name(argv)
    commands = [c for c in app.registered_commands if c.name == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if name is None or not (commands or groups):
        return app
    one = _typer()
    one.registered_callback = app.registered_callback
    one.registered_commands, one.registered_groups = commands, groups
    return one


def _command_name(argv: list[str]) -> str | None:
    """The first word after the global options, or None (a flag this does not know comes first)."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in _VALUE_OPTIONS:
            i += 2
        elif word.startswith("-") and word.split("=", 1)[0] in _VALUE_OPTIONS and "=" in word:
            i += 1
        elif word.startswith("-"):
            return None
        else:
            return word
    return None


_TYPE_WORDS = {
    "Input should be a valid integer, unable to parse string as an integer": "it must be a whole number",
    "Input should be a valid number, unable to parse string as a number": "it must be a number",
    "Input should be a valid boolean, unable to interpret input": "it must be true or false",
}


def _plain(message: str) -> str:
    """A usage error's message without the validation library's wording."""
    for library, words in _TYPE_WORDS.items():
        message = message.replace(library, words)
    return message


def _usage_where(exc: UsageError, argv: list[str], root: Command) -> str:
    """The command a usage error belongs to. Click reports an option's missing value with no
    context; when that option is not a global one, it is the sub-command's."""
    if exc.ctx is not None:
        return exc.ctx.command_path
    option, name = getattr(exc, "option_name", None), _command_name(argv)
    top = {opt for param in root.params for opt in getattr(param, "opts", [])}
    return f"fleetctl {name}" if option and name and option not in top else "fleetctl"


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code. Every error becomes a code here, and only here.

    Usage errors (Click's) are printed in the one error format, ``error: WHERE: WHAT`` and a
    ``hint:``, and are exit 2; Ctrl-C is 130; the error tree and unexpected errors are mapped below.
    """
    command = typer.main.get_command(_app_for(sys.argv[1:] if argv is None else argv))
    try:
        code = command.main(args=argv, prog_name="fleetctl", standalone_mode=False)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else ExitCode.OK
    except NoArgsIsHelpError as exc:  # a group without its sub-command: its help, as Click prints it
        if exc.ctx is not None:
            typer.echo(exc.ctx.get_help(), err=True)
        return ExitCode.BAD_INPUT
    except UsageError as exc:
        where = _usage_where(exc, sys.argv[1:] if argv is None else argv, command)
        err(f"error: {where}: {_plain(exc.format_message())}\n  hint: see `{where} --help`")
        return ExitCode.BAD_INPUT
    except ClickException as exc:  # a file Click could not open, and the like
        err(f"error: {exc.format_message()}")
        return exc.exit_code
    except typer.Abort:
        err("Interrupted.")
        return ExitCode.INTERRUPTED
    except FleetctlError as exc:
        print_error(exc)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        err("Interrupted.")
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (| head). Point stdout at /dev/null so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except Exception as exc:  # noqa: BLE001 - the last boundary before the user
        print_internal_error(exc, debug=bool(os.environ.get("FLEETCTL_DEBUG")))
        return ExitCode.INTERNAL
    return code if isinstance(code, int) else ExitCode.OK


def main() -> NoReturn:
    """The ``fleetctl`` console script."""
    _exit(run())


def _exit(code: int) -> NoReturn:
    """Exit without tearing the interpreter down module by module, which costs a short command
    about 0.15 s once SQLAlchemy is loaded: flush, run the atexit handlers (logging's among them),
    then ``os._exit``. Only when no other thread is left; otherwise a normal exit joins them."""
    if threading.active_count() > 1:
        sys.exit(code)
    with contextlib.suppress(BrokenPipeError):  # the reader went away (| head): nothing more to say
        sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)
