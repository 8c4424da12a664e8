"""Who an operator is and what a supervisor approved, and the checks on what an admin types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from posplus_tui.domain.roles import Action, Role, can_approve
from posplus_tui.ledger.tables import Operator
from posplus_tui.redaction import card_data_in
from posplus_tui.services.errors import InvalidRequest, NotPermitted

MAX_PIN_ATTEMPTS = 5
LOCKOUT = timedelta(minutes=5)
#: How long a supervisor's on-the-spot approval stays usable.
APPROVAL_TTL = timedelta(minutes=2)


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


def operator_info(row: Operator) -> OperatorInfo:
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
NO_MATCH = "That name and PIN do not match an active operator."


def operator_id_of(ref: object) -> int:
    """The operator id of ``ref`` (an :class:`OperatorInfo` or an int); anything else is refused,
    so a duck-typed object with ``is_supervisor=True`` and no real id gets nowhere."""
    if isinstance(ref, OperatorInfo):
        return ref.id
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    raise NotPermitted("Nobody is signed in.", "Sign in with your name and PIN first.")


def amount_cents(amount: object) -> int | None:
    if amount is None:
        return None
    cents = getattr(amount, "cents", amount)
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise InvalidRequest("The amount must be Money.", "Enter the amount, e.g. 125.00.")
    return cents


def check_name(name: str) -> str:
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


def check_not_card_like(*texts: str) -> None:
    for value in texts:
        found = card_data_in(value or "")
        if found:
            raise InvalidRequest(
                f"That looks like {found}: card data is never stored.",
                "Type the person's name and username only.",
            )


def check_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise InvalidRequest(
            f"“{role}” is not a role.",
            "Choose one of: " + ", ".join(r.value for r in Role) + ".",
        ) from None
