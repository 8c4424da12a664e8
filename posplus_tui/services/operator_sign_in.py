"""Signing in with a PIN: an unknown name costs and reads like a wrong PIN; five wrong lock."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlmodel import Session, col

from posplus_tui.ledger.tables import Operator
from posplus_tui.services.errors import OperatorLocked, SignInFailed
from posplus_tui.services.operator_accounts import OperatorAccounts
from posplus_tui.services.operator_values import (
    LOCKOUT,
    MAX_PIN_ATTEMPTS,
    NO_MATCH,
    OperatorInfo,
    operator_info,
)
from posplus_tui.services.pins import hash_pin, verify_pin


class OperatorSignIn(OperatorAccounts):
    """PIN checks shared by sign-in and supervisor approval."""

    def _dummy_hash(self) -> str:
        """A hash at this service's cost for unknown names: they take as long as known ones."""
        if self._dummy is None:
            self._dummy = hash_pin(secrets.token_hex(8), cost=self._pin_cost)
        return self._dummy

    def _lock_now(self, session: Session) -> datetime:
        """The time lockouts are counted in: the database server's on PostgreSQL (one clock for
        every station sharing the ledger), this station's on SQLite (one machine, one file)."""
        if session.get_bind().dialect.name == "postgresql":
            db_now = session.execute(select(func.clock_timestamp())).scalar_one()
            return db_now.astimezone(UTC)  # type: ignore[no-any-return]
        return self._now()

    def _check_pin(self, name: str, pin: str, *, purpose: str) -> OperatorInfo:
        """Shared by sign-in and approval. The PIN is checked first (the slow part, outside any
        transaction; an unknown name is checked against a dummy hash so it costs the same), then
        lockout and counting happen in one transaction under a row lock, against one clock: the
        lock is never read in one place and counted in another."""
        with self._ledger.session() as session:
            row = self._by_name(session, name)
            row_id = row.id if row is not None and not row.disabled else None
            pin_hash = row.pin_hash if row is not None and row_id is not None else None
        ok = verify_pin(pin or "", pin_hash or self._dummy_hash()) and pin_hash is not None
        locked: OperatorLocked | None = None
        with self._ledger.session() as session:
            if row_id is None:
                # What was typed may be anything (a PIN or a card number in the wrong box): it
                # never becomes the audit's actor; only that a name was not known. The same
                # statements as a known name's wrong PIN (lock, clock, a row write), so the time
                # taken does not tell whether the name exists.
                self._lock_operators(session, -1)
                self._lock_now(session)
                session.execute(
                    update(Operator).where(col(Operator.id) == -1).values(failed_attempts=0)
                )
                self._audit(session, f"{purpose}_failed", "(unknown name)", reason="unknown name")
            else:
                self._lock_operators(session, row_id)
                now = self._lock_now(session)
                row = session.get(Operator, row_id, populate_existing=True)
                assert row is not None
                if row.locked_until is not None and row.locked_until > now:
                    minutes = max(1, round((row.locked_until - now).total_seconds() / 60))
                    self._audit(session, f"{purpose}_refused", row.name, reason="locked")
                    locked = OperatorLocked(
                        f"{row.name} is locked after {MAX_PIN_ATTEMPTS} wrong PINs.",
                        f"Wait about {minutes} minute{'s' if minutes != 1 else ''}, or ask an "
                        "admin to reset the PIN.",
                        until=row.locked_until,
                    )
                elif ok:
                    row.failed_attempts = 0
                    row.locked_until = None
                    session.add(row)
                    self._audit(session, purpose, row.name)
                    return operator_info(row)
                elif row.failed_attempts + 1 >= MAX_PIN_ATTEMPTS:
                    row.locked_until = now + LOCKOUT
                    row.failed_attempts = 0
                    session.add(row)
                    self._audit(session, "operator_locked", row.name, purpose=purpose)
                    locked = OperatorLocked(
                        f"Wrong PIN. {row.name} is now locked for 5 minutes after "
                        f"{MAX_PIN_ATTEMPTS} wrong PINs.",
                        "Wait 5 minutes, or ask an admin to reset the PIN.",
                        until=row.locked_until,
                    )
                else:
                    row.failed_attempts += 1
                    session.add(row)
                    self._audit(session, f"{purpose}_failed", row.name, reason="wrong PIN")
        if locked is not None:
            raise locked
        # One answer for an unknown name and a wrong PIN: the words never say which it was.
        raise SignInFailed(
            NO_MATCH,
            "Check the spelling of the name and type the PIN again; after "
            f"{MAX_PIN_ATTEMPTS} wrong PINs in a row the operator is locked for 5 minutes.",
            attempts_left=None,  # how many are left would tell that the name exists
        )

    def sign_in_sync(self, name: str, pin: str) -> OperatorInfo:
        return self._check_pin(name, pin, purpose="sign_in")

    async def sign_in(self, name: str, pin: str) -> OperatorInfo:
        """Check a name and PIN; raises :class:`SignInFailed` or :class:`OperatorLocked`."""
        return await asyncio.to_thread(self.sign_in_sync, name, pin)
