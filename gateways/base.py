"""The card-not-present interface the app codes against, and the typed results every gateway
returns.

Amounts are plain ``int`` cents (this package never imports ``posplus_tui``, so not ``Money``).
Card numbers never reach this code: a provider's hosted page takes the card; results carry the
brand and the last four digits at most.

Provider-side link states only: "sent" and "refunded" are ledger states the app keeps.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from gateways.errors import GatewayUnknown

__all__ = [
    "ChangePage",
    "EventKind",
    "LinkCreated",
    "LinkEvent",
    "LinkGateway",
    "LinkPayment",
    "LinkState",
    "LinkStatus",
    "RefundResult",
    "RefundState",
]


class LinkState(enum.Enum):
    """Where a link stands at the provider."""

    OPEN = "open"  # can be paid
    PAID = "paid"  # a payment completed through it (it no longer takes payments)
    EXPIRED = "expired"  # its time ran out before anyone paid
    DEACTIVATED = "deactivated"  # switched off (by us or in the provider's dashboard)


class EventKind(enum.Enum):
    LINK_PAID = "link paid"
    PAYMENT_FAILED = "payment failed"  # a declined attempt; the link stays open
    LINK_EXPIRED = "link expired"
    LINK_DEACTIVATED = "link deactivated"
    REFUNDED = "refunded"
    OTHER = "other"  # anything else the provider reports; safe to skip


class RefundState(enum.Enum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LinkCreated:
    """A link the customer can open. ``url`` is what goes in the text, e-mail or QR code."""

    link_id: str
    url: str
    amount_cents: int
    reference: str
    state: LinkState = LinkState.OPEN
    expires_at: datetime | None = None


@dataclass(frozen=True)
class LinkPayment:
    """A completed payment through a link. ``payment_id`` is what ``refund`` takes."""

    payment_id: str
    link_id: str
    amount_cents: int
    brand: str
    last4: str  # never more than the last four digits
    paid_at: datetime  # timezone-aware (UTC)
    reference: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    refunded_cents: int = 0
    session_id: str = ""  # the provider's checkout session, for support look-ups


@dataclass(frozen=True)
class LinkStatus:
    """A direct read of one link: its state and every completed payment made through it.

    More than one payment means the provider let a link be paid twice: the app must refund the
    extra one or hand it to a person."""

    link_id: str
    state: LinkState
    amount_cents: int
    payments: tuple[LinkPayment, ...] = ()
    reference: str = ""
    url: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None

    @property
    def paid_cents(self) -> int:
        return sum(p.amount_cents for p in self.payments)


@dataclass(frozen=True)
class LinkEvent:
    """One change reported by the provider. ``link_id`` is empty when the event names no link
    (``kind`` is then usually OTHER)."""

    event_id: str
    kind: EventKind
    link_id: str
    payment: LinkPayment | None
    created_at: datetime  # timezone-aware (UTC)
    reference: str = ""
    failure_message: str = ""  # for PAYMENT_FAILED: the provider's words (e.g. "card declined")
    refund_id: str = ""
    refund_cents: int = 0  # for REFUNDED: this refund's amount
    refund_state: RefundState | None = None  # for REFUNDED: PENDING is not money returned yet


@dataclass(frozen=True)
class ChangePage:
    """Events after a cursor, oldest first. Store ``cursor`` only after handling ``events``;
    call again at once while ``has_more``. ``cursor`` is the last event returned, or the cursor
    passed in when nothing is new (``None`` only if the provider has no events at all).

    An event may be seen more than once (after a crash before the cursor was stored): handle
    each idempotently, by ``event_id`` or by the state it reports."""

    events: tuple[LinkEvent, ...]
    cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class RefundResult:
    refund_id: str
    payment_id: str
    amount_cents: int
    state: RefundState
    failure_reason: str = ""


class LinkGateway(abc.ABC):
    """One payment-link provider account. Every method is async and safe on the event loop.

    Raises (never returns) :class:`~gateways.errors.GatewayUnknown` when the outcome is not
    known, :class:`~gateways.errors.GatewayRefused` on a clear refusal,
    :class:`~gateways.errors.GatewayAuthError` on a refused key and
    :class:`~gateways.errors.GatewayNotFound` for an unknown id.
    """

    #: Short provider name for screens and logs ("stripe").
    provider: str = ""

    @abc.abstractmethod
    async def create_link(
        self,
        *,
        amount_cents: int,
        reference: str,
        description: str,
        metadata: Mapping[str, str],
        idempotency_key: str,
        expires_at: datetime | None = None,
    ) -> LinkCreated:
        """Create a link for ``amount_cents`` that can be paid once.

        ``reference`` is the app's own unique marker (kept by the provider, found again by
        ``find_by_reference``). ``idempotency_key`` makes a repeat after :class:`GatewayUnknown`
        safe: same key, same arguments → the same link. ``expires_at`` (optional, aware) is when
        the link stops taking payments; see the provider's README for how it is enforced."""

    @abc.abstractmethod
    async def read_link(self, link_id: str) -> LinkStatus:
        """A direct read: the fallback when events are late or the cursor is lost."""

    @abc.abstractmethod
    async def find_by_reference(self, reference: str) -> LinkStatus | None:
        """The link created with ``reference``, or ``None`` if the provider has none: how an
        unknown ``create_link`` is settled."""

    @abc.abstractmethod
    async def changes_since(self, cursor: str | None, limit: int = 100) -> ChangePage:
        """Events after ``cursor`` (``None``: from the oldest the provider still keeps), oldest
        first, at most ``limit``."""

    @abc.abstractmethod
    async def deactivate(self, link_id: str) -> LinkStatus:
        """Stop the link taking payments. Deactivating an inactive link is not an error."""

    async def expire(self, link_id: str) -> LinkStatus:
        """End the link because its time ran out (reported as EXPIRED, not DEACTIVATED).

        Default: the same as ``deactivate`` for providers that do not tell the two apart."""
        return await self.deactivate(link_id)

    @abc.abstractmethod
    async def refund(
        self, payment_id: str, *, amount_cents: int | None, idempotency_key: str
    ) -> RefundResult:
        """Refund ``amount_cents`` of a link payment (``None``: all that is left)."""

    async def read_refund(self, refund_id: str) -> RefundResult:
        """A direct read of one refund: how a PENDING refund is settled later (it may still
        fail, and then no money went back). Default: providers that cannot read one back
        answer unknown, so the app keeps it pending and never reports it as returned."""
        raise GatewayUnknown(f"{self.provider or 'this provider'} cannot read refund {refund_id}")

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release connections."""

    async def __aenter__(self) -> LinkGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
