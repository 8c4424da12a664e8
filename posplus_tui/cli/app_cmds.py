"""``posplus demo`` and ``posplus run``: the full-screen app."""

from __future__ import annotations

import argparse

from posplus_tui.cli.common import CliError, load_settings
from posplus_tui.logs import setup_logging


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo", help="run the whole app locally: SQLite, ServiceTitan sandbox, terminal simulator"
    )
    demo.set_defaults(func=_demo)
    run = sub.add_parser("run", help="run the app against the configured ServiceTitan and terminal")
    run.set_defaults(func=_run)


def _demo(args: argparse.Namespace) -> int:
    from posplus_tui.ui.app import PosPlusApp

    setup_logging()
    PosPlusApp(station="Counter 1", environment="demo").run()
    return 0


def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    missing = settings.missing_for_run()
    if missing:
        raise CliError(
            "the configuration is incomplete (missing: "
            + ", ".join(missing)
            + "). Run 'posplus demo' to try the app, or fill in the settings file shown by "
            "'posplus config path'.",
            exit_code=2,
        )
    from posplus_tui.ui.app import PosPlusApp

    setup_logging()
    PosPlusApp(station=settings.station_name, environment=settings.environment).run()
    return 0
