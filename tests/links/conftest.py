"""Payment-link fixtures: the demo's services (SQLite file, ServiceTitan sandbox in-process, the
Stripe sandbox over loopback, a real SMTP server, the Twilio sandbox) and a customer who pays on
the hosted page with a plain HTTP form post (the browser test drives the same page in Chromium)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from posplus_tui.domain.money import Money
from posplus_tui.services.container import Services
from posplus_tui.services.links import LinkService
from posplus_tui.services.links.service import LinkSettings
from posplus_tui.services.operators import OperatorInfo
from posplus_tui.services.wiring import build_demo
from posplus_tui.ui.screens.invoice import facts_of

TEST_PIN_COST = 16


@dataclass
class World:
    services: Services
    links: LinkService
    clerk: OperatorInfo
    supervisor: OperatorInfo

    async def invoice(self, index: int = 0, min_cents: int = 10_000):
        """An open invoice of the ServiceTitan sandbox, as the app sees it (InvoiceFacts)."""
        sandbox = self.services.sandbox
        assert sandbox is not None
        ids = [
            inv.id
            for inv in sandbox.store.invoice_list
            if not inv.deleted and inv.adjustment_to_id is None and inv.balance_cents >= min_cents
        ]
        assert self.services.lookup is not None
        return facts_of(await self.services.lookup.open(ids[index]))

    def approval(self, action: str, target: str, amount: Money | None):
        assert self.services.operators is not None
        return self.services.operators.approve_sync(
            "supervisor",
            "2222",
            action=action,
            requested_by=self.clerk,
            target=target,
            amount=amount,
        )


def open_world(folder: Path, *, poll_interval: float = 0.05, read_every: float = 30.0) -> World:
    """The demo's services in ``folder`` with payment links started and wired like the app's
    (paid-another-way checks), without the background poller: tests run its rounds."""
    services = build_demo(
        folder,
        card_wait_ms=0,
        pin_cost=TEST_PIN_COST,
        sync_on_start=False,
        dependency_wait=0.05,  # a refund waits for its sale's posting: briefly, in tests
    )
    assert services.demo_links is not None
    services.demo_links.settings = LinkSettings(
        poll_interval=poll_interval, read_every=read_every, company="Demo Home Services"
    )
    links = services.demo_links.start()
    services.links = links
    services.wire_links(links)
    assert services.operators is not None
    clerk = services.operators.sign_in_sync("clerk", "1111")
    supervisor = services.operators.sign_in_sync("supervisor", "2222")
    return World(services, links, clerk, supervisor)


async def close_world(world: World) -> None:
    assert world.services.demo_links is not None
    await world.services.demo_links.aclose()
    await world.services.aclose()


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    opened = open_world(tmp_path)
    yield opened
    await close_world(opened)


async def pay(url: str, card: str = "4242 4242 4242 4242") -> httpx.Response:
    """The customer opens the link and submits the hosted page's form."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as browser:
        page = await browser.get(url)
        if page.status_code != 200:
            return page
        action = re.search(r"action='([^']+)'", page.text)
        assert action, page.text
        return await browser.post(
            str(page.url.join(action.group(1))),
            data={"card_number": card, "exp": "12/40", "cvc": "123", "name": "Pat Payer"},
        )
