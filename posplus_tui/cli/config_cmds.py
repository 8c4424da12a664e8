"""``posplus config path`` and ``posplus config show``."""

from __future__ import annotations

import argparse

from posplus_tui.cli.common import CliError, config_file, load_settings
from posplus_tui.redaction import redact
from posplus_tui.secrets import NoKeyringAvailable, SecretStore, SecretStoreError


def register(sub: argparse._SubParsersAction) -> None:
    cfg = sub.add_parser("config", help="show where the settings live and what they are")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION")
    path = cfg_sub.add_parser("path", help="print the settings file's path")
    path.set_defaults(func=_path)
    show = cfg_sub.add_parser("show", help="print the settings (secrets shown as ••••)")
    show.set_defaults(func=_show)
    cfg.set_defaults(func=lambda args: cfg.print_help() or 0)


def _path(args: argparse.Namespace) -> int:
    file = config_file(args)
    print(file)
    return 0


def shown(value: object) -> str:
    """A setting as it may be printed: passwords (a database URL's too) masked, and control
    characters written as escapes (a station name cannot drive the terminal)."""
    text = redact(str(value))
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def _show(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    file = config_file(args)
    print(f"# {file}{'' if file.exists() else ' (not created yet: defaults shown)'}")
    for key, value in settings.to_dict().items():
        print(f"{key} = {shown(value) if value else '(not set)'}")
    store = SecretStore(tenant=settings.tenant_id or "default")
    try:
        for name, state in store.status().items():
            print(f"{name} = {state}")
    except NoKeyringAvailable as exc:
        print("# secrets: unavailable")
        raise CliError(str(exc), exit_code=3) from exc
    except SecretStoreError as exc:
        raise CliError(str(exc), exit_code=3) from exc
    return 0
