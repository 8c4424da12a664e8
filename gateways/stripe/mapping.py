"""Stripe's JSON objects → the gateway's typed results. Pure functions, no I/O.

Every reader here is strict: a field missing or of the wrong type raises :class:`Unreadable`,
which the gateway turns into ``GatewayUnknown`` (a reply that cannot be read completely is never
taken for success).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gateways.base import EventKind, LinkPayment, LinkState, RefundState

__all__ = [
    "ENDED_KEY",
    "EXPIRES_KEY",
    "REF_KEY",
    "Unreadable",
    "as_int",
    "as_str",
    "expires_at_of",
    "link_amount",
    "link_state",
    "obj",
    "payment_from",
    "refund_state",
    "when",
]

#: Our markers in a link's metadata (and its payments').
REF_KEY = "posplus_ref"
EXPIRES_KEY = "posplus_expires_at"  # unix seconds; Stripe's links have no expiry of their own
ENDED_KEY = "posplus_ended"  # "expired" when we switched it off because its time ran out
EXPIRED = "expired"

Json = Mapping[str, Any]


class Unreadable(ValueError):
    """A reply that is not the object we asked for, or lacks a field we rely on."""


def obj(value: Any, kind: str) -> Json:
    """``value`` as a Stripe object of ``object == kind``, or :class:`Unreadable`."""
    if not isinstance(value, Mapping) or value.get("object") != kind:
        got = value.get("object") if isinstance(value, Mapping) else type(value).__name__
        raise Unreadable(f"expected a {kind}, got {got!r}")
    if not isinstance(value.get("id"), str) or not value["id"]:
        raise Unreadable(f"a {kind} without an id")
    return value


def as_str(o: Json, key: str, *, optional: bool = False) -> str:
    value = o.get(key)
    if value is None and optional:
        return ""
    if not isinstance(value, str):
        raise Unreadable(f"{o.get('object')}.{key} is {value!r}, not text")
    return value


def as_int(o: Json, key: str) -> int:
    value = o.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Unreadable(f"{o.get('object')}.{key} is {value!r}, not a whole number")
    return value


def when(o: Json, key: str = "created") -> datetime:
    return datetime.fromtimestamp(as_int(o, key), tz=UTC)


def metadata(o: Json) -> dict[str, str]:
    raw = o.get("metadata")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise Unreadable(f"{o.get('object')}.metadata is not a hash")
    return {str(k): str(v) for k, v in raw.items()}


def expires_at_of(link: Json) -> datetime | None:
    raw = metadata(link).get(EXPIRES_KEY)
    if raw is None:
        return None
    if not raw.isdigit():
        raise Unreadable(f"payment_link.metadata.{EXPIRES_KEY} is {raw!r}")
    return datetime.fromtimestamp(int(raw), tz=UTC)


def link_amount(link: Json) -> int:
    """The link's total from its expanded ``line_items``."""
    items = link.get("line_items")
    if not isinstance(items, Mapping) or not isinstance(items.get("data"), list):
        raise Unreadable("payment_link.line_items was not expanded")
    if items.get("has_more"):
        raise Unreadable("payment_link has more line items than one page")
    return sum(as_int(i, "amount_total") for i in items["data"])


def link_state(link: Json, payments: tuple[LinkPayment, ...]) -> LinkState:
    """A payment wins over everything (money was taken); then inactive → expired or deactivated
    (by our marker); else open. Time-based expiry is applied by the gateway, not here."""
    if payments:
        return LinkState.PAID
    active = link.get("active")
    if not isinstance(active, bool):
        raise Unreadable("payment_link.active is not true/false")
    if not active:
        return (
            LinkState.EXPIRED if metadata(link).get(ENDED_KEY) == EXPIRED else LinkState.DEACTIVATED
        )
    return LinkState.OPEN


def ended_kind(link: Json) -> EventKind:
    return (
        EventKind.LINK_EXPIRED
        if metadata(link).get(ENDED_KEY) == EXPIRED
        else EventKind.LINK_DEACTIVATED
    )


def payment_from(session: Json, intent: Json, link_id: str) -> LinkPayment:
    """A completed, paid Checkout Session and its PaymentIntent (``latest_charge`` expanded)."""
    obj(session, "checkout.session")
    obj(intent, "payment_intent")
    charge = obj(intent.get("latest_charge"), "charge")
    details = charge.get("payment_method_details")
    card = details.get("card") if isinstance(details, Mapping) else None
    brand, last4 = "", ""
    if isinstance(card, Mapping):
        brand = as_str(card, "brand", optional=True)
        last4 = as_str(card, "last4", optional=True)[-4:]
    amount = as_int(charge, "amount_captured") or as_int(intent, "amount_received")
    meta = metadata(intent) or metadata(session)
    return LinkPayment(
        payment_id=as_str(intent, "id"),
        link_id=link_id,
        amount_cents=amount,
        brand=brand,
        last4=last4,
        paid_at=when(charge),
        reference=meta.get(REF_KEY, ""),
        metadata=meta,
        refunded_cents=as_int(charge, "amount_refunded"),
        session_id=as_str(session, "id"),
    )


def refund_state(refund: Json) -> RefundState:
    status = refund.get("status")
    return {
        "succeeded": RefundState.SUCCEEDED,
        "pending": RefundState.PENDING,
        "requires_action": RefundState.PENDING,
        "failed": RefundState.FAILED,
        "canceled": RefundState.FAILED,
    }.get(status if isinstance(status, str) else "", RefundState.UNKNOWN)
