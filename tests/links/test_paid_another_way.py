"""A link is deactivated when its invoice is paid another way: the terminal here (after its
payment is approved) or a payment ServiceTitan shows (its sync). The terminal is refused only
for the amount an open link holds; a customer who opens a deactivated link is refused."""

from __future__ import annotations

import pytest

from posplus_tui.domain.links import LinkStatus
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import TxnState
from posplus_tui.services.errors import InvoiceBusy
from tests.links.conftest import World, pay


async def _office_takes(world: World, invoice_id: str, amount: Money) -> None:
    """Someone records a cash payment by hand in ServiceTitan (not through this app)."""
    sandbox = world.services.sandbox
    await world.services.client.create_payment(
        sandbox.cases["cash_type_id"], [(int(invoice_id), amount)]
    )


async def test_deposit_link_then_the_terminal_takes_the_rest(world: World) -> None:
    inv = await world.invoice(0)
    deposit = Money(4000)
    link = await world.links.create(inv, deposit, operator=world.clerk)
    # Refused only for what the link holds: the whole balance no, the rest yes.
    with pytest.raises(InvoiceBusy, match=link.reference):
        await world.services.payments.charge(inv, operator=world.clerk, amount=inv.balance)
    assert await world.services.payments.available(inv) == inv.balance - deposit

    # Meanwhile the office takes $15.00 cash by hand: the invoice no longer owes the deposit.
    await _office_takes(world, inv.invoice_id, Money(1500))
    paid = await world.services.payments.charge(inv, operator=world.clerk)  # what is left
    assert paid.transaction.state is TxnState.APPROVED
    assert paid.transaction.approved == inv.balance - deposit
    await world.links.idle()  # the check the approval started
    link = await world.links.link(link.id)
    assert link.state is LinkStatus.DEACTIVATED
    assert (await pay(link.url)).status_code == 410  # the customer is refused on the page
    assert (await world.links.poll_once()).paid == []


async def test_a_link_that_still_fits_stays_open_after_a_terminal_payment(world: World) -> None:
    inv = await world.invoice(1)
    deposit = Money(4000)
    link = await world.links.create(inv, deposit, operator=world.clerk)
    paid = await world.services.payments.charge(
        inv, operator=world.clerk, amount=inv.balance - deposit
    )
    assert paid.transaction.state is TxnState.APPROVED
    await world.links.idle()
    assert (await world.links.link(link.id)).state is LinkStatus.SENT
    assert (await pay(link.url)).status_code == 200
    assert (await world.links.poll_once()).paid == [link.reference]


async def test_servicetitan_sync_deactivates_a_link_paid_in_the_office(world: World) -> None:
    inv = await world.invoice(2)
    link = await world.links.create(inv, operator=world.clerk, channel="email", to="a@b.example")
    await _office_takes(world, inv.invoice_id, inv.balance)  # paid in full, by hand
    await world.services.sync.sync_once()
    await world.links.idle()
    link = await world.links.link(link.id)
    assert link.state is LinkStatus.DEACTIVATED
    assert (await pay(link.url)).status_code == 410
    audit = [e.action for e in world.services.audit().recent_sync(50)]
    assert "links_deactivated_paid_elsewhere" in audit
