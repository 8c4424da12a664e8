"""Operators: who may use the till, signing in with a PIN, and supervisor approvals on the spot.

PINs are kept only as scrypt hashes. Five wrong PINs in a row (at sign-in or when approving) lock
that operator for five minutes. Every sign-in, failure, lockout and approval is an audit event,
written in the same database transaction as the counter it changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from posplus_tui.domain.roles import Action, Role, can_approve, needs_supervisor, role_allows
from posplus_tui.ledger import Ledger
from posplus_tui.ledger import audit as chain
from posplus_tui.ledger.tables import Operator
from posplus_tui.redaction import redact
from posplus_tui.services.errors import (
    InvalidRequest,
    NotPermitted,
    OperatorLocked,
    SignInFailed,
    SupervisorRequired,
    UnknownRecord,
)

__all__ = [
    "LOCKOUT",
    "MAX_PIN_ATTEMPTS",
    "Approval",
    "OperatorInfo",
    "OperatorService",
    "Role",
    "hash_pin",
    "verify_pin",
]

MAX_PIN_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=5)
#: How long a supervisor's on-the-spot approval stays usable.
APPROVAL_TTL = timedelta(minutes=2)
#: scrypt cost (N). 2**14 with r=8 is ~16 MiB and tens of ms per try; tests pass a small value.
DEFAULT_PIN_COST = 2**14
_PIN = re.compile(r"^\d{4,8}$")


def hash_pin(pin: str, *, cost: int = DEFAULT_PIN_COST) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=cost, r=8, p=1, dklen=32)
    return f"scrypt${cost}$8$1${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass(frozen=True)
class OperatorInfo:
    """An operator as the UI sees it (never the PIN hash)."""

    id: int
    name: str
    role: Role
    st_username: str
    disabled: bool
    locked_until: datetime | None = None
    failed_attempts: int = 0

    @property
    def is_supervisor(self) -> bool:
        return can_approve(self.role)


@dataclass(frozen=True)
class Approval:
    """A supervisor's PIN approval for one action, usable once, for a short time."""

    supervisor: OperatorInfo
    action: Action
    granted_at: datetime
    token: str


def _info(row: Operator) -> OperatorInfo:
    assert row.id is not None
    return OperatorInfo(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        st_username=row.st_username,
        disabled=row.disabled,
        locked_until=row.locked_until,
        failed_attempts=row.failed_attempts,
    )


def _check_pin_format(pin: str) -> None:
    if not isinstance(pin, str) or not _PIN.match(pin):
        raise InvalidRequest("A PIN is 4 to 8 digits.", "Choose a PIN of 4 to 8 digits, e.g. 4821.")


def _check_name(name: str) -> str:
    clean = (name or "").strip()
    if not clean or len(clean) > 60:
        raise InvalidRequest(
            "An operator needs a name of 1 to 60 characters.", "Type the person's name, e.g. Ana."
        )
    return clean


def _check_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidRequest(
            f"“{role}” is not a role.",
            "Choose one of: " + ", ".join(r.value for r in Role) + ".",
        ) from None


class OperatorService:
    def __init__(
        self,
        ledger: Ledger,
        *,
        station: str = "",
        pin_cost: int = DEFAULT_PIN_COST,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._ledger = ledger
        self._station = station
        self._pin_cost = pin_cost
        self._clock = clock or (lambda: datetime.now(UTC))
        self._approvals: dict[str, Approval] = {}

    # -- helpers --------------------------------------------------------------------------------

    def _now(self) -> datetime:
        return self._clock()

    def _audit(
        self, session: Session, event: str, actor: str, subject: str = "", **details: object
    ) -> None:
        chain.append(
            session,
            event,
            actor=actor,
            station=self._station,
            subject=subject,
            details=details,
            at=self._now(),
        )

    @staticmethod
    def _row(session: Session, operator_id: int) -> Operator:
        row = session.get(Operator, operator_id)
        if row is None:
            raise UnknownRecord(
                f"There is no operator #{operator_id}.", "Pick an operator from the list."
            )
        return row

    @staticmethod
    def _by_name(session: Session, name: str) -> Operator | None:
        clean = (name or "").strip()
        return session.execute(
            select(Operator).where(func.lower(Operator.name) == clean.lower())
        ).scalar_one_or_none()

    def _require_admin(self, session: Session, by: OperatorInfo | None) -> str:
        """The actor's name for the audit; ``by=None`` is the system (setup, CLI)."""
        if by is None:
            return "system"
        row = self._row(session, by.id)
        if row.disabled or not role_allows(Role(row.role), Action.MANAGE_OPERATORS):
            raise NotPermitted(
                f"{row.name} ({row.role}) cannot manage operators.", "Ask an admin to do this."
            )
        return row.name

    # -- management -----------------------------------------------------------------------------

    def add_sync(
        self,
        name: str,
        role: Role | str,
        pin: str,
        *,
        st_username: str = "",
        by: OperatorInfo | None = None,
    ) -> OperatorInfo:
        name = _check_name(name)
        role = _check_role(role)
        _check_pin_format(pin)
        pin_hash = hash_pin(pin, cost=self._pin_cost)
        try:
            with self._ledger.session() as session:
                actor = self._require_admin(session, by)
                if self._by_name(session, name) is not None:
                    raise InvalidRequest(
                        f"There is already an operator named {name}.",
                        "Use a different name (add an initial, e.g. “Ana R.”).",
                    )
                row = Operator(
                    name=name, role=role.value, st_username=st_username, pin_hash=pin_hash
                )
                session.add(row)
                session.flush()
                self._audit(
                    session, "operator_added", actor, name, role=role.value, st_username=st_username
                )
                return _info(row)
        except IntegrityError:
            raise InvalidRequest(
                f"There is already an operator named {name}.", "Use a different name."
            ) from None

    async def add(
        self,
        name: str,
        role: Role | str,
        pin: str,
        *,
        st_username: str = "",
        by: OperatorInfo | None = None,
    ) -> OperatorInfo:
        return await asyncio.to_thread(
            self.add_sync, name, role, pin, st_username=st_username, by=by
        )

    def update_sync(
        self,
        operator_id: int,
        *,
        name: str | None = None,
        role: Role | str | None = None,
        pin: str | None = None,
        st_username: str | None = None,
        disabled: bool | None = None,
        by: OperatorInfo | None = None,
    ) -> OperatorInfo:
        if pin is not None:
            _check_pin_format(pin)
        new_role = _check_role(role) if role is not None else None
        new_name = _check_name(name) if name is not None else None
        pin_hash = hash_pin(pin, cost=self._pin_cost) if pin is not None else None
        with self._ledger.session() as session:
            actor = self._require_admin(session, by)
            row = self._row(session, operator_id)
            changed: list[str] = []
            if new_name is not None and new_name != row.name:
                other = self._by_name(session, new_name)
                if other is not None and other.id != row.id:
                    raise InvalidRequest(
                        f"There is already an operator named {new_name}.", "Use a different name."
                    )
                row.name = new_name
                changed.append("name")
            if new_role is not None and new_role.value != row.role:
                self._keep_an_admin(session, row, new_role=new_role)
                row.role = new_role.value
                changed.append("role")
            if st_username is not None and st_username != row.st_username:
                row.st_username = st_username  # exactly as typed
                changed.append("st_username")
            if pin_hash is not None:
                row.pin_hash = pin_hash
                row.failed_attempts = 0
                row.locked_until = None
                changed.append("pin")
            if disabled is not None and disabled != row.disabled:
                if disabled:
                    self._keep_an_admin(session, row, disabling=True)
                row.disabled = disabled
                changed.append("disabled" if disabled else "enabled")
            row.updated_at = self._now()
            session.add(row)
            self._audit(session, "operator_updated", actor, row.name, changed=changed)
            return _info(row)

    async def update(self, operator_id: int, **changes: object) -> OperatorInfo:
        """Change name / role / pin / st_username / disabled (keyword ``by`` = the admin)."""
        return await asyncio.to_thread(lambda: self.update_sync(operator_id, **changes))  # type: ignore[arg-type]

    async def disable(self, operator_id: int, *, by: OperatorInfo | None = None) -> OperatorInfo:
        return await asyncio.to_thread(lambda: self.update_sync(operator_id, disabled=True, by=by))

    async def enable(self, operator_id: int, *, by: OperatorInfo | None = None) -> OperatorInfo:
        return await asyncio.to_thread(lambda: self.update_sync(operator_id, disabled=False, by=by))

    def _keep_an_admin(
        self,
        session: Session,
        row: Operator,
        *,
        new_role: Role | None = None,
        disabling: bool = False,
    ) -> None:
        if row.role != Role.ADMIN.value or row.disabled:
            return
        if new_role is not None and new_role is Role.ADMIN and not disabling:
            return
        others = session.execute(
            select(func.count())
            .select_from(Operator)
            .where(col(Operator.role) == Role.ADMIN.value, col(Operator.disabled).is_(False))
            .where(col(Operator.id) != row.id)
        ).scalar_one()
        if others == 0:
            raise InvalidRequest(
                f"{row.name} is the last active admin.",
                "Make someone else an admin first, so the till can still be managed.",
            )

    def list_sync(self, *, include_disabled: bool = True) -> list[OperatorInfo]:
        with self._ledger.session() as session:
            query = select(Operator).order_by(Operator.name)
            if not include_disabled:
                query = query.where(Operator.disabled.is_(False))  # type: ignore[attr-defined]
            return [_info(r) for r in session.execute(query).scalars()]

    async def list(self, *, include_disabled: bool = True) -> list[OperatorInfo]:
        return await asyncio.to_thread(self.list_sync, include_disabled=include_disabled)

    def get_sync(self, operator_id: int) -> OperatorInfo:
        with self._ledger.session() as session:
            return _info(self._row(session, operator_id))

    async def get(self, operator_id: int) -> OperatorInfo:
        return await asyncio.to_thread(self.get_sync, operator_id)

    def count_sync(self) -> int:
        with self._ledger.session() as session:
            return int(session.execute(select(func.count()).select_from(Operator)).scalar_one())

    # -- PIN checks -----------------------------------------------------------------------------

    def _check_pin(self, name: str, pin: str, *, purpose: str) -> OperatorInfo:
        """Shared by sign-in and approval: lockout, counting, auditing. Raises or returns the row."""
        now = self._now()
        unknown = False
        still_locked: OperatorLocked | None = None
        with self._ledger.session() as session:
            row = self._by_name(session, name)
            if row is None or row.disabled:
                # What was typed may be anything (even a card number typed in the wrong box).
                typed = redact(name.strip())[:60]
                self._audit(session, f"{purpose}_failed", typed, reason="unknown name")
                unknown = True  # raised below, once the audit event is committed
            elif row.locked_until is not None and row.locked_until > now:
                minutes = max(1, round((row.locked_until - now).total_seconds() / 60))
                self._audit(session, f"{purpose}_refused", row.name, reason="locked")
                still_locked = OperatorLocked(
                    f"{row.name} is locked after {MAX_PIN_ATTEMPTS} wrong PINs.",
                    f"Wait about {minutes} minute{'s' if minutes != 1 else ''}, or ask an admin to "
                    "reset the PIN.",
                    until=row.locked_until,
                )
            else:
                pin_hash, row_id = row.pin_hash, row.id
                still_locked = None
        if still_locked is not None:
            raise still_locked
        if unknown:
            raise SignInFailed(
                f"No active operator is named “{redact(name.strip())}”.",
                "Check the spelling of the name, or ask an admin to add you.",
            )
        ok = verify_pin(pin or "", pin_hash)  # the slow part, outside any DB transaction
        with self._ledger.session() as session:
            if ok:
                session.execute(
                    update(Operator)
                    .where(col(Operator.id) == row_id)
                    .values(failed_attempts=0, locked_until=None)
                )
                row = self._row(session, row_id)  # type: ignore[arg-type]
                self._audit(session, purpose, row.name)
                return _info(row)
            # Increment in the database, so two stations guessing at once both count.
            session.execute(
                update(Operator)
                .where(col(Operator.id) == row_id)
                .values(failed_attempts=Operator.failed_attempts + 1)
            )
            row = self._row(session, row_id)  # type: ignore[arg-type]
            session.refresh(row)
            if row.failed_attempts >= MAX_PIN_ATTEMPTS:
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
                left = MAX_PIN_ATTEMPTS - row.failed_attempts
                self._audit(session, f"{purpose}_failed", row.name, reason="wrong PIN")
                locked = None
        if locked is not None:
            raise locked
        raise SignInFailed(
            f"Wrong PIN for {row.name}.",
            f"Type the PIN again; {left} attempt{'s' if left != 1 else ''} left before a "
            "5-minute lock.",
            attempts_left=left,
        )

    def sign_in_sync(self, name: str, pin: str) -> OperatorInfo:
        return self._check_pin(name, pin, purpose="sign_in")

    async def sign_in(self, name: str, pin: str) -> OperatorInfo:
        """Check a name and PIN; raises :class:`SignInFailed` or :class:`OperatorLocked`."""
        return await asyncio.to_thread(self.sign_in_sync, name, pin)

    def approve_sync(
        self,
        name: str,
        pin: str,
        *,
        action: Action | str = Action.REFUND,
        requested_by: OperatorInfo | None = None,
    ) -> Approval:
        action = Action(action)
        info = self._check_pin(name, pin, purpose="approval")
        if not info.is_supervisor:
            with self._ledger.session() as session:
                self._audit(
                    session,
                    "approval_refused",
                    info.name,
                    action=action.value,
                    reason=f"role {info.role.value}",
                )
            raise SupervisorRequired(
                f"{info.name} is a {info.role.value} and cannot approve this.",
                "Ask a supervisor or an admin to enter their name and PIN.",
            )
        approval = Approval(info, action, self._now(), secrets.token_hex(16))
        self._approvals = {
            token: a
            for token, a in self._approvals.items()
            if self._now() - a.granted_at <= APPROVAL_TTL
        }
        self._approvals[approval.token] = approval
        with self._ledger.session() as session:
            self._audit(
                session,
                "approval_granted",
                info.name,
                action=action.value,
                requested_by=requested_by.name if requested_by else "",
            )
        return approval

    async def approve_as_supervisor(
        self,
        name: str,
        pin: str,
        *,
        action: Action | str = Action.REFUND,
        requested_by: OperatorInfo | None = None,
    ) -> Approval:
        """A supervisor approves ``action`` on the spot with their own name and PIN."""
        return await asyncio.to_thread(
            lambda: self.approve_sync(name, pin, action=action, requested_by=requested_by)
        )

    # -- enforcement (called by the other services) ---------------------------------------------

    def authorize_sync(
        self, operator: OperatorInfo, action: Action, approval: Approval | None = None
    ) -> OperatorInfo | None:
        """Check ``operator`` may do ``action`` now. Returns the approving supervisor for a
        supervisor action (the operator themselves when they are one), else ``None``.

        The role is read from the ledger, not trusted from the caller. The approval is checked
        here and spent with :meth:`spend` once the request is committed, so a rejected request
        does not use it up.
        """
        with self._ledger.session() as session:
            row = session.get(Operator, operator.id)
            if row is None or row.disabled:
                raise NotPermitted("The signed-in operator is no longer active.", "Sign in again.")
            current = _info(row)
        if role_allows(current.role, action) and (
            not needs_supervisor(action) or current.is_supervisor
        ):
            return current if needs_supervisor(action) else None
        if not needs_supervisor(action):
            raise NotPermitted(
                f"{current.name} ({current.role.value}) cannot do this ({action.value}).",
                "Ask an operator with the right role.",
            )
        if approval is None:
            raise SupervisorRequired(
                f"A {action.value.replace('_', ' ')} needs a supervisor.",
                "Ask a supervisor to approve it with their name and PIN.",
            )
        stored = self._approvals.get(approval.token)
        if stored is None or stored != approval:
            raise SupervisorRequired(
                "That supervisor approval is not valid (already used or not issued here).",
                "Ask the supervisor to approve again.",
            )
        if stored.action is not action:
            raise SupervisorRequired(
                f"The supervisor approved a {stored.action.value.replace('_', ' ')}, not a "
                f"{action.value.replace('_', ' ')}.",
                "Ask the supervisor to approve this action.",
            )
        if self._now() - stored.granted_at > APPROVAL_TTL:
            raise SupervisorRequired(
                "The supervisor approval has expired (it lasts 2 minutes).",
                "Ask the supervisor to approve again.",
            )
        return stored.supervisor

    def spend(self, approval: Approval | None) -> None:
        """Use an approval up (after the approved request was committed)."""
        if approval is not None:
            self._approvals.pop(approval.token, None)
