"""Payment links end to end with a real browser: the app e-mails a link, headless Chromium pays (or
is declined, or finds it expired) on the Stripe sandbox's hosted page, and the test then checks
what a person would: the app's ledger, and the invoice's payments and balance in the ServiceTitan
sandbox. The app learns each outcome by polling, never from the page.

One Chromium for the module (each test opens its own browser context). It skips visibly only on a
developer's machine without Chromium; with ``CI`` set it fails instead (see tests/browser.py).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from posplus_tui.domain.links import LinkStatus
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import Tender, TxnState
from posplus_tui.services.links import LinkService
from posplus_tui.services.reconcile.marker import carries_marker, marker_for
from posplus_tui.servicetitan.sandbox.records import PaymentRec
from tests.browser import chromium
from tests.links.conftest import World, close_world, open_world

# One event loop and one xdist worker for the module, so that one Chromium serves all three tests.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.xdist_group("browser_e2e")]

APPROVE, DECLINE = "4242 4242 4242 4242", "4000 0000 0000 0002"
_URL = re.compile(r"https?://\S+")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as b:
        yield b


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Any) -> AsyncIterator[Any]:
    context = await browser.new_context()
    try:
        yield await context.new_page()
    finally:
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def world(tmp_path: Path) -> AsyncIterator[World]:
    opened = open_world(tmp_path)
    yield opened
    await close_world(opened)


# -- what the customer does ------------------------------------------------------------------------


async def _emailed_url(world: World, count: int, to: str) -> str:
    """The link as the customer gets it: the one URL in the newest e-mail to ``to``."""
    demo = world.services.demo_links
    assert demo is not None and demo.smtp is not None
    mail = (await demo.smtp.await_for(count))[-1]
    assert mail.rcpt_tos == (to,)
    (url,) = _URL.findall(mail.body)
    return url


async def _fill_and_pay(page: Any, card: str) -> None:
    """Type the card as the form asks (its placeholders: ``1234 1234 …``, ``MM / YY``, ``CVC``)."""
    assert await page.get_attribute("#exp", "placeholder") == "MM / YY"
    await page.fill("#card_number", card)
    await page.fill("#exp", "12 / 34")
    await page.fill("#cvc", "123")
    await page.fill("#name", "Pat Customer")
    await page.click("#pay")
    await page.wait_for_load_state()


async def _words(page: Any) -> str:
    return " ".join((await page.inner_text("body")).split())


# -- what the app and ServiceTitan show afterwards -------------------------------------------------


def _st_balance(world: World, invoice_id: str) -> int:
    sandbox = world.services.sandbox
    assert sandbox is not None
    return sandbox.store.invoices[int(invoice_id)].balance_cents


def _st_payments(world: World, invoice_id: str) -> list[PaymentRec]:
    """Every active payment applied to the invoice in the ServiceTitan sandbox."""
    sandbox = world.services.sandbox
    assert sandbox is not None
    return [p for p in sandbox.store.payments_by_invoice[int(invoice_id)] if p.active]


def _st_ours(world: World, invoice_id: str, reference: str) -> list[PaymentRec]:
    """The invoice's payments in the ServiceTitan sandbox that carry our marker for ``reference``."""
    marker = marker_for(reference)
    return [
        p for p in _st_payments(world, invoice_id) if carries_marker(marker, p.memo, p.export_id)
    ]


async def _poll_and_drain(world: World, links: LinkService | None = None) -> None:
    """One poller round, then the outbox worker posts and verifies what is due."""
    await (links or world.links).poll_once()
    assert world.services.reconcile is not None
    await world.services.reconcile.drain_once(wait_for_retries=False, deadline=15)


async def _assert_posted_once(
    world: World, link_id: int, amount: Money, balance: int, before: list[PaymentRec]
) -> None:
    """Ledger: link paid, transaction approved and verified in ServiceTitan; ServiceTitan: exactly
    one new payment on the invoice, carrying our marker, for ``amount``, and the balance moved by
    exactly that (``balance`` and ``before``: the invoice's balance and payments beforehand)."""
    link = await world.links.link(link_id)
    assert link.state is LinkStatus.PAID
    txn = await world.services.payments.get(link.reference)
    assert (txn.tender, txn.approved, txn.last4) == (Tender.LINK, amount, "4242")
    (posted,) = _st_ours(world, link.invoice_id, link.reference)
    assert [p for p in _st_payments(world, link.invoice_id) if p not in before] == [posted]
    assert posted.total_cents == amount.cents
    assert balance - _st_balance(world, link.invoice_id) == amount.cents
    assert txn.state is TxnState.RECONCILED  # approved, posted and verified by the app


# -- the flows -------------------------------------------------------------------------------------


async def test_pay_in_the_browser_posts_once(world: World, page: Any) -> None:
    inv = await world.invoice(0)
    amount = Money(4_321)  # a deposit: the balance moves by it, it is not zeroed
    balance, before = _st_balance(world, inv.invoice_id), _st_payments(world, inv.invoice_id)
    link = await world.links.create(
        inv, amount, operator=world.clerk, channel="email", to="ann@example.com"
    )
    url = await _emailed_url(world, 1, "ann@example.com")
    assert url == link.url

    await page.goto(url)
    assert await page.text_content("#amount") == "$43.21"
    await _fill_and_pay(page, APPROVE)
    assert await page.text_content("#status") == "Payment successful"
    assert "Visa •••• 4242" in await _words(page)

    # Nothing is recorded from the page itself: the app learns it by polling.
    assert (await world.links.link(link.id)).state is LinkStatus.SENT
    assert _st_payments(world, inv.invoice_id) == before

    await world.links.poll_once()
    txn = await world.services.payments.get(link.reference)
    assert (txn.state, txn.approved) == (TxnState.APPROVED, amount)
    assert world.services.reconcile is not None
    await world.services.reconcile.drain_once(wait_for_retries=False, deadline=15)
    await _assert_posted_once(world, link.id, amount, balance, before)

    # A second round and a reload of the page change nothing.
    await _poll_and_drain(world)
    await page.goto(url)
    assert await page.text_content("#status") == "Link already paid"
    await _assert_posted_once(world, link.id, amount, balance, before)


async def test_decline_then_pay_on_the_same_page(world: World, page: Any) -> None:
    inv = await world.invoice(1)
    balance, before = _st_balance(world, inv.invoice_id), _st_payments(world, inv.invoice_id)
    link = await world.links.create(
        inv, operator=world.clerk, channel="email", to="bob@example.com"
    )
    url = await _emailed_url(world, 1, "bob@example.com")

    await page.goto(url)
    await _fill_and_pay(page, DECLINE)
    assert await page.text_content("#error") == "Your card was declined."
    assert await page.input_value("#card_number") == ""  # the number is not echoed back

    await _poll_and_drain(world)
    link = await world.links.link(link.id)
    assert link.state is LinkStatus.SENT and "declined" in link.message.lower()
    assert _st_payments(world, inv.invoice_id) == before  # nothing posted, ours or not
    assert _st_balance(world, inv.invoice_id) == balance

    # The customer tries another card on the page they are on.
    await _fill_and_pay(page, APPROVE)
    assert await page.text_content("#status") == "Payment successful"
    await _poll_and_drain(world)
    await _assert_posted_once(world, link.id, inv.balance, balance, before)


async def test_an_expired_link_cannot_be_paid(world: World, page: Any) -> None:
    inv = await world.invoice(2)
    balance, before = _st_balance(world, inv.invoice_id), _st_payments(world, inv.invoice_id)
    shift = [timedelta(0)]
    links = LinkService(
        world.services.ledger,
        world.links.gateway,
        world.services.operators,
        station="Counter 1",
        clock=lambda: datetime.now(UTC) + shift[0],
    )
    link = await links.create(inv, operator=world.clerk)

    # The customer opens the page, then leaves it until after the link's time is up.
    await page.goto(link.url)
    assert await page.is_visible("#pay")
    shift[0] = links.settings.expires_after + timedelta(minutes=1)
    await _poll_and_drain(world, links)
    assert (await links.link(link.id)).state is LinkStatus.EXPIRED

    await _fill_and_pay(page, APPROVE)  # the form they left open is refused
    assert await page.text_content("#status") == "Payment not taken"
    response = await page.goto(link.url)
    assert response is not None and response.status == 410
    assert await page.text_content("#status") == "Link no longer active"
    assert "expired" in (await page.text_content("#message") or "")
    assert await page.locator("#card_number").count() == 0

    await _poll_and_drain(world, links)
    link = await links.link(link.id)
    assert link.state is LinkStatus.EXPIRED and link.transaction_id is None
    assert _st_payments(world, inv.invoice_id) == before  # nothing posted, ours or not
    assert _st_balance(world, inv.invoice_id) == balance
