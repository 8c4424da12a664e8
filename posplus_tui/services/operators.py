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

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from posplus_tui.domain.roles import Action, Role, can_approve, needs_supervisor, role_allows
from posplus_tui.ledger import Ledger
from posplus_tui.ledger import audit as chain
from posplus_tui.ledger.tables import Operator
from posplus_tui.redaction import card_data_in
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
    """A supervisor's PIN approval for exactly one request: this action, on this target (a
    transaction reference, an outbox id, an invoice id; empty for a batch close), for this
    amount in cents (``None`` where no amount applies), asked by this operator at this station.
    Usable once, for :data:`APPROVAL_TTL`, and only while the supervisor stays active."""

    supervisor: OperatorInfo
    action: Action
    granted_at: datetime
    token: str
    target: str = ""
    amount_cents: int | None = None
    requested_by: int | None = None
    station: str = ""


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


#: Who may be named as ``by``/``operator``: a signed-in operator, or just their id. The role is
#: always read from the ledger, never from the object the caller passes.
OperatorRef = OperatorInfo | int

#: Sign-in's answer for an unknown name and for a wrong PIN alike, so that the words do not tell
#: whether a name exists.
_NO_MATCH = "That name and PIN do not match an active operator."


def _operator_id(ref: object) -> int:
    """The operator id of ``ref`` (an :class:`OperatorInfo` or an int); anything else is refused,
    so a duck-typed object with ``is_supervisor=True`` and no real id gets nowhere."""
    if isinstance(ref, OperatorInfo):
        return ref.id
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    raise NotPermitted("Nobody is signed in.", "Sign in with your name and PIN first.")


def _amount_cents(amount: object) -> int | None:
    if amount is None:
        return None
    cents = getattr(amount, "cents", amount)
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise InvalidRequest("The amount must be Money.", "Enter the amount, e.g. 125.00.")
    return cents


def _check_pin_format(pin: str) -> None:
    if not isinstance(pin, str) or not _PIN.match(pin):
        raise InvalidRequest("A PIN is 4 to 8 digits.", "Choose a PIN of 4 to 8 digits, e.g. 4821.")


def _check_name(name: str) -> str:
    clean = (name or "").strip()
    if not clean.isprintable():
        raise InvalidRequest(
            "A name cannot hold control characters.", "Type the person's name, e.g. Ana."
        )
    if not clean or len(clean) > 60:
        raise InvalidRequest(
            "An operator needs a name of 1 to 60 characters.", "Type the person's name, e.g. Ana."
        )
    return clean


def _check_not_card_like(*texts: str) -> None:
    for value in texts:
        found = card_data_in(value or "")
        if found:
            raise InvalidRequest(
                f"That looks like {found}: card data is never stored.",
                "Type the person's name and username only.",
            )


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
        self._dummy: str | None = None

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

    def _require_admin(self, session: Session, by: object, *, first_admin: bool = False) -> str:
        """The acting admin's name for the audit, read from the ledger. Nobody (``by=None``) may
        act only to create the first admin of a ledger that has no operators at all."""
        if by is None:
            count = session.execute(select(func.count()).select_from(Operator)).scalar_one()
            if first_admin and count == 0:
                return "first admin (empty ledger)"
            raise NotPermitted(
                "Nobody is signed in: only an admin can manage operators.",
                "Sign in as an admin first.",
            )
        row = session.get(Operator, _operator_id(by))
        if row is None or row.disabled or not role_allows(Role(row.role), Action.MANAGE_OPERATORS):
            who = f"{row.name} ({row.role})" if row is not None else "This operator"
            raise NotPermitted(f"{who} cannot manage operators.", "Ask an admin to do this.")
        return row.name

    # -- management -----------------------------------------------------------------------------

    def add_sync(
        self,
        name: str,
        role: Role | str,
        pin: str,
        *,
        st_username: str = "",
        by: OperatorRef | None = None,
    ) -> OperatorInfo:
        """Add an operator; ``by`` is the admin doing it. Without ``by`` only the first admin of
        an empty ledger can be added."""
        name = _check_name(name)
        role = _check_role(role)
        _check_pin_format(pin)
        _check_not_card_like(name, st_username)
        pin_hash = hash_pin(pin, cost=self._pin_cost)
        try:
            with self._ledger.session() as session:
                if by is None:
                    self._lock_operators(session)  # two first admins at once: one wins
                actor = self._require_admin(session, by, first_admin=role is Role.ADMIN)
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
        by: OperatorRef | None = None,
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
        by: OperatorRef | None = None,
    ) -> OperatorInfo:
        if pin is not None:
            _check_pin_format(pin)
        new_role = _check_role(role) if role is not None else None
        new_name = _check_name(name) if name is not None else None
        _check_not_card_like(new_name or "", st_username or "")
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

    async def disable(self, operator_id: int, *, by: OperatorRef | None = None) -> OperatorInfo:
        return await asyncio.to_thread(lambda: self.update_sync(operator_id, disabled=True, by=by))

    async def enable(self, operator_id: int, *, by: OperatorRef | None = None) -> OperatorInfo:
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

    @staticmethod
    def _lock_operators(session: Session, operator_id: int | None = None) -> None:
        """Take the write lock first, so what is read next cannot change until commit: a row lock
        on PostgreSQL (the whole table for ``None``), the database write lock on SQLite."""
        if session.get_bind().dialect.name == "postgresql":
            if operator_id is None:
                session.execute(text("LOCK TABLE operators IN SHARE ROW EXCLUSIVE MODE"))
            else:
                session.execute(
                    select(col(Operator.id))
                    .where(col(Operator.id) == operator_id)
                    .with_for_update()
                )
            return
        # SQLite: any write statement takes the RESERVED lock, even one that changes no row.
        session.execute(update(Operator).where(col(Operator.id) == -1).values(failed_attempts=0))

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
                # never becomes the audit's actor; only that a name was not known.
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
                    return _info(row)
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
            _NO_MATCH,
            "Check the spelling of the name and type the PIN again; after "
            f"{MAX_PIN_ATTEMPTS} wrong PINs in a row the operator is locked for 5 minutes.",
            attempts_left=None,  # how many are left would tell that the name exists
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
        action: Action | str,
        requested_by: OperatorRef,
        target: str = "",
        amount: object = None,
    ) -> Approval:
        """A supervisor approves one request on the spot with their own name and PIN: ``action``
        on ``target`` for ``amount`` (Money, or ``None`` where no amount applies), asked by
        ``requested_by`` at this station. Never their own request."""
        action = Action(action)
        cents = _amount_cents(amount)
        requester = self.get_sync(_operator_id(requested_by))
        info = self._check_pin(name, pin, purpose="approval")
        refusal = ""
        if not info.is_supervisor:
            refusal = f"role {info.role.value}"
            error = SupervisorRequired(
                f"{info.name} is a {info.role.value} and cannot approve this.",
                "Ask a supervisor or an admin to enter their name and PIN.",
            )
        elif info.id == requester.id:
            refusal = "own request"
            error = SupervisorRequired(
                f"{info.name} cannot approve their own request.",
                "Ask another supervisor or an admin to enter their name and PIN.",
            )
        if refusal:
            with self._ledger.session() as session:
                self._audit(
                    session,
                    "approval_refused",
                    info.name,
                    action=action.value,
                    requested_by=requester.name,
                    reason=refusal,
                )
            raise error
        approval = Approval(
            info,
            action,
            self._now(),
            secrets.token_hex(16),
            target=str(target),
            amount_cents=cents,
            requested_by=requester.id,
            station=self._station,
        )
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
                subject=str(target),
                action=action.value,
                amount_cents=cents,
                requested_by=requester.name,
                requested_by_id=requester.id,
                approved_by_id=info.id,
            )
        return approval

    async def approve_as_supervisor(
        self,
        name: str,
        pin: str,
        *,
        action: Action | str,
        requested_by: OperatorRef,
        target: str = "",
        amount: object = None,
    ) -> Approval:
        """A supervisor approves one request (see :meth:`approve_sync`)."""
        return await asyncio.to_thread(
            lambda: self.approve_sync(
                name, pin, action=action, requested_by=requested_by, target=target, amount=amount
            )
        )

    # -- enforcement (called by the other services) ---------------------------------------------

    def authorize_sync(
        self,
        operator: OperatorRef,
        action: Action,
        approval: Approval | None = None,
        *,
        target: str = "",
        amount: object = None,
    ) -> OperatorInfo | None:
        """Check ``operator`` may do ``action`` on ``target`` for ``amount`` now. Returns the
        approving supervisor for a supervisor action (the operator themselves when they are
        one), else ``None``.

        Roles are read from the ledger, not trusted from the caller, for the operator and for
        the approving supervisor (disabled or locked since: the approval is void). The approval
        is checked here and spent with :meth:`spend` once the request is committed, so a rejected
        request does not use it up.
        """
        operator_id = _operator_id(operator)
        with self._ledger.session() as session:
            row = session.get(Operator, operator_id)
            if row is None or row.disabled:
                raise NotPermitted("The signed-in operator is no longer active.", "Sign in again.")
            current = _info(row)
        if role_allows(current.role, action) and (
            not needs_supervisor(action) or current.is_supervisor
        ):
            return current if needs_supervisor(action) else None
        if not needs_supervisor(action) or (
            not role_allows(current.role, Action.CHARGE) and action is not Action.BATCH_CLOSE
        ):
            # A technician holding an approval still cannot move money (closing the terminal's
            # batch, at the terminal they look after, is the one supervisor action they ask for).
            raise NotPermitted(
                f"{current.name} ({current.role.value}) cannot do this ({action.value}).",
                "Ask an operator with the right role.",
            )
        if approval is None:
            raise SupervisorRequired(
                f"A {action.value.replace('_', ' ')} needs a supervisor.",
                "Ask a supervisor to approve it with their name and PIN.",
            )
        stored = self._approvals.get(getattr(approval, "token", ""))
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
        if (
            stored.target != str(target)
            or stored.amount_cents != _amount_cents(amount)
            or stored.requested_by != current.id
            or stored.station != self._station
        ):
            raise SupervisorRequired(
                "The supervisor approved a different request (another transaction, amount, "
                "operator or station).",
                "Ask the supervisor to approve this one.",
            )
        if self._now() - stored.granted_at > APPROVAL_TTL:
            raise SupervisorRequired(
                "The supervisor approval has expired (it lasts 2 minutes).",
                "Ask the supervisor to approve again.",
            )
        with self._ledger.session() as session:
            sup = session.get(Operator, stored.supervisor.id)
            now = self._lock_now(session)
            if (
                sup is None
                or sup.disabled
                or not can_approve(Role(sup.role))
                or (sup.locked_until is not None and sup.locked_until > now)
                or sup.id == current.id
            ):
                self._approvals.pop(stored.token, None)
                raise SupervisorRequired(
                    "The supervisor who approved this is no longer allowed to approve.",
                    "Ask another supervisor to approve it.",
                )
            return _info(sup)

    def spend(self, approval: Approval | None) -> None:
        """Use an approval up (after the approved request was committed)."""
        if approval is not None:
            self._approvals.pop(approval.token, None)
