"""Stripe events → :class:`~gateways.base.LinkEvent`: which event types mean what for a link.

A paid session's card details and a failed or refunded payment's link take one more read each;
the gateway supplies those reads (:class:`Lookups`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from gateways.base import EventKind, LinkEvent, LinkPayment
from gateways.errors import GatewayUnknown
from gateways.stripe import mapping as m

__all__ = ["EVENT_TYPES", "Lookups", "translate"]

#: The event types the gateway asks for (``types[]`` filter on ``GET /v1/events``).
EVENT_TYPES = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "payment_intent.payment_failed",
    "payment_link.updated",
    "refund.created",
)


class Lookups(Protocol):
    """The reads an event may need (the gateway provides them)."""

    async def _payment_of(self, session: Mapping[str, Any], link_id: str) -> LinkPayment: ...

    async def _link_of_intent(self, pi_id: str) -> str: ...


async def translate(raw: Mapping[str, Any], reads: Lookups) -> LinkEvent:
    try:
        event = m.obj(raw, "event")
        kind_name = m.as_str(event, "type")
        created = m.when(event)
        data = event.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("object"), Mapping):
            raise m.Unreadable("event without data.object")
        o = data["object"]
        previous = data.get("previous_attributes")
    except m.Unreadable as exc:
        raise GatewayUnknown(f"A Stripe event could not be read: {exc}.") from exc
    evt_id = str(event["id"])
    other = LinkEvent(evt_id, EventKind.OTHER, "", None, created)
    meta = o.get("metadata") if isinstance(o.get("metadata"), Mapping) else {}
    ref = str(meta.get(m.REF_KEY, "")) if isinstance(meta, Mapping) else ""
    if kind_name in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        link_id = str(o.get("payment_link") or "")
        if not link_id or o.get("payment_status") != "paid":
            return LinkEvent(evt_id, EventKind.OTHER, link_id, None, created, reference=ref)
        payment = await reads._payment_of(o, link_id)
        return LinkEvent(
            evt_id, EventKind.LINK_PAID, link_id, payment, created, reference=payment.reference
        )
    if kind_name == "checkout.session.async_payment_failed":
        return LinkEvent(
            evt_id, EventKind.PAYMENT_FAILED, str(o.get("payment_link") or ""), None, created,
            reference=ref, failure_message="The payment failed after checkout.",
        )  # fmt: skip
    if kind_name == "payment_intent.payment_failed":
        error = o.get("last_payment_error")
        message = str(error.get("message") or "") if isinstance(error, Mapping) else ""
        link_id = await reads._link_of_intent(str(o.get("id")))
        return LinkEvent(
            evt_id, EventKind.PAYMENT_FAILED, link_id, None, created,
            reference=ref, failure_message=message or "The card was declined.",
        )  # fmt: skip
    if kind_name == "payment_link.updated":
        if not (isinstance(previous, Mapping) and "active" in previous) or o.get("active"):
            return LinkEvent(
                evt_id, EventKind.OTHER, str(o.get("id")), None, created, reference=ref
            )
        try:
            kind = m.ended_kind(o)
        except m.Unreadable as exc:
            raise GatewayUnknown(f"A Stripe event could not be read: {exc}.") from exc
        return LinkEvent(evt_id, kind, str(o.get("id")), None, created, reference=ref)
    if kind_name == "refund.created":
        pi_id = str(o.get("payment_intent") or "")
        link_id = await reads._link_of_intent(pi_id) if pi_id else ""
        amount = o.get("amount")
        return LinkEvent(
            evt_id, EventKind.REFUNDED, link_id, None, created, reference=ref,
            refund_id=str(o.get("id")),
            refund_cents=amount if isinstance(amount, int) else 0,
            refund_state=m.refund_state(o),
        )  # fmt: skip
    return other
