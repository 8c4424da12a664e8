"""The ``posplus`` command: one entry point, a subcommand per job.

Subcommand groups live in their own modules (``terminal``, ``sandbox``, ``ledger``, ``reconcile`` …),
each exposing ``register(subparsers)``; the ones present are wired in :data:`COMMAND_MODULES` order.
Every command returns an exit code; expected failures print one line saying what to do, never a
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from posplus_tui import __version__
from posplus_tui.cli.common import CliError, PosplusParser

#: Modules that add subcommands. A missing module is skipped, so the list can name future groups.
COMMAND_MODULES = (
    "posplus_tui.cli.app_cmds",
    "posplus_tui.cli.config_cmds",
    "posplus_tui.cli.terminal",
    "posplus_tui.cli.sandbox",
    "posplus_tui.cli.links",
    "posplus_tui.cli.ledger",
    "posplus_tui.cli.reconcile",
    "posplus_tui.cli.operators",
)


def build_parser() -> argparse.ArgumentParser:
    parser = PosplusParser(
        prog="posplus",
        description="posplus: card payments against ServiceTitan invoices, at the counter.",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="settings file to use instead of the default one"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=PosplusParser)
    version = sub.add_parser("version", help="print the version and exit")
    version.set_defaults(func=lambda args: print(f"posplus {__version__}") or 0)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except CliError as exc:
        print(f"posplus: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("posplus: interrupted.", file=sys.stderr)
        return 130
    except Exception as exc:  # the last wall: a sentence on screen, the traceback in the log
        return _unexpected(exc)


def _unexpected(exc: Exception) -> int:
    """Log the traceback (redacted, no local variables) and print one line that says where."""
    import logging

    from posplus_tui.logs import setup_logging
    from posplus_tui.redaction import redact

    where = "the log"
    try:
        where = str(setup_logging())
        logging.getLogger("posplus.cli").error("unexpected error", exc_info=exc)
    except Exception:  # no log folder either: still one line, never a traceback
        pass
    first = redact(str(exc).splitlines()[0]) if str(exc) else ""
    print(
        f"posplus: something unexpected went wrong ({type(exc).__name__}"
        f"{': ' + first if first else ''}). Nothing was changed by this error; "
        f"the details are in {where}.",
        file=sys.stderr,
    )
    return 1
