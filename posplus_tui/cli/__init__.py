"""The ``posplus`` command: one entry point, a subcommand per job.

Subcommand groups live in their own modules (``terminal``, ``sandbox``, ``ledger``, ``reconcile`` …),
each exposing ``register(subparsers)``; the ones present are wired in :data:`COMMAND_MODULES` order.
Every command returns an exit code; expected failures print one line saying what to do, never a
traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
from collections.abc import Sequence

from posplus_tui import __version__
from posplus_tui.cli.common import CliError, PosplusParser, load_settings

#: Modules that add subcommands. A missing module is skipped, so the list can name future groups.
COMMAND_MODULES = (
    "posplus_tui.cli.app_cmds",
    "posplus_tui.cli.config_cmds",
    "posplus_tui.cli.terminal",
    "posplus_tui.cli.sandbox",
    "posplus_tui.cli.links",
    "posplus_tui.cli.ledger",
    "posplus_tui.cli.audit_cmds",
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
        from posplus_tui.ledger.audit import AuditKeyError

        if isinstance(exc, AuditKeyError):  # no key to sign the audit log with: what to do
            print(f"posplus: {exc}", file=sys.stderr)
            return 7
        if _from_the_database(exc):
            return _database_trouble(args, exc)
        return _unexpected(exc)


#: Where the ledger's driver errors come from (a read-only file, a server gone away…).
_DATABASE_MODULES = ("sqlalchemy", "sqlite3", "psycopg")


def _from_the_database(exc: BaseException) -> bool:
    return type(exc).__module__.split(".")[0] in _DATABASE_MODULES


def _database_trouble(args: argparse.Namespace, exc: Exception) -> int:
    """A database failure after the ledger opened (e.g. the first write to a read-only file):
    the ledger's own sentence for it, the driver's words only in the log."""
    import logging

    from posplus_tui.ledger.engine import describe_failure
    from posplus_tui.logs import setup_logging

    with contextlib.suppress(Exception):  # no log folder: still one sentence
        setup_logging()
        logging.getLogger("posplus.cli").error("database error", exc_info=exc)
    try:
        url = str(getattr(args, "database_url", None) or load_settings(args).database_url)
    except Exception:
        url = "the configured database"
    print(f"posplus: {describe_failure(url, exc)}", file=sys.stderr)
    return 3


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
