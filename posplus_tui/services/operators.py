"""Operators: who may use the till, signing in with a PIN, and supervisor approvals on the spot.

PINs are kept only as scrypt hashes. Five wrong PINs in a row (at sign-in or when approving) lock
that operator for five minutes. Every sign-in, failure, lockout and approval is an audit event,
written in the same database transaction as the counter it changes.
"""

from __future__ import annotations

import secrets

from posplus_tui.domain.roles import Action, Role, can_approve, needs_supervisor, role_allows
from posplus_tui.ledger.tables import Operator
from posplus_tui.services.errors import NotPermitted, SupervisorRequired
from posplus_tui.services.operator_sign_in import OperatorSignIn
from posplus_tui.services.operator_values import (
    APPROVAL_TTL,
    LOCKOUT,
    MAX_PIN_ATTEMPTS,
    Approval,
    OperatorInfo,
    OperatorRef,
    amount_cents,
    operator_id_of,
    operator_info,
)
from posplus_tui.services.pins import hash_pin, verify_pin
from posplus_tui.services.threads import off_loop

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


class OperatorService(OperatorSignIn):
    """Operators, their sign-in, and supervisor approvals given on the spot."""

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
        cents = amount_cents(amount)
        requester = self.get_sync(operator_id_of(requested_by))
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

    #: A supervisor approves one request (see :meth:`approve_sync`), off the event loop.
    approve_as_supervisor = off_loop(approve_sync)

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
        operator_id = operator_id_of(operator)
        with self._ledger.session() as session:
            row = session.get(Operator, operator_id)
            if row is None or row.disabled:
                raise NotPermitted("The signed-in operator is no longer active.", "Sign in again.")
            current = operator_info(row)
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
            or stored.amount_cents != amount_cents(amount)
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
            approver = operator_info(sup)
        with self._claim_lock:
            # Single use, even for two requests at once: the first to get here holds it.
            if stored.token in self._claimed:
                raise SupervisorRequired(
                    "That supervisor approval is already being used for another request.",
                    "Ask the supervisor to approve again.",
                )
            self._claimed.add(stored.token)
        return approver

    def spend(self, approval: Approval | None) -> None:
        """Use an approval up (after the approved request was committed)."""
        if approval is not None:
            self._approvals.pop(approval.token, None)
            with self._claim_lock:
                self._claimed.discard(approval.token)
