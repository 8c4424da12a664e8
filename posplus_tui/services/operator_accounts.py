"""Managing operators: add, update, disable, list; only an admin does it; one admin always stays."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from posplus_tui.domain.roles import Action, Role, role_allows
from posplus_tui.ledger import Ledger
from posplus_tui.ledger import audit as chain
from posplus_tui.ledger.tables import Operator
from posplus_tui.services.errors import InvalidRequest, NotPermitted, UnknownRecord
from posplus_tui.services.operator_values import (
    Approval,
    OperatorInfo,
    OperatorRef,
    check_name,
    check_not_card_like,
    check_role,
    operator_id_of,
    operator_info,
)
from posplus_tui.services.pins import DEFAULT_PIN_COST, check_pin_format, hash_pin
from posplus_tui.services.threads import off_loop


class OperatorAccounts:
    """The operator list in the ledger, changed only by an admin and always audited."""

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
        self._claimed: set[str] = set()
        self._claim_lock = threading.Lock()

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
        row = session.get(Operator, operator_id_of(by))
        if row is None or row.disabled or not role_allows(Role(row.role), Action.MANAGE_OPERATORS):
            who = f"{row.name} ({row.role})" if row is not None else "This operator"
            raise NotPermitted(f"{who} cannot manage operators.", "Ask an admin to do this.")
        return row.name

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
        name = check_name(name)
        role = check_role(role)
        check_pin_format(pin)
        check_not_card_like(name, st_username)
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
                return operator_info(row)
        except IntegrityError:
            raise InvalidRequest(
                f"There is already an operator named {name}.", "Use a different name."
            ) from None

    add = off_loop(add_sync)

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
            check_pin_format(pin)
        new_role = check_role(role) if role is not None else None
        new_name = check_name(name) if name is not None else None
        check_not_card_like(new_name or "", st_username or "")
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
            return operator_info(row)

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
            return [operator_info(r) for r in session.execute(query).scalars()]

    async def list(self, *, include_disabled: bool = True) -> list[OperatorInfo]:
        return await asyncio.to_thread(self.list_sync, include_disabled=include_disabled)

    def get_sync(self, operator_id: int) -> OperatorInfo:
        with self._ledger.session() as session:
            return operator_info(self._row(session, operator_id))

    async def get(self, operator_id: int) -> OperatorInfo:
        return await asyncio.to_thread(self.get_sync, operator_id)

    def count_sync(self) -> int:
        with self._ledger.session() as session:
            return int(session.execute(select(func.count()).select_from(Operator)).scalar_one())
