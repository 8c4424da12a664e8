"""Backups of a SQLite ledger, taken with SQLite's online backup API.

The online backup copies a consistent snapshot page by page while the app keeps running (a plain
file copy of a WAL database can catch it half-written). Copies go to a ``backups`` folder beside the
ledger, named by time and reason; the newest :data:`KEEP` of each reason are kept. A copy is taken
before every migration and once a day at start-up. A restore checks the file first (SQLite's
integrity check, the ledger's tables, the schema revision) and keeps the ledger it replaces.

PostgreSQL sites back up with the server's own tools (``pg_dump``): see the README.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, inspect

#: How many copies of each reason are kept.
KEEP = 10
#: A daily copy is taken when the newest one is older than this.
DAILY = timedelta(hours=24)
#: Tables without which a file is not a ledger.
REQUIRED_TABLES = ("transactions", "operators", "alembic_version")
_NAME = re.compile(r"^ledger-(\d{8}T\d{6}\d{6}Z)-([a-z-]+)\.sqlite3$")


class BackupError(Exception):
    """A backup or restore could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupFile:
    path: Path
    taken_at: datetime
    reason: str

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def backup_dir(ledger_file: Path) -> Path:
    return ledger_file.parent / "backups"


def has_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(inspect(conn).get_table_names())


def _ledger_file(engine: Engine) -> Path:
    if engine.dialect.name != "sqlite" or not engine.url.database:
        raise BackupError(
            "Only a SQLite ledger is backed up by posplus; back up PostgreSQL with pg_dump."
        )
    return Path(engine.url.database).expanduser()


def _copy(source: Path, target: Path) -> None:
    """SQLite's online backup from ``source`` to a new file ``target`` (mode 0600)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    tmp.touch(mode=0o600)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            dst.close()
    finally:
        src.close()
    tmp.replace(target)


def backup_file(
    ledger_file: Path, *, reason: str = "manual", folder: Path | None = None, keep: int = KEEP
) -> BackupFile:
    """Copy the ledger at ``ledger_file`` into ``folder`` (default: ``backups`` beside it)."""
    if not ledger_file.is_file():
        raise BackupError(f"There is no ledger at {ledger_file} to back up.")
    now = datetime.now(UTC)
    target_dir = folder or backup_dir(ledger_file)
    target = target_dir / f"ledger-{now:%Y%m%dT%H%M%S%f}Z-{reason}.sqlite3"
    try:
        _copy(ledger_file, target)
    except (OSError, sqlite3.Error) as exc:
        raise BackupError(f"Could not back up the ledger to {target_dir}: {exc}.") from exc
    prune(target_dir, reason=reason, keep=keep)
    return BackupFile(target, now, reason)


def backup_sqlite(engine: Engine, *, reason: str = "manual", keep: int = KEEP) -> BackupFile:
    return backup_file(_ledger_file(engine), reason=reason, keep=keep)


def list_backups(folder: Path) -> list[BackupFile]:
    """The copies in ``folder``, newest first."""
    found: list[BackupFile] = []
    if not folder.is_dir():
        return found
    for path in folder.iterdir():
        match = _NAME.match(path.name)
        if match:
            taken = datetime.strptime(match.group(1), "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
            found.append(BackupFile(path, taken, match.group(2)))
    return sorted(found, key=lambda b: b.taken_at, reverse=True)


def prune(folder: Path, *, reason: str, keep: int = KEEP) -> list[Path]:
    """Delete all but the newest ``keep`` copies of ``reason``; returns what was deleted."""
    old = [b for b in list_backups(folder) if b.reason == reason][max(keep, 1) :]
    for b in old:
        b.path.unlink(missing_ok=True)
    return [b.path for b in old]


def daily_backup(ledger_file: Path, *, now: datetime | None = None) -> BackupFile | None:
    """Take the day's copy unless one younger than a day exists (or there is no ledger yet)."""
    if not ledger_file.is_file():
        return None
    now = now or datetime.now(UTC)
    newest = next(iter(list_backups(backup_dir(ledger_file))), None)
    if newest is not None and now - newest.taken_at < DAILY:
        return None
    return backup_file(ledger_file, reason="daily")


def check_file(path: Path) -> str:
    """Check that ``path`` is a sound ledger; returns its schema revision or raises."""
    if not path.is_file():
        raise BackupError(f"There is no file at {path}.")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupError(f"{path} cannot be opened as SQLite: {exc}.") from exc
    try:
        try:
            result = conn.execute("PRAGMA integrity_check").fetchone()
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a ledger (SQLite says: {exc}).") from exc
        if not result or result[0] != "ok":
            raise BackupError(
                f"{path} is damaged (integrity check: {result[0] if result else '?'})."
            )
        missing = [t for t in REQUIRED_TABLES if t not in tables]
        if missing:
            raise BackupError(f"{path} is not a posplus ledger (no {', '.join(missing)} table).")
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        conn.close()
    if not row:
        raise BackupError(f"{path} has no schema revision: it is not a finished ledger.")
    return str(row[0])


def restore(backup: Path, ledger_file: Path) -> Path | None:
    """Replace the ledger with a checked copy of ``backup``.

    The ledger being replaced (if any) is first backed up with reason ``before-restore``; its
    WAL and shared-memory files are removed so SQLite cannot replay them over the restored file.
    Returns the safety copy's path. The app must not be running on this ledger.
    """
    check_file(backup)
    safety: Path | None = None
    if ledger_file.is_file():
        safety = backup_file(ledger_file, reason="before-restore").path
    tmp = ledger_file.with_suffix(".restoring")
    _copy(backup, tmp)
    check_file(tmp)
    for suffix in ("-wal", "-shm"):
        Path(f"{ledger_file}{suffix}").unlink(missing_ok=True)
    tmp.replace(ledger_file)
    ledger_file.chmod(0o600)
    return safety
