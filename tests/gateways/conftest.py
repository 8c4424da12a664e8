"""A served Stripe sandbox (real loopback HTTP) and a gateway pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from gateways.stripe import StripeGateway
from gateways.stripe.sandbox import StripeSandboxApp, serve_in_thread


@dataclass
class Served:
    app: StripeSandboxApp
    url: str

    @property
    def key(self) -> str:
        return self.app.secret_key

    def pay(self, link_id: str, *, decline: bool = False) -> dict[str, object]:
        """A customer pays on the link's page (the admin shortcut; the browser test uses the page)."""
        return self.app.admin(
            "POST", f"payment_links/{link_id}/pay", {"outcome": "decline" if decline else "approve"}
        )


@pytest.fixture
def served() -> Iterator[Served]:
    app = StripeSandboxApp(seed=7)
    with serve_in_thread(app) as url:
        yield Served(app, url)


@pytest.fixture
async def gateway(served: Served) -> AsyncIterator[StripeGateway]:
    gw = StripeGateway(served.key, base_url=served.url, timeout=5.0)
    yield gw
    await gw.aclose()
