"""The Stripe provider against the sandbox over real loopback HTTP, through the official SDK."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gateways import (
    EventKind,
    GatewayAuthError,
    GatewayNotFound,
    GatewayRefused,
    GatewayUnknown,
    LinkState,
    RefundState,
)
from gateways.stripe import StripeGateway
from gateways.stripe.sandbox import Fault

from .conftest import Served

META = {"invoice_id": "48213", "invoice_number": "INV-1001"}


async def _create(gw: StripeGateway, ref: str = "PP-L-1", cents: int = 12_345, **kw: object):
    return await gw.create_link(
        amount_cents=cents,
        reference=ref,
        description="Invoice INV-1001",
        metadata=META,
        idempotency_key=f"key-{ref}",
        **kw,  # type: ignore[arg-type]
    )


async def test_create_read_pay_and_the_stripe_objects_behind_it(gateway, served: Served):
    created = await _create(gateway)
    assert created.link_id.startswith("plink_")
    assert created.url.startswith(served.url + "/b/test_")
    assert (created.amount_cents, created.state) == (12_345, LinkState.OPEN)

    # what Stripe holds: a per-link Price in cents, limited to one completed session, our marks
    (link,) = served.app.store.all_objects("payment_link")
    assert link["restrictions"] == {"completed_sessions": {"count": 0, "limit": 1}}
    assert link["metadata"] == {**META, "posplus_ref": "PP-L-1"}
    assert link["payment_intent_data"]["metadata"]["posplus_ref"] == "PP-L-1"
    (price,) = served.app.store.all_objects("price")
    assert (price["unit_amount"], price["currency"]) == (12_345, "usd")

    status = await gateway.read_link(created.link_id)
    assert (status.state, status.amount_cents, status.payments) == (LinkState.OPEN, 12_345, ())
    assert status.reference == "PP-L-1" and status.metadata["invoice_number"] == "INV-1001"

    assert served.pay(created.link_id, decline=True)["approved"] is False
    assert (await gateway.read_link(created.link_id)).state is LinkState.OPEN
    assert served.pay(created.link_id)["approved"] is True
    paid = await gateway.read_link(created.link_id)
    assert paid.state is LinkState.PAID
    (payment,) = paid.payments
    assert (payment.amount_cents, payment.brand, payment.last4) == (12_345, "visa", "4242")
    assert payment.reference == "PP-L-1" and payment.paid_at.tzinfo is not None
    assert payment.payment_id.startswith("pi_")
    # one completed session only: the page refuses a second payment
    assert served.pay(created.link_id)["approved"] is False
    assert len((await gateway.read_link(created.link_id)).payments) == 1


async def test_idempotent_create_replays_the_same_link_and_refuses_other_arguments(
    gateway, served: Served
):
    first = await _create(gateway)
    again = await _create(gateway)
    assert again == first
    assert len(served.app.store.all_objects("payment_link")) == 1
    with pytest.raises(GatewayRefused) as refused:
        await gateway.create_link(
            amount_cents=999, reference="PP-L-1", description="Invoice INV-1001",
            metadata=META, idempotency_key="key-PP-L-1",
        )  # fmt: skip
    assert refused.value.code == "idempotency_error"
    assert len(served.app.store.all_objects("payment_link")) == 1


async def test_events_are_paged_oldest_first_with_a_cursor(gateway, served: Served):
    links = [await _create(gateway, ref=f"PP-L-{i}", cents=1000 + i) for i in range(5)]
    for link in links:
        served.pay(link.link_id, decline=True)
        served.pay(link.link_id)
    seen, cursor, calls = [], None, 0
    while True:
        page = await gateway.changes_since(cursor, limit=3)
        calls += 1
        seen.extend(page.events)
        cursor = page.cursor
        if not page.has_more:
            break
    assert calls == 4  # 10 events, 3 a page
    kinds = [(e.kind, e.link_id) for e in seen]
    expected = []
    for link in links:
        expected += [(EventKind.PAYMENT_FAILED, link.link_id), (EventKind.LINK_PAID, link.link_id)]
    assert kinds == expected
    assert [e.payment.amount_cents for e in seen if e.payment] == [1000, 1001, 1002, 1003, 1004]
    assert seen[0].failure_message == "Your card was declined."
    # nothing new: same cursor back, no events
    idle = await gateway.changes_since(cursor)
    assert (idle.events, idle.cursor, idle.has_more) == ((), cursor, False)
    # then one more change arrives after the cursor
    await gateway.deactivate(links[0].link_id)
    extra = await _create(gateway, ref="PP-L-9")
    await gateway.deactivate(extra.link_id)
    page = await gateway.changes_since(cursor)
    assert [(e.kind, e.link_id) for e in page.events] == [
        (EventKind.LINK_DEACTIVATED, links[0].link_id),  # switched off after it was paid
        (EventKind.LINK_DEACTIVATED, extra.link_id),
    ]
    assert (await gateway.read_link(links[0].link_id)).state is LinkState.PAID  # still paid
    assert page.events[-1].event_id == page.cursor


async def test_a_late_event_behind_the_cursor_is_caught_by_the_direct_read(gateway, served: Served):
    """Events that become visible late are never listed after a newer cursor: the app reads its
    open links directly as well (the sandbox's late-events fault shows why)."""
    late, prompt = await _create(gateway, ref="late"), await _create(gateway, ref="prompt")
    cursor = (await gateway.changes_since(None)).cursor
    served.app.store.late_events_seconds = 60
    served.pay(late.link_id)
    served.app.store.late_events_seconds = 0
    served.pay(prompt.link_id)
    page = await gateway.changes_since(cursor)
    assert [e.link_id for e in page.events if e.kind is EventKind.LINK_PAID] == [prompt.link_id]
    served.app.admin("POST", "clock", {"advance": "61"})
    after = await gateway.changes_since(page.cursor)
    assert after.events == ()  # the late one sorts before the cursor: lost to polling …
    assert (await gateway.read_link(late.link_id)).state is LinkState.PAID  # … not to the read


async def test_deactivate_and_expire(gateway, served: Served):
    link = await _create(gateway)
    status = await gateway.deactivate(link.link_id)
    assert status.state is LinkState.DEACTIVATED
    assert (await gateway.deactivate(link.link_id)).state is LinkState.DEACTIVATED  # again: fine
    assert served.pay(link.link_id)["approved"] is False

    clock = [datetime.now(UTC).timestamp()]
    timed = StripeGateway(served.key, base_url=served.url, clock=lambda: clock[0])
    try:
        soon = await _create(timed, ref="soon", expires_at=datetime.now(UTC) + timedelta(hours=1))
        assert (await timed.read_link(soon.link_id)).state is LinkState.OPEN
        clock[0] += 3601  # an hour later, the next read switches it off as expired
        expired = await timed.read_link(soon.link_id)
        assert expired.state is LinkState.EXPIRED
        assert served.pay(soon.link_id)["approved"] is False
        kinds = [e.kind for e in (await timed.changes_since(None)).events]
        assert kinds.count(EventKind.LINK_EXPIRED) == 1 and EventKind.LINK_DEACTIVATED in kinds
        with pytest.raises(GatewayRefused):
            await _create(timed, ref="past", expires_at=datetime.now(UTC) - timedelta(seconds=1))
    finally:
        await timed.aclose()


async def test_refund_partial_then_the_rest_then_nothing_left(gateway, served: Served):
    link = await _create(gateway, cents=10_000)
    served.pay(link.link_id)
    (payment,) = (await gateway.read_link(link.link_id)).payments
    part = await gateway.refund(payment.payment_id, amount_cents=2_500, idempotency_key="r-1")
    assert (part.amount_cents, part.state) == (2_500, RefundState.SUCCEEDED)
    assert (
        await gateway.refund(payment.payment_id, amount_cents=2_500, idempotency_key="r-1") == part
    )
    with pytest.raises(GatewayRefused):  # more than what is left
        await gateway.refund(payment.payment_id, amount_cents=7_501, idempotency_key="r-2")
    rest = await gateway.refund(payment.payment_id, amount_cents=None, idempotency_key="r-3")
    assert rest.amount_cents == 7_500
    (after,) = (await gateway.read_link(link.link_id)).payments
    assert after.refunded_cents == 10_000
    with pytest.raises(GatewayRefused):
        await gateway.refund(payment.payment_id, amount_cents=None, idempotency_key="r-4")
    page = await gateway.changes_since(None)
    refunds = [e for e in page.events if e.kind is EventKind.REFUNDED]
    assert [(e.refund_cents, e.link_id, e.refund_state) for e in refunds] == [
        (2_500, link.link_id, RefundState.SUCCEEDED),
        (7_500, link.link_id, RefundState.SUCCEEDED),
    ]


async def test_wrong_key_and_unknown_ids(gateway, served: Served):
    wrong = StripeGateway("sk_test_" + "x" * 32, base_url=served.url)
    try:
        with pytest.raises(GatewayAuthError):
            await wrong.read_link("plink_1nothing")
        with pytest.raises(GatewayAuthError):
            await _create(wrong)
    finally:
        await wrong.aclose()
    assert served.app.store.all_objects("payment_link") == []
    with pytest.raises(GatewayNotFound):
        await gateway.read_link("plink_1nothing")
    with pytest.raises(GatewayNotFound):
        await gateway.refund("pi_1nothing", amount_cents=None, idempotency_key="r")
    # a cursor Stripe no longer knows (events leave after 30 days): start from the oldest kept
    await gateway.deactivate((await _create(gateway, ref="gone")).link_id)
    restarted = await gateway.changes_since("evt_1nothing")
    assert [e.kind for e in restarted.events] == [EventKind.LINK_DEACTIVATED]
    assert await gateway.find_by_reference("never-made") is None


@pytest.mark.parametrize("kind", ["commit-500", "commit-empty", "commit-truncated", "commit-drop"])
async def test_an_ambiguous_create_is_unknown_and_settled_by_reference(
    gateway, served: Served, kind: str
):
    served.app.faults.add(Fault(kind, path="/v1/payment_links", method="POST"))
    with pytest.raises(GatewayUnknown):
        await _create(gateway, ref="PP-L-amb")
    found = await gateway.find_by_reference("PP-L-amb")
    assert found is not None and found.state is LinkState.OPEN
    assert found.reference == "PP-L-amb" and found.amount_cents == 12_345
    if kind == "commit-500":  # Stripe replays the saved 500 for the same key [T4]
        with pytest.raises(GatewayUnknown):
            await _create(gateway, ref="PP-L-amb")
    else:  # damage on the way: the same key gives back the same link
        assert (await _create(gateway, ref="PP-L-amb")).link_id == found.link_id
    assert len(served.app.store.all_objects("payment_link")) == 1


async def test_a_failure_before_the_work_and_a_slow_reply_are_unknown_too(gateway, served: Served):
    served.app.faults.add(Fault("status", status=503, path="/v1/prices"))
    with pytest.raises(GatewayUnknown):
        await _create(gateway, ref="a")
    assert await gateway.find_by_reference("a") is None  # nothing was made: create again
    link = await _create(gateway, ref="a")
    served.pay(link.link_id)
    (payment,) = (await gateway.read_link(link.link_id)).payments
    impatient = StripeGateway(served.key, base_url=served.url, timeout=0.4)
    try:
        served.app.faults.add(Fault("slow", seconds=1.2, path="/v1/refunds"))
        with pytest.raises(GatewayUnknown):
            await impatient.refund(payment.payment_id, amount_cents=100, idempotency_key="slow")
    finally:
        await impatient.aclose()
    # while Stripe still works on it, the same key is busy (409): unknown again, not a refusal
    with pytest.raises(GatewayUnknown, match="still working"):
        await gateway.refund(payment.payment_id, amount_cents=100, idempotency_key="slow")
    for _ in range(50):  # then the same key gives back the one refund that was made
        try:
            again = await gateway.refund(
                payment.payment_id, amount_cents=100, idempotency_key="slow"
            )
            break
        except GatewayUnknown:
            await asyncio.sleep(0.1)
    assert again.amount_cents == 100
    (after,) = (await gateway.read_link(link.link_id)).payments
    assert after.refunded_cents == 100  # once, not twice


async def test_bad_arguments_are_refused_before_anything_is_sent(gateway, served: Served):
    for cents in (0, 49, -5, 100_000_000):
        with pytest.raises(GatewayRefused):
            await _create(gateway, cents=cents)
    with pytest.raises(GatewayRefused):
        await gateway.refund("pi_1x", amount_cents=0, idempotency_key="k")
    with pytest.raises(GatewayRefused):
        await gateway.create_link(
            amount_cents=100, reference="r", description="d",
            metadata={f"k{i}": "v" for i in range(50)}, idempotency_key="k",
        )  # fmt: skip
    assert served.app.calls == []
