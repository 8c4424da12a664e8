"""A refund the provider reports as pending is not money returned: it stays in flight (its amount
reserved, nothing posted to ServiceTitan, the link still PAID) until a later read says it
succeeded — then it is recorded and posted once — or failed — then nothing was refunded."""

from __future__ import annotations

import pytest

from posplus_tui.domain.links import LinkStatus
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import TxnState
from posplus_tui.services.errors import ServiceError
from tests.links.conftest import World, pay


async def _paid_link(world: World, index: int):
    inv = await world.invoice(index)
    link = await world.links.create(inv, operator=world.clerk)
    assert (await pay(link.url)).status_code == 200
    assert (await world.links.poll_once()).paid == [link.reference]
    await world.services.reconcile.drain_once(wait_for_retries=False, deadline=15)
    return inv, link


async def _refund_pending(world: World, link, amount: Money):
    stripe = world.services.demo_links.stripe
    stripe.admin("POST", "refunds/pending", {"count": "1"})
    approval = world.approval("refund", link.reference, amount)
    with pytest.raises(ServiceError, match="pending"):
        await world.links.refund(link.id, amount, operator=world.clerk, approval=approval)
    (refund,) = world.links.store.children(link.reference)
    assert refund.state is TxnState.UNKNOWN and refund.host_ref.startswith("re_")
    return refund


async def _refunds_posted(world: World, invoice_id: str) -> list[Money]:
    await world.services.reconcile.drain_once(wait_for_retries=False, deadline=15)
    payments = await world.services.client.list_payments(applied_to_invoice_ids=[int(invoice_id)])
    return [p.total for p in payments if p.total.cents < 0]


async def test_a_pending_refund_is_recorded_only_when_it_succeeds(world: World) -> None:
    inv, link = await _paid_link(world, 0)
    part = Money(1500)
    refund = await _refund_pending(world, link, part)
    # Not shown as refunded, not posted, and its amount cannot be refunded a second time.
    assert (await world.links.link(link.id)).state is LinkStatus.PAID
    assert await world.links.refundable(link.id) == inv.balance - part
    await world.links.poll_once()  # still pending at the provider: nothing changes
    assert (await world.services.payments.get(refund.ecr_ref)).state is TxnState.UNKNOWN
    assert await _refunds_posted(world, inv.invoice_id) == []

    world.services.demo_links.stripe.admin(
        "POST", f"refunds/{refund.host_ref}/settle", {"outcome": "succeeded"}
    )
    done = await world.links.poll_once()
    assert refund.ecr_ref in done.settled
    assert (await world.services.payments.get(refund.ecr_ref)).state is TxnState.APPROVED
    assert (await world.links.link(link.id)).state is LinkStatus.PARTIALLY_REFUNDED
    assert await _refunds_posted(world, inv.invoice_id) == [Money(-1500)]
    await world.links.poll_once()
    assert await _refunds_posted(world, inv.invoice_id) == [Money(-1500)]


async def test_a_pending_refund_that_fails_gave_nothing_back(world: World) -> None:
    inv, link = await _paid_link(world, 1)
    refund = await _refund_pending(world, link, inv.balance)
    world.services.demo_links.stripe.admin(
        "POST", f"refunds/{refund.host_ref}/settle", {"outcome": "failed"}
    )
    await world.links.poll_once()
    failed = await world.services.payments.get(refund.ecr_ref)
    assert failed.state is TxnState.DECLINED and "expired_or_canceled_card" in failed.message
    assert (await world.links.link(link.id)).state is LinkStatus.PAID
    assert await world.links.refundable(link.id) == inv.balance  # it can be refunded again
    assert await _refunds_posted(world, inv.invoice_id) == []
