"""``posplus demo`` and ``posplus run``: the full-screen app over services built here once."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from posplus_tui.cli.common import CliError, config_file, load_settings
from posplus_tui.config import Settings
from posplus_tui.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo", help="run the whole app locally: SQLite, ServiceTitan sandbox, terminal simulator"
    )
    demo.add_argument(
        "--data-dir",
        metavar="DIR",
        help=(
            "keep the demo ledger in DIR (default: a fresh temporary folder, deleted on exit). "
            "Only the ledger is kept: the ServiceTitan sandbox and the terminal simulator start "
            "fresh each time, so invoices show their seeded balances again and payments left "
            "unfinished cannot be looked up on the simulator"
        ),
    )
    demo.add_argument(
        "--card-wait-ms",
        type=int,
        default=1500,
        metavar="MS",
        help="how long the simulated customer takes to present a card (default 1500)",
    )
    demo.add_argument(
        "--terminal",
        choices=("poslink", "spin"),
        default="poslink",
        help="the simulated terminal: poslink (PAX, in-process) or spin (Dejavoo SPIn over HTTP "
        "on 127.0.0.1)",
    )
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run the app against the configured ServiceTitan and terminal")
    run.set_defaults(func=_run)


def freeze_heap() -> None:
    """Move everything built so far (services, the demo's in-process sandbox, imported modules)
    out of the garbage collector's sight: it lives as long as the app, and a full collection
    scanning it all would pause the first frame and typing by tens of milliseconds."""
    import gc

    gc.collect()
    gc.freeze()


def run_app(app: Any, **options: Any) -> int:
    """Run the app; its exit code is the app's: an unexpected error that stopped it is never 0."""
    app.run(**options)
    code = app.return_code
    return int(code) if code else 0


def _demo(args: argparse.Namespace) -> int:
    from posplus_tui.services.wiring import build_demo
    from posplus_tui.ui.app import PosPlusApp

    setup_logging()
    if args.card_wait_ms < 0:
        raise CliError("--card-wait-ms must be 0 or more (milliseconds).", exit_code=2)
    with tempfile.TemporaryDirectory(prefix="posplus-demo-") as tmp:
        folder = Path(args.data_dir) if args.data_dir else Path(tmp)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / ".posplus-write-test"
            probe.touch()
            probe.unlink()
        except OSError as exc:
            raise CliError(
                f"--data-dir {folder}: cannot keep the demo there ({exc.strerror}). "
                "Choose a folder this user can write to.",
                exit_code=2,
            ) from None
        services = build_demo(folder, card_wait_ms=args.card_wait_ms, terminal=args.terminal)
        freeze_heap()
        return run_app(PosPlusApp(services))


def settings_for_run(args: argparse.Namespace) -> tuple[Settings, dict[str, str]]:
    """The settings, and any value that must be fixed in Setup.

    In a terminal a bad value (a mistyped terminal address, say) opens Setup at that field, so
    the app can always be reached to fix it; without a terminal, or when the ledger's own address
    is wrong (the operators who may open Setup live in the ledger), it is one line and exit 2.
    """
    try:
        return load_settings(args), {}
    except CliError:
        if not sys.stdout.isatty():
            raise
        from posplus_tui import config

        try:
            settings, problems = config.load_for_setup(config_file(args))
        except config.ConfigError as exc:
            raise CliError(str(exc), exit_code=2) from exc
        if not problems or "database_url" in problems:
            raise
        return settings, problems


def _run(args: argparse.Namespace) -> int:
    settings, problems = settings_for_run(args)
    missing = settings.missing_for_run()
    if missing and not sys.stdout.isatty():
        # No screen to show Setup on: say what is missing in one line instead.
        raise CliError(
            "the configuration is incomplete (missing: "
            + ", ".join(missing)
            + "). Run 'posplus run' in a terminal to open Setup, 'posplus demo' to try the app, "
            "or fill in the settings file shown by 'posplus config path'.",
            exit_code=2,
        )
    from posplus_tui.services.wiring import build_run
    from posplus_tui.ui.app import PosPlusApp

    setup_logging()
    _daily_backup(settings.database_url)
    services = build_run(settings, config_path=config_file(args), problems=problems)
    freeze_heap()
    return run_app(PosPlusApp(services))


def _daily_backup(database_url: str) -> None:
    """The day's copy of a SQLite ledger; a failure is logged, never a reason not to start."""
    import logging

    from posplus_tui.ledger import LedgerError
    from posplus_tui.ledger.backup import BackupError, daily_backup
    from posplus_tui.ledger.engine import sqlite_path

    try:
        path = sqlite_path(database_url)
        made = daily_backup(path) if path is not None else None
    except (LedgerError, BackupError, OSError) as exc:
        logging.getLogger("posplus.backup").warning("daily ledger backup failed: %s", exc)
        return
    if made is not None:
        logging.getLogger("posplus.backup").info("daily ledger backup: %s", made.path)
