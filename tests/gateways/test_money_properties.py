"""Hypothesis drives the provider and the sandbox through random sequences (creates, some of them
answered ambiguously; approved and declined payments; deactivations; partial refunds; polls) and
checks invariants about money against a model kept here: a link is paid at most once and for its
amount, every payment is reported once by the events, refunds never exceed what was paid, and an
ambiguous create never makes two links."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from gateways import EventKind, GatewayRefused, GatewayUnknown, LinkState
from gateways.stripe import StripeGateway
from gateways.stripe.sandbox import Fault, StripeSandboxApp, serve_in_thread

KEY = "sk_test_properties_properties_01"


class _Swappable:
    """One served address, a fresh sandbox per example."""

    def __init__(self) -> None:
        self.inner = StripeSandboxApp(secret_key=KEY)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.inner(scope, receive, send)


@dataclass
class _Link:
    link_id: str
    amount: int
    state: LinkState = LinkState.OPEN
    paid: int = 0
    refunded: int = 0
    payment_id: str = ""


@dataclass
class _Seen:
    paid_events: dict[str, int] = field(default_factory=dict)
    refunded: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[_Swappable, str]]:
    app = _Swappable()
    with serve_in_thread(app) as url:
        yield app, url


def test_money_invariants_hold_over_random_sequences(server):
    swappable, url = server

    class Machine(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            swappable.inner = StripeSandboxApp(secret_key=KEY, seed=0)  # same ids on replay
            swappable.inner.store.public_url = url
            self.app = swappable.inner
            self.loop = asyncio.new_event_loop()
            self.gw = StripeGateway(KEY, base_url=url, timeout=3.0)
            self.links: dict[str, _Link] = {}
            self.seen = _Seen()
            self.cursor: str | None = None
            self.n = 0

        def run(self, coro: Any) -> Any:
            return self.loop.run_until_complete(coro)

        def teardown(self) -> None:
            if hasattr(self, "gw"):
                self.poll()
                self.check_everything()
                self.run(self.gw.aclose())
                self.loop.close()

        @rule(
            cents=st.integers(50, 500_000),
            fault=st.sampled_from([None, "commit-500", "commit-drop", "commit-empty", "status"]),
        )
        def create(self, cents: int, fault: str | None) -> None:
            self.n += 1
            ref = f"PP-P-{self.n}"
            if fault:
                self.app.faults.add(
                    Fault(fault, method="POST", path="/v1/payment_links", status=503)
                )
            try:
                made = self.run(self.gw.create_link(
                    amount_cents=cents, reference=ref, description="Invoice",
                    metadata={"invoice_id": str(self.n)}, idempotency_key=ref,
                ))  # fmt: skip
                assert fault is None, f"an ambiguous reply ({fault}) was read as success"
                link_id = made.link_id
            except GatewayUnknown:
                assert fault is not None
                found = self.run(self.gw.find_by_reference(ref))
                if fault == "status":  # refused before any work: nothing exists
                    assert found is None
                    return
                assert found is not None and found.amount_cents == cents
                link_id = found.link_id
            self.links[link_id] = _Link(link_id, cents)

        @precondition(lambda self: self.links)
        @rule(data=st.data(), approve=st.booleans())
        def pay(self, data: st.DataObject, approve: bool) -> None:
            link = self.links[data.draw(st.sampled_from(sorted(self.links)))]
            outcome = self.app.admin(
                "POST",
                f"payment_links/{link.link_id}/pay",
                {"outcome": "approve" if approve else "decline"},
            )
            if approve and link.state is LinkState.OPEN:
                assert outcome["approved"] is True
                link.state, link.paid, link.payment_id = (
                    LinkState.PAID,
                    link.amount,
                    str(outcome["payment_intent"]),
                )
            else:
                assert outcome["approved"] is False

        @precondition(lambda self: self.links)
        @rule(data=st.data())
        def deactivate(self, data: st.DataObject) -> None:
            link = self.links[data.draw(st.sampled_from(sorted(self.links)))]
            status = self.run(self.gw.deactivate(link.link_id))
            if link.state is LinkState.OPEN:
                link.state = LinkState.DEACTIVATED
            assert status.state is link.state

        @precondition(lambda self: any(x.paid for x in self.links.values()))
        @rule(data=st.data())
        def refund(self, data: st.DataObject) -> None:
            paid = sorted(k for k, x in self.links.items() if x.paid)
            link = self.links[data.draw(st.sampled_from(paid))]
            cents = data.draw(st.integers(1, link.amount + 10))
            self.n += 1
            try:
                result = self.run(
                    self.gw.refund(
                        link.payment_id, amount_cents=cents, idempotency_key=f"R{self.n}"
                    )
                )
            except GatewayRefused:
                assert cents > link.paid - link.refunded
                return
            assert cents <= link.paid - link.refunded and result.amount_cents == cents
            link.refunded += cents

        @rule()
        def poll(self) -> None:
            while True:
                page = self.run(self.gw.changes_since(self.cursor, limit=4))
                for event in page.events:
                    if event.kind is EventKind.LINK_PAID:
                        assert event.payment is not None
                        assert event.payment.amount_cents == self.links[event.link_id].amount
                        self.seen.paid_events[event.link_id] = (
                            self.seen.paid_events.get(event.link_id, 0) + 1
                        )
                    if event.kind is EventKind.REFUNDED:
                        self.seen.refunded[event.link_id] = (
                            self.seen.refunded.get(event.link_id, 0) + event.refund_cents
                        )
                self.cursor = page.cursor
                if not page.has_more:
                    break

        @invariant()
        def money_reported_matches(self) -> None:
            for link_id, count in self.seen.paid_events.items():
                assert count == 1, f"{link_id} reported paid {count} times"
            for link_id, cents in self.seen.refunded.items():
                assert cents <= self.links[link_id].paid

        def check_everything(self) -> None:
            assert len(self.app.store.all_objects("payment_link")) == len(self.links)
            for link in self.links.values():
                status = self.run(self.gw.read_link(link.link_id))
                assert status.state is link.state
                assert status.paid_cents == link.paid and len(status.payments) == (
                    1 if link.paid else 0
                )
                if link.paid:
                    assert status.payments[0].refunded_cents == link.refunded
                assert self.seen.paid_events.get(link.link_id, 0) == (1 if link.paid else 0)
                assert self.seen.refunded.get(link.link_id, 0) == link.refunded

    Machine.TestCase.settings = settings(
        max_examples=8, stateful_step_count=12, deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )  # fmt: skip
    Machine.TestCase().runTest()
