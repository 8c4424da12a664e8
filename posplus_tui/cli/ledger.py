"""Support commands for the ledger: ``posplus db upgrade``, ``posplus txn list|show``,
``posplus recover`` (``posplus audit …`` is in :mod:`posplus_tui.cli.audit_cmds`).

The database URL comes from the settings (``database_url``); ``--database-url`` overrides it.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from posplus_tui.cli.common import CliError, load_settings
from posplus_tui.domain.transactions import TxnState

if TYPE_CHECKING:
    from posplus_tui.ledger import Ledger


def _add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="ledger database (sqlite:///PATH or postgresql://USER@HOST/DB); default: the settings",
    )


def register(sub: argparse._SubParsersAction) -> None:
    db = sub.add_parser("db", help="the ledger database: apply schema migrations")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="bring the ledger's schema to the newest version")
    _add_db_option(up)
    up.set_defaults(func=_db_upgrade)
    bk = db_sub.add_parser(
        "backup", help="copy a SQLite ledger now, with SQLite's online backup (safe while running)"
    )
    bk.add_argument("--to", metavar="DIR", help="folder for the copy (default: backups/ beside it)")
    bk.add_argument(
        "--keep", type=_positive, default=10, metavar="N", help="keep the newest N (default 10)"
    )
    _add_db_option(bk)
    bk.set_defaults(func=_db_backup)
    bks = db_sub.add_parser("backups", help="list the copies kept beside a SQLite ledger")
    _add_db_option(bks)
    bks.set_defaults(func=_db_backups)
    rs = db_sub.add_parser(
        "restore", help="replace a SQLite ledger by a checked copy (stop the app first)"
    )
    rs.add_argument("file", metavar="FILE", help="the backup to restore")
    _add_db_option(rs)
    rs.set_defaults(func=_db_restore)
    db.set_defaults(func=lambda args: db.print_help() or 0)

    txn = sub.add_parser("txn", help="look at recorded transactions")
    txn_sub = txn.add_subparsers(dest="txn_command", metavar="ACTION")
    lst = txn_sub.add_parser("list", help="list transactions, newest first")
    lst.add_argument(
        "--state", choices=[s.value for s in TxnState], help="only transactions in this state"
    )
    lst.add_argument("--since", metavar="DATE", help="only from this day on (YYYY-MM-DD)")
    lst.add_argument("--limit", type=_positive, default=200, help="at most this many (default 200)")
    _add_db_option(lst)
    lst.set_defaults(func=_txn_list)
    show = txn_sub.add_parser("show", help="everything about one transaction")
    show.add_argument("ref", metavar="REF", help="the ECR reference, e.g. P261125K3J9X0AQ2")
    _add_db_option(show)
    show.set_defaults(func=_txn_show)
    txn.set_defaults(func=lambda args: txn.print_help() or 0)

    rec = sub.add_parser(
        "recover",
        help="settle interrupted payments by asking the terminal (never resends)",
    )
    rec.add_argument("--terminal-url", metavar="URL", help="default: the settings' terminal_url")
    rec.add_argument("--station", help="default: the settings' station_name")
    _add_db_option(rec)
    rec.set_defaults(func=_recover)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _url(args: argparse.Namespace) -> str:
    if getattr(args, "database_url", None):
        return str(args.database_url)
    return load_settings(args).database_url


def _open(args: argparse.Namespace, *, must_exist: bool = True) -> Ledger:
    """The ledger a command works on; one that does not exist is an error, never created."""
    from posplus_tui.ledger import LedgerError, open_ledger

    try:
        return open_ledger(_url(args), must_exist=must_exist)
    except LedgerError as exc:
        raise CliError(str(exc), exit_code=3) from exc


def _sign(args: argparse.Namespace, ledger: Ledger) -> None:
    """A command that writes audit events signs them with this station's audit key."""
    from posplus_tui.secrets import SecretStore
    from posplus_tui.services.audit import sign_the_chain

    settings = load_settings(args)
    sign_the_chain(ledger.engine, SecretStore(tenant=settings.tenant_id or "default"))


def _db_upgrade(args: argparse.Namespace) -> int:
    from posplus_tui.ledger import LedgerError
    from posplus_tui.ledger.engine import (
        backup_before_migration,
        current_revision,
        describe_failure,
        make_engine,
        upgrade,
    )

    url = _url(args)
    try:
        engine = make_engine(url)
    except LedgerError as exc:
        raise CliError(str(exc), exit_code=3) from exc
    try:
        backup_before_migration(engine)
        applied = upgrade(engine)
        head = current_revision(engine)
    except Exception as exc:
        raise CliError("Could not upgrade: " + describe_failure(url, exc), exit_code=3) from exc
    finally:
        engine.dispose()
    if applied:
        print(f"applied {len(applied)} migration(s): {', '.join(applied)}; now at {head}")
    else:
        print(f"already up to date at {head}")
    return 0


def _since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"--since {text!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-25.", 2
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _txn_list(args: argparse.Namespace) -> int:
    from posplus_tui.services.txn_store import TxnStore

    since = _since(args.since)
    ledger = _open(args)
    try:
        views = TxnStore(ledger, station="").list(
            state=TxnState(args.state) if args.state else None, since=since, limit=args.limit
        )
    finally:
        ledger.dispose()
    if not views:
        print("no transactions match.")
        return 0
    print(
        f"{'REF':16}  {'WHEN (UTC)':16}  {'KIND':8} {'STATE':18} {'AMOUNT':>12} {'APPROVED':>12}  INVOICE  CARD"
    )
    for v in views:
        card = f"{v.brand} {v.last4}".strip()
        print(
            f"{v.ecr_ref:16}  {v.created_at:%Y-%m-%d %H:%M}  {v.kind.value:8} {v.state.value:18} "
            f"{v.amount.format():>12} {v.approved.format():>12}  {v.invoice_number or '—'}  {card}"
        )
    return 0


def _txn_show(args: argparse.Namespace) -> int:
    from posplus_tui.services.errors import ServiceError
    from posplus_tui.services.txn_store import TxnStore

    ledger = _open(args)
    try:
        store = TxnStore(ledger, station="")
        try:
            v = store.get(args.ref)
        except ServiceError as exc:
            raise CliError(str(exc), exit_code=4) from exc
        children = store.children(v.ecr_ref) if v.kind.is_charge else []
        refundable = store.refundable(v.ecr_ref) if v.kind.is_charge else None
    finally:
        ledger.dispose()
    fields = [
        ("reference", v.ecr_ref),
        ("kind", v.kind.value),
        ("tender", v.tender.value),
        ("state", v.state.value),
        ("amount asked", v.amount.format()),
        ("amount approved", v.approved.format()),
        ("invoice", f"{v.invoice_number} (id {v.invoice_id})" if v.invoice_id else "—"),
        ("job", v.job_number or "—"),
        ("customer id", v.customer_id or "—"),
        ("station", v.station),
        ("operator id", v.operator_id),
        ("supervisor id", v.supervisor_id or "—"),
        ("card", f"{v.brand} •••• {v.last4}" if v.last4 else "—"),
        ("entry", v.entry_method or "—"),
        ("auth code", v.auth_code or "—"),
        ("host ref", v.host_ref or "—"),
        ("terminal ref", v.terminal_ref or "—"),
        ("batch", f"{v.batch_number or '—'}{' (closed)' if v.batch_closed else ''}"),
        ("message", v.message or "—"),
        ("created", f"{v.created_at:%Y-%m-%d %H:%M:%S} UTC"),
        ("settled", f"{v.settled_at:%Y-%m-%d %H:%M:%S} UTC" if v.settled_at else "—"),
    ]
    if refundable is not None:
        fields.append(("left to refund", refundable.format()))
    for name, value in fields:
        print(f"{name:>16}: {value}")
    for child in children:
        print(
            f"{'linked':>16}: {child.kind.value} {child.ecr_ref} {child.state.value} "
            f"{child.approved.format() if child.is_approved else child.amount.format()}"
        )
    return 0


def _recover(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    terminal_url = args.terminal_url or settings.terminal_url
    if not terminal_url:
        raise CliError(
            "No terminal is configured: recovery must ask the terminal. "
            "Set terminal_url in Setup or pass --terminal-url.",
            exit_code=2,
        )
    station = args.station or settings.station_name
    return asyncio.run(_recover_async(args, terminal_url, station))


async def _recover_async(args: argparse.Namespace, terminal_url: str, station: str) -> int:
    import drivers
    from posplus_tui.services.operators import OperatorService
    from posplus_tui.services.payments import PaymentService

    try:
        terminal = drivers.open_terminal(terminal_url)
    except ValueError as exc:
        raise CliError(str(exc), exit_code=2) from exc
    ledger = _open(args)
    try:
        _sign(args, ledger)
        service = PaymentService(
            ledger, terminal, OperatorService(ledger, station=station), station=station
        )
        outcomes = await service.recover()
    finally:
        await terminal.close()
        ledger.dispose()
    if not outcomes:
        print(f"nothing to recover for station {station!r}: every request is settled.")
        return 0
    still = 0
    for o in outcomes:
        print(f"{o.ecr_ref}: {o.before.value} -> {o.after.value}: {o.message}")
        still += o.after in (TxnState.UNKNOWN, TxnState.AT_TERMINAL)
    print(
        f"settled {len(outcomes) - still} of {len(outcomes)}"
        + (f"; {still} still unknown: run again" if still else "")
    )
    return 5 if still else 0


def _sqlite_file(args: argparse.Namespace) -> Path:
    from posplus_tui.ledger import LedgerError
    from posplus_tui.ledger.engine import sqlite_path

    try:
        path = sqlite_path(_url(args))
    except LedgerError as exc:
        raise CliError(str(exc), exit_code=3) from exc
    if path is None:
        raise CliError(
            "This ledger is on PostgreSQL: back it up with the server's tools "
            "(pg_dump -Fc, restore with pg_restore); see the README, 'Backups'.",
            exit_code=2,
        )
    return path


def _db_backup(args: argparse.Namespace) -> int:
    from posplus_tui.ledger.backup import BackupError, backup_file

    path = _sqlite_file(args)
    try:
        made = backup_file(
            path, reason="manual", folder=Path(args.to) if args.to else None, keep=args.keep
        )
    except BackupError as exc:
        raise CliError(str(exc), exit_code=3) from exc
    print(f"backed up {path} to {made.path} ({made.size:,} bytes)")
    return 0


def _db_backups(args: argparse.Namespace) -> int:
    from posplus_tui.ledger.backup import backup_dir, list_backups

    path = _sqlite_file(args)
    found = list_backups(backup_dir(path))
    if not found:
        print(f"no backups in {backup_dir(path)}")
        return 0
    for b in found:
        print(f"{b.taken_at:%Y-%m-%d %H:%M:%S} UTC  {b.reason:16} {b.size:>12,}  {b.path}")
    return 0


def _db_restore(args: argparse.Namespace) -> int:
    from posplus_tui.ledger.backup import BackupError, restore

    path = _sqlite_file(args)
    try:
        safety = restore(Path(args.file), path)
    except BackupError as exc:
        raise CliError(f"Nothing was restored: {exc}", exit_code=3) from exc
    print(f"restored {args.file} to {path}")
    if safety is not None:
        print(f"the ledger it replaced is kept at {safety}")
    return 0
