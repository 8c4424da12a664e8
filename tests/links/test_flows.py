"""Payment links end to end: create → send (a real SMTP server, the Twilio sandbox) → the customer
pays on the hosted page → the poller learns it → posted to the ServiceTitan sandbox and verified.
And: decline, expire, deactivate, partial refund, paid while the app was closed, paid twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gateways.messaging.smtp import SmtpSender, SmtpSettings
from gateways.messaging.smtp_server import LocalSmtpServer
from posplus_tui.domain.links import LinkStatus
from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import OutboxState
from posplus_tui.domain.transactions import Tender, TxnState
from posplus_tui.services.errors import InvalidRequest, InvoiceBusy
from posplus_tui.services.links import LinkService
from tests.links.conftest import World, pay


async def _post_and_verify(world: World) -> None:
    reconcile = world.services.reconcile
    assert reconcile is not None
    await reconcile.drain_once(wait_for_retries=False, deadline=15)


async def _st_payments(world: World, invoice_id: str):
    assert world.services.client is not None
    return await world.services.client.list_payments(applied_to_invoice_ids=[int(invoice_id)])


async def test_email_pay_post_verify(world: World) -> None:
    inv = await world.invoice(0)
    link = await world.links.create(
        inv, operator=world.clerk, channel="email", to="ann@example.com"
    )
    assert link.state is LinkStatus.SENT and link.amount == inv.balance
    smtp = world.services.demo_links.smtp
    (mail,) = await smtp.await_for(1)
    assert link.url in mail.body and mail.rcpt_tos == ("ann@example.com",)

    # The open link holds the balance: the terminal cannot collect it as well.
    with pytest.raises(InvoiceBusy, match="payment link e-mailed"):
        await world.services.payments.charge(inv, operator=world.clerk)

    page = await pay(link.url)
    assert page.status_code == 200, page.text
    done = await world.links.poll_once()
    assert done.paid == [link.reference]
    link = await world.links.link(link.id)
    assert link.state is LinkStatus.PAID
    txn = await world.services.payments.get(link.reference)
    assert (txn.tender, txn.state, txn.approved) == (Tender.LINK, TxnState.APPROVED, inv.balance)
    assert txn.last4 == "4242"

    await _post_and_verify(world)
    txn = await world.services.payments.get(link.reference)
    assert txn.state is TxnState.RECONCILED
    posted = [
        p for p in await _st_payments(world, inv.invoice_id) if link.reference in (p.memo or "")
    ]
    assert len(posted) == 1 and posted[0].total == inv.balance
    # Polling again (and a direct read) never records it twice.
    world.links._last_read = -1e9
    again = await world.links.poll_once()
    assert again.paid == []
    await _post_and_verify(world)
    posted = [
        p for p in await _st_payments(world, inv.invoice_id) if link.reference in (p.memo or "")
    ]
    assert len(posted) == 1


async def test_sms_deposit_and_the_rest_stays_chargeable(world: World) -> None:
    inv = await world.invoice(1)
    deposit = Money(5000)
    link = await world.links.create(
        inv, deposit, operator=world.clerk, channel="sms", to="(415) 555-2671"
    )
    twilio = world.services.demo_links.twilio
    (text,) = twilio.sent_to("+14155552671")
    assert link.url in text.body and link.recipient == "+14155552671"
    assert link.kind.value == "deposit"
    assert await world.services.payments.available(inv) == inv.balance - deposit


async def test_bad_recipients_are_refused_before_anything_is_created(world: World) -> None:
    inv = await world.invoice(2)
    for channel, to, words in [
        ("email", "ann@@example", "exactly one @"),
        ("sms", "555-12", "digits"),
        ("sms", "+15005550009", "not a mobile number"),  # refused by Twilio after the create
    ]:
        with pytest.raises(InvalidRequest, match=words):
            await world.links.create(inv, operator=world.clerk, channel=channel, to=to)
    made = await world.links.links_for_invoice(inv.invoice_id)
    # Only the landline got as far as a link (Twilio answers after the create): it stays open,
    # unsent, and can be sent another way.
    assert [(x.state, x.message[:10]) for x in made] == [(LinkStatus.CREATED, "not sent b")]


async def test_a_refused_smtp_login_makes_no_link(world: World) -> None:
    """The relay wants a login: a wrong password is a sentence before anything is created; the
    right one logs in and delivers."""
    inv = await world.invoice(2)
    with LocalSmtpServer(users={"billing": "right-pass"}) as relay:

        def relay_as(password: str) -> SmtpSender:
            return SmtpSender(
                SmtpSettings(relay.host, relay.port, "billing@demo.example", "billing", password)
            )

        world.links._email = relay_as("wrong-pass")
        with pytest.raises(InvalidRequest, match="SMTP server refused the user name or password"):
            await world.links.create(
                inv, operator=world.clerk, channel="email", to="ann@example.com"
            )
        assert await world.links.links_for_invoice(inv.invoice_id) == []

        world.links._email = relay_as("right-pass")
        link = await world.links.create(
            inv, operator=world.clerk, channel="email", to="ann@example.com"
        )
        assert link.state is LinkStatus.SENT
        (mail,) = await relay.await_for(1)
        assert link.url in mail.body


async def test_decline_keeps_the_link_open(world: World) -> None:
    inv = await world.invoice(3)
    link = await world.links.create(inv, operator=world.clerk)
    page = await pay(link.url, card="4000 0000 0000 0002")
    assert page.status_code == 402
    await world.links.poll_once()
    link = await world.links.link(link.id)
    assert link.state is LinkStatus.SENT and "declined" in link.message.lower()
    assert (await pay(link.url)).status_code == 200
    assert (await world.links.poll_once()).paid == [link.reference]


async def test_deactivate_needs_a_supervisor_and_frees_the_balance(world: World) -> None:
    inv = await world.invoice(4)
    link = await world.links.create(inv, operator=world.clerk)
    from posplus_tui.services.errors import NotPermitted

    with pytest.raises(NotPermitted):
        await world.links.deactivate(link.id, operator=world.clerk)
    approval = world.approval("void", link.reference, link.amount)
    link = await world.links.deactivate(link.id, operator=world.clerk, approval=approval)
    assert link.state is LinkStatus.DEACTIVATED
    assert (await pay(link.url)).status_code == 410
    assert await world.services.payments.available(inv) == inv.balance


async def test_expire(world: World) -> None:
    inv = await world.invoice(5)
    shift = [timedelta(0)]
    links = LinkService(
        world.services.ledger,
        world.links.gateway,
        world.services.operators,
        station="Counter 1",
        clock=lambda: datetime.now(UTC) + shift[0],
    )
    link = await links.create(inv, operator=world.clerk)
    assert (await links.poll_once()).closed == []
    shift[0] = links.settings.expires_after + timedelta(minutes=1)
    done = await links.poll_once()
    assert link.reference in done.closed
    assert (await links.link(link.id)).state is LinkStatus.EXPIRED
    assert (await pay(link.url)).status_code == 410


async def test_partial_refund_posts_a_refund(world: World) -> None:
    inv = await world.invoice(6)
    link = await world.links.create(inv, operator=world.clerk)
    await pay(link.url)
    await world.links.poll_once()
    await _post_and_verify(world)
    part = Money(1000)
    approval = world.approval("refund", link.reference, part)
    link = await world.links.refund(
        link.id, part, operator=world.clerk, approval=approval, reason="one part returned"
    )
    assert link.state is LinkStatus.PARTIALLY_REFUNDED
    assert await world.links.refundable(link.id) == inv.balance - part
    await _post_and_verify(world)
    refunds = [p for p in await _st_payments(world, inv.invoice_id) if p.total.cents < 0]
    assert [p.total for p in refunds] == [Money(-1000)]


async def test_paid_while_the_app_was_closed(world: World, tmp_path) -> None:
    """The poller's cursor is in the ledger: a new service (a restart) picks up the payment."""
    inv = await world.invoice(7)
    link = await world.links.create(inv, operator=world.clerk)
    await world.links.poll_once()  # the cursor is stored
    cursor_before = world.links.store.cursor()
    await pay(link.url)  # … while nobody polls
    restarted = LinkService(
        world.services.ledger, world.links.gateway, world.services.operators, station="Counter 1"
    )
    assert restarted.store.cursor() == cursor_before
    assert (await restarted.poll_once()).paid == [link.reference]
    await _post_and_verify(world)
    assert (await world.services.payments.get(link.reference)).state is TxnState.RECONCILED


async def test_two_stations_record_a_payment_once(world: World) -> None:
    inv = await world.invoice(8)
    link = await world.links.create(inv, operator=world.clerk)
    other = LinkService(
        world.services.ledger, world.links.gateway, world.services.operators, station="Counter 2"
    )
    await pay(link.url)
    a, b = await asyncio.gather(world.links.poll_once(), other.poll_once())
    assert sorted(a.paid + b.paid) == [link.reference]
    counts = await world.services.reconcile.counts()
    assert counts.get(OutboxState.PENDING.value, 0) + counts.get("pending", 0) >= 1


async def test_a_second_payment_is_refunded_automatically(world: World) -> None:
    """If the provider ever lets a link be paid twice, the second payment goes back at once."""
    inv = await world.invoice(9)
    link = await world.links.create(inv, operator=world.clerk)
    await pay(link.url)
    await world.links.poll_once()
    stripe = world.services.demo_links.stripe
    link_row = await world.links.link(link.id)
    # A provider bug lets a second session complete (the sandbox's trainer control).
    stripe.admin("POST", f"payment_links/{link_row.provider_link_id}/allow_another", {})
    second = stripe.admin(
        "POST", f"payment_links/{link_row.provider_link_id}/pay", {"outcome": "approve"}
    )
    assert second["approved"], second
    done = await world.links.poll_once()
    assert done.duplicates == [link.reference]
    assert "refunded automatically" in (await world.links.link(link.id)).message
