"""The sandbox's hosted payment page in a real browser (Playwright driving Debian's headless
Chromium): pay with 4242…, decline with …0002, and the pages of a paid, expired and deactivated
link. The app learns each outcome from the events list, never from the page.

Skips (visibly) only on a developer's machine without Chromium; with ``CI`` set it fails instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateways import EventKind, LinkState
from gateways.stripe import StripeGateway
from tests.browser import browser_page

from .conftest import Served

APPROVE, DECLINE = "4242 4242 4242 4242", "4000 0000 0000 0002"


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    async with browser_page() as p:
        yield p


async def _pay(page, url: str, card: str) -> None:
    await page.goto(url)
    await page.fill("#card_number", card)
    await page.fill("#exp", "12 / 34")
    await page.fill("#cvc", "123")
    await page.fill("#name", "Pat Customer")
    await page.click("#pay")
    await page.wait_for_load_state()


async def _create(gateway: StripeGateway, ref: str, cents: int = 12_345):
    return await gateway.create_link(
        amount_cents=cents, reference=ref, description="Invoice INV-1001 <b>Main St</b>",
        metadata={"invoice_id": "48213"}, idempotency_key=f"k-{ref}",
    )  # fmt: skip


async def test_pay_decline_paid_expired_and_deactivated_pages(
    page, gateway, served: Served, caplog
):
    link = await _create(gateway, "PP-B-1")
    cursor = (await gateway.changes_since(None)).cursor

    await page.goto(link.url)
    assert await page.text_content("#amount") == "$123.45"
    assert await page.text_content("#description") == "Invoice INV-1001 <b>Main St</b>"  # literal

    # declined: the page says so, keeps the form, and the link stays open
    await _pay(page, link.url, DECLINE)
    assert await page.text_content("#error") == "Your card was declined."
    assert await page.input_value("#card_number") == ""  # never echoed back
    changes = await gateway.changes_since(cursor)
    assert [e.kind for e in changes.events] == [EventKind.PAYMENT_FAILED]
    assert changes.events[0].link_id == link.link_id
    assert (await gateway.read_link(link.link_id)).state is LinkState.OPEN

    # approved on the same page: the app sees it in the events, not from the browser
    await page.fill("#card_number", APPROVE)
    await page.fill("#exp", "12/34")
    await page.fill("#cvc", "123")
    await page.click("#pay")
    await page.wait_for_load_state()
    assert await page.text_content("#status") == "Payment successful"
    assert await page.text_content("#card") == "Visa •••• 4242"
    changes = await gateway.changes_since(changes.cursor)
    (paid,) = [e for e in changes.events if e.kind is EventKind.LINK_PAID]
    assert paid.link_id == link.link_id and paid.payment is not None
    assert (paid.payment.amount_cents, paid.payment.last4, paid.payment.brand) == (
        12_345,
        "4242",
        "visa",
    )
    assert paid.payment.reference == "PP-B-1"

    # a paid link cannot be paid again
    await page.goto(link.url)
    assert await page.text_content("#status") == "Link already paid"
    assert (await gateway.read_link(link.link_id)).paid_cents == 12_345

    # expired and deactivated links show their own page and take nothing
    expiring = await _create(gateway, "PP-B-2")
    await gateway.expire(expiring.link_id)
    await page.goto(expiring.url)
    assert await page.text_content("#status") == "Link no longer active"
    assert "has expired" in (await page.text_content("#message") or "")
    off = await _create(gateway, "PP-B-3")
    await gateway.deactivate(off.link_id)
    response = await page.goto(off.url)
    assert response is not None and response.status == 410
    assert await page.text_content("#message") == "This link is no longer active."
    states = [(await gateway.read_link(x.link_id)).state for x in (expiring, off)]
    assert states == [LinkState.EXPIRED, LinkState.DEACTIVATED]

    # the card numbers went nowhere: not in any object, event or log line
    kept = json.dumps([served.app.store.all_objects(k) for k in (
        "product", "price", "payment_link", "checkout.session", "payment_intent", "charge", "refund",
    )] + [e.obj for e in served.app.store._events.values()])  # fmt: skip
    for card in (APPROVE, DECLINE):
        digits = card.replace(" ", "")
        assert digits not in kept and digits not in caplog.text
        assert digits[-4:] in kept  # the last four are kept, as Stripe keeps them
