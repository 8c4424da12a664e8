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
    "posplus_tui.cli.ledger",
    "posplus_tui.cli.reconcile",
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
