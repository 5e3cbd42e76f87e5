"""Entry point of the ``kequn`` command.

Each command group lives in its own module with a ``register(app)`` function, so capabilities add
commands without touching this file's logic. Heavy libraries are imported inside commands, keeping
``kequn --help`` fast.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from kequn import __version__
from kequn.cli.console import Console
from kequn.errors import KequnError

app = typer.Typer(
    name="kequn",
    help="Kequn (客群): digital customer operations for a regional bank.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: command modules, each exposing ``register(app)``; order = order in ``--help``
COMMAND_MODULES: tuple[str, ...] = (
    "kequn.cli.cmd_init",
    "kequn.cli.cmd_synth",
    "kequn.cli.cmd_load",
    "kequn.cli.cmd_dq",
    "kequn.cli.cmd_tags",
    "kequn.cli.cmd_segments",
    "kequn.cli.cmd_models",
    "kequn.cli.cmd_route",
    "kequn.cli.cmd_rewards",
    "kequn.cli.cmd_campaigns",
    "kequn.cli.cmd_serve",
    "kequn.cli.cmd_demo",
)


def _version(value: bool) -> None:
    if value:
        print(f"kequn {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    json_: Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = Console(json_mode=json_, debug=debug)


from kequn.cli.console import console  # noqa: E402, F401  (re-exported: commands call kequn.cli.main.console)


def _register_all() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every ``KequnError`` becomes one line on stderr and its exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    json_mode = "--json" in args
    try:
        rc = app(args=args, standalone_mode=False)  # returns typer.Exit's code instead of raising it
    except KequnError as exc:
        if debug:
            raise
        Console(json_mode=json_mode).error(f"error: {exc.message}")
        if json_mode:
            from kequn.cli.console import to_json

            print(to_json(exc.to_dict()))
        elif exc.details:
            for d in exc.details[:50]:
                Console().error("  - " + ", ".join(f"{k}={v}" for k, v in d.items()))
            if len(exc.details) > 50:
                Console().error(f"  … and {len(exc.details) - 50} more")
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        Console().error("aborted")
        return 1
    except Exception as exc:  # click usage errors and anything unexpected
        if hasattr(exc, "show") and isinstance(getattr(exc, "exit_code", None), int):  # click usage errors
            exc.show()
            return int(exc.exit_code)
        if debug:
            raise
        Console().error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return 70
    return rc if isinstance(rc, int) else 0
