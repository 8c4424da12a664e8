"""Opening the ledger: one SQLAlchemy engine, migrated to head, for SQLite or PostgreSQL.

SQLite gets WAL (readers never block the writer), foreign keys on, a busy timeout (several
processes, e.g. the app and ``posplus recover``, may share the file) and full fsync on commit, since
a committed intent or approval must survive a power cut. PostgreSQL uses psycopg 3.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
BUSY_TIMEOUT_MS = 10_000
#: Any constant: the key of the PostgreSQL advisory lock taken while migrating.
_MIGRATION_LOCK = 7_305_501


class LedgerError(Exception):
    """The ledger cannot be opened or migrated; the message says which URL and what to do."""


_EXAMPLES = "sqlite:////var/lib/posplus/ledger.sqlite3 or postgresql://USER@HOST:5432/DB"


def normalize_url(url: str) -> str:
    """``postgresql://`` → ``postgresql+psycopg://`` (psycopg 3 is the driver we ship).

    Anything that would open a different ledger than the one meant is refused with a sentence:
    an unparsable URL, a port that is not a number, an unknown dialect, and a SQLite URL without a
    file (``sqlite://``, ``sqlite:///`` and ``:memory:`` give an empty ledger per connection, so
    nothing would be kept).
    """
    url = url.strip()
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        parsed = make_url(url)
        _ = parsed.port  # parsed lazily by some versions: a bad port must fail here
    except (ArgumentError, ValueError):
        raise LedgerError(
            f"The database URL {_shown(url)!r} cannot be read (is the port a number, the [IPv6] "
            f"address closed?). Use {_EXAMPLES}."
        ) from None
    if not (url.startswith("sqlite") or url.startswith("postgresql+psycopg://")):
        raise LedgerError(
            f"Unsupported database URL {_shown(url)!r}: use sqlite:///PATH or "
            "postgresql://USER@HOST/DB."
        )
    if parsed.get_backend_name() == "sqlite" and (
        not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:")
    ):
        raise LedgerError(
            f"The database URL {_shown(url)!r} names no file: an in-memory ledger would keep "
            f"nothing. Use sqlite:///PATH (e.g. sqlite:////var/lib/posplus/ledger.sqlite3)."
        )
    return url


def _shown(url: str) -> str:
    """The URL as it may be printed: password hidden, even when the URL does not parse."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite ledger URL, ``None`` for another database."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return None
    return Path(parsed.database).expanduser()


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option(
            "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return cfg


def script_heads() -> tuple[str, ...]:
    from alembic.script import ScriptDirectory

    return tuple(ScriptDirectory.from_config(alembic_config()).get_heads())


_REV = re.compile(r"^revision(?:\s*:\s*[\w\[\], |]+)?\s*=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN = re.compile(r"^down_revision(?:\s*:\s*[\w\[\], |]+)?\s*=\s*(.+)$", re.M)


def _quick_head() -> str | None:
    """The single head read straight from the revision files, without importing Alembic (which
    costs seconds at every start). ``None`` when anything is unusual: then Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for file in (MIGRATIONS / "versions").glob("*.py"):
        body = file.read_text(encoding="utf-8")
        rev, down = _REV.search(body), _DOWN.search(body)
        if file.name == "__init__.py":
            continue
        if rev is None or down is None:
            return None
        revisions.add(rev.group(1))
        value = down.group(1).strip()
        if value == "None":
            continue
        found = re.fullmatch(r"['\"]([^'\"]+)['\"]", value)
        if found is None:
            return None  # a merge (tuple) or something clever: let Alembic work it out
        parents.add(found.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _is_current(engine: Engine) -> bool:
    head = _quick_head()
    if head is None:
        return False
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return versions == [head]


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def make_engine(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for ``url``. With ``must_exist`` a SQLite file that is not there is an error
    instead of a new, empty ledger (a read-only command must not invent one from a typo)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        file = Path(str(parsed.database)).expanduser()
        if must_exist and not file.is_file():
            raise LedgerError(
                f"There is no ledger at {file}: check the path (nothing was created)."
            )
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LedgerError(
                f"Cannot create the ledger's folder {file.parent}: {exc.strerror}. "
                "Choose a folder this user can write to."
            ) from None
        if not file.exists() and not os.access(file.parent, os.W_OK):
            raise LedgerError(
                f"Cannot create the ledger in {file.parent}: the folder is not writable by this "
                "user. Choose another folder or fix its permissions."
            )
        if parsed.database and parsed.database != ":memory:" and not file.exists():
            # The ledger is 0600 from its first byte (SQLite gives its -wal and -shm files the
            # same mode): it holds who took which payment.
            os.close(os.open(file, os.O_WRONLY | os.O_CREAT, 0o600))
        if parsed.database and parsed.database != ":memory:":
            with contextlib.suppress(OSError):  # not ours to change: opening will say so
                os.chmod(file, 0o600)
        engine = create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def upgrade(engine: Engine) -> list[str]:
    """Run every migration not yet applied; returns the revisions applied (empty when current)."""
    if _is_current(engine):
        return []
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two stations starting at once must not both create the tables.
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        before = MigrationContext.configure(conn).get_current_heads()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        after = MigrationContext.configure(conn).get_current_heads()
    if set(before) == set(after):
        return []
    script = ScriptDirectory.from_config(cfg)
    applied = [
        rev.revision
        for rev in script.iterate_revisions(
            after[0] if after else "head", before[0] if before else None
        )
    ]
    return list(reversed(applied))


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    return heads[0] if heads else None


@dataclass
class Ledger:
    """The open ledger: an engine migrated to head. Services open sessions with :meth:`session`."""

    engine: Engine
    url: str

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose changes are committed on success and rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()

    def display_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)


def open_ledger(url: str, *, migrate: bool = True, must_exist: bool = False) -> Ledger:
    """Open the ledger at ``url`` and bring its schema to the newest revision.

    ``must_exist`` is for commands that only read: a SQLite path that does not exist is an
    error, never a new empty ledger. Every failure is a :class:`LedgerError` with a sentence.
    """
    engine = make_engine(url, must_exist=must_exist)
    try:
        if migrate:
            backup_before_migration(engine)
            upgrade(engine)
    except Exception as exc:
        engine.dispose()
        raise LedgerError(describe_failure(url, exc)) from exc
    return Ledger(engine=engine, url=normalize_url(url))


def backup_before_migration(engine: Engine) -> None:
    """Copy a SQLite ledger that is about to be migrated (kept beside it, see :mod:`backup`)."""
    if engine.dialect.name != "sqlite" or _is_current(engine):
        return
    from posplus_tui.ledger.backup import backup_sqlite, has_tables

    if has_tables(engine):
        backup_sqlite(engine, reason="before-migration")


def is_read_only(exc: BaseException) -> bool:
    """Whether a database error says the ledger cannot be written (a read-only file, folder,
    mount or PostgreSQL transaction), as opposed to a ledger that is not there or not answering."""
    low = str(exc).lower()
    return any(
        words in low
        for words in (
            "readonly",
            "read-only",
            "permission denied",
            "read only",
            "attempt to write a readonly database",
        )
    )


def describe_failure(url: str, exc: BaseException) -> str:
    """One sentence for a ledger that would not open, by what actually went wrong."""
    shown = _shown(normalize_url(url))
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    low = detail.lower()
    if "file is not a database" in low or "malformed" in low:
        return (
            f"The ledger file at {shown} is damaged or is not a ledger. Nothing was changed: "
            "restore the last good copy with 'posplus db restore FILE' (backups are listed by "
            "'posplus db backups')."
        )
    if is_read_only(exc):
        return (
            f"The ledger at {shown} is read-only for this user: it can be read but nothing can "
            "be recorded, so nothing was changed. Make the file (and its folder) writable by "
            "the user who runs posplus, or run posplus as that user, then try again."
        )
    if "unable to open database file" in low:
        return (
            f"Cannot open the ledger file at {shown}: check the path and its folder's permissions."
        )
    return (
        f"Cannot open the ledger at {shown}: {type(exc).__name__}: {detail}. "
        "Check the database URL and that the database server is running."
    )
