"""Payment links in random order against the Stripe and ServiceTitan sandboxes, with invariants
about money rather than examples.

A hypothesis state machine creates links (whole balance or deposit), has customers pay them
(approve or decline), pays one twice (a provider bug), expires and deactivates them, refunds them
(in part or in full, sometimes left pending by the provider, which later succeeds or fails), lets
a link create's reply be lost, polls, restarts the poller, and posts to ServiceTitan. After every
step:

- nothing is posted to ServiceTitan twice (one payment per marker);
- a link shown as paid has that payment at the provider (unknown is never shown as paid), and a
  refund shown as done succeeded at the provider (pending is never shown as returned);

and once polled and posted (the ``settle`` step):

- what the provider collected minus what it refunded equals what was posted minus the refunds
  posted, plus what waits for a person;
- a link paid twice has its extra payment refunded at the provider or waiting for a person.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlmodel import col, select

from gateways import GatewayError
from gateways.stripe.sandbox import Fault
from posplus_tui.domain.links import LinkStatus
from posplus_tui.domain.money import Money
from posplus_tui.domain.outbox import OutboxState
from posplus_tui.domain.transactions import Tender, TxnKind, TxnState
from posplus_tui.ledger.tables import OutboxRow, Transaction
from posplus_tui.services.errors import ServiceError
from posplus_tui.services.links import LinkService
from posplus_tui.services.reconcile.marker import find_marker
from tests.links.conftest import World, close_world, open_world

T = TypeVar("T")
PAID_STATES = {LinkStatus.PAID, LinkStatus.PARTIALLY_REFUNDED, LinkStatus.REFUNDED}


class LinkFlows(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = tempfile.TemporaryDirectory(prefix="posplus-links-")
        # Every poll also reads open links directly: the same steps give the same rounds.
        self.world: World = open_world(Path(self.folder.name), read_every=0.0)
        self.links: LinkService = self.world.links
        self.stripe = self.world.services.demo_links.stripe  # type: ignore[union-attr]
        self.invoices = [self.run(self.world.invoice(i)) for i in range(2)]

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        try:
            self.run(close_world(self.world))
        finally:
            self.loop.close()
            self.folder.cleanup()

    # -- what the ledger and the providers say --------------------------------------------------

    def _links(self):
        return [
            x
            for inv in self.invoices
            for x in self.world.links.store.links_for_invoice(inv.invoice_id)
        ]

    def _live(self):
        return [x for x in self._links() if x.provider_link_id]

    def _provider(self):
        """Our links' payments and the refunds of them, as the provider has them."""
        payments = {}
        for link in self._live():
            status = self.run(self.links.gateway.read_link(link.provider_link_id))
            for p in status.payments:
                payments[p.payment_id] = (link, p)
        refunds = [
            r
            for r in self.stripe.admin("GET", "refunds", {})["data"]
            if r["payment_intent"] in payments
        ]
        return payments, refunds

    def _posted(self) -> dict[str, list[int]]:
        """ServiceTitan's payments carrying one of our markers: marker → amounts (cents)."""
        client = self.world.services.client
        assert client is not None
        ids = [int(inv.invoice_id) for inv in self.invoices]
        found: dict[str, list[int]] = {}
        for p in self.run(client.list_payments(applied_to_invoice_ids=ids)):
            marker = find_marker(
                p.memo, getattr(p, "export_id", None), getattr(p, "auth_code", None)
            )
            if marker:
                found.setdefault(marker, []).append(p.total.cents)
        return found

    def _link_txns(self) -> list[tuple[Transaction, str | None]]:
        ledger = self.world.services.ledger
        with ledger.session() as session:
            rows = session.execute(
                select(Transaction, col(OutboxRow.state))
                .outerjoin(OutboxRow, col(OutboxRow.transaction_id) == col(Transaction.id))
                .where(col(Transaction.tender) == Tender.LINK.value)
            ).all()
            for txn, _state in rows:
                session.expunge(txn)
            return [(txn, state) for txn, state in rows]

    @initialize()
    def a_paid_link_and_an_open_deposit_link(self) -> None:
        paid = self.run(self.links.create(self.invoices[0], operator=self.world.clerk))
        self.run(self.links.create(self.invoices[1], Money(2_000), operator=self.world.clerk))
        self.stripe.admin("POST", f"payment_links/{paid.provider_link_id}/pay", {})
        self.run(self.links.poll_once())

    # -- the clerk, the supervisor and the customers ---------------------------------------------

    @rule(which=st.integers(0, 1), deposit=st.sampled_from([None, 1_000, 2_500]))
    def create(self, which: int, deposit: int | None) -> None:
        inv = self.invoices[which]
        # Refused when nothing is left to ask for; unknown when the reply was lost (settled later).
        with contextlib.suppress(ServiceError):
            amount = None if deposit is None else Money(deposit)
            self.run(self.links.create(inv, amount, operator=self.world.clerk))

    @rule()
    def lose_the_next_create_reply(self) -> None:
        self.stripe.faults.add(Fault("commit-drop", method="POST", path="/v1/payment_links"))

    @precondition(lambda self: bool(self._live()))
    @rule(pick=st.integers(0, 20), approve=st.booleans())
    def customer_pays(self, pick: int, approve: bool) -> None:
        live = self._live()
        link = live[pick % len(live)]
        self.stripe.admin(
            "POST",
            f"payment_links/{link.provider_link_id}/pay",
            {"outcome": "approve" if approve else "decline"},
        )

    @precondition(lambda self: any(x.payment_id for x in self._live()))
    @rule(pick=st.integers(0, 20))
    def customer_pays_twice(self, pick: int) -> None:
        paid = [x for x in self._live() if x.payment_id]
        link = paid[pick % len(paid)]
        self.stripe.admin("POST", f"payment_links/{link.provider_link_id}/allow_another", {})
        self.stripe.admin(
            "POST", f"payment_links/{link.provider_link_id}/pay", {"outcome": "approve"}
        )

    @precondition(lambda self: bool(self._live()))
    @rule(pick=st.integers(0, 20))
    def time_runs_out_at_the_provider(self, pick: int) -> None:
        live = self._live()
        link = live[pick % len(live)]
        with contextlib.suppress(GatewayError):
            self.run(self.links.gateway.expire(link.provider_link_id))

    @precondition(lambda self: any(x.is_open for x in self._live()))
    @rule(pick=st.integers(0, 20))
    def supervisor_deactivates(self, pick: int) -> None:
        live = [x for x in self._live() if x.is_open]
        link = live[pick % len(live)]
        approval = self.world.approval("void", link.reference, link.amount)
        # Refused when the customer paid first (then recorded) or the provider did not confirm.
        with contextlib.suppress(ServiceError):
            self.run(self.links.deactivate(link.id, operator=self.world.clerk, approval=approval))

    @precondition(lambda self: any(x.payment_id for x in self._live()))
    @rule(pick=st.integers(0, 20), part=st.sampled_from([None, 700]), pending=st.booleans())
    def supervisor_refunds(self, pick: int, part: int | None, pending: bool) -> None:
        paid = [x for x in self._live() if x.payment_id]
        link = paid[pick % len(paid)]
        left = self.run(self.links.refundable(link.id))
        amount = left if part is None else Money(min(part, left.cents))
        if amount.cents <= 0:
            return
        if pending:
            self.stripe.admin("POST", "refunds/pending", {"count": "1"})
        approval = self.world.approval("refund", link.reference, amount)
        try:
            self.run(
                self.links.refund(link.id, amount, operator=self.world.clerk, approval=approval)
            )
        except ServiceError:
            pass  # pending, refused or not confirmed: never shown as returned
        finally:
            self.stripe.admin("POST", "refunds/pending", {"count": "0"})

    @rule(succeed=st.booleans())
    def a_pending_refund_ends(self, succeed: bool) -> None:
        pending = [
            r for r in self.stripe.admin("GET", "refunds", {})["data"] if r["status"] == "pending"
        ]
        if pending:
            self.stripe.admin(
                "POST",
                f"refunds/{pending[0]['id']}/settle",
                {"outcome": "succeeded" if succeed else "failed"},
            )

    @rule()
    def poll(self) -> None:
        self.run(self.links.poll_once())

    @rule()
    def restart(self) -> None:
        """The app closes and opens again: a new poller on the same ledger and cursor."""
        self.links = LinkService(
            self.world.services.ledger,
            self.links.gateway,
            self.world.services.operators,  # type: ignore[arg-type]
            station="Counter 1",
            settings=self.links.settings,
        )

    @rule()
    def post_to_servicetitan(self) -> None:
        reconcile = self.world.services.reconcile
        assert reconcile is not None
        self.run(reconcile.drain_once(wait_for_retries=False, deadline=15))

    def _post_everything(self) -> None:
        reconcile = self.world.services.reconcile
        assert reconcile is not None
        # A refund waits for its sale's posting: retries are waited for (briefly, in tests).
        self.run(reconcile.drain_once(wait_for_retries=True, deadline=3))

    @rule()
    def settle(self) -> None:
        """Poll (reading every open link directly) and post; then the books must balance."""
        self.links._last_read = -1e9
        self.run(self.links.poll_once())
        self._post_everything()
        payments, refunds = self._provider()
        collected = sum(p.amount_cents for _link, p in payments.values())
        refunded = sum(r["amount"] for r in refunds if r["status"] == "succeeded")
        posted = sum(sum(v) for v in self._posted().values())
        person = sum(
            t.approved_cents
            for t, state in self._link_txns()
            if state == OutboxState.NEEDS_ATTENTION.value and t.kind != TxnKind.REFUND.value
        )
        assert collected - refunded == posted + person, (collected, refunded, posted, person)
        # A link paid twice: every extra payment refunded in full, or waiting for a person.
        first = {x.payment_id for x in self._live() if x.payment_id}
        for payment_id, (_link, p) in payments.items():
            if payment_id in first:
                continue
            back = sum(
                r["amount"]
                for r in refunds
                if r["payment_intent"] == payment_id and r["status"] == "succeeded"
            )
            waiting = any(
                t.host_ref == payment_id and state == OutboxState.NEEDS_ATTENTION.value
                for t, state in self._link_txns()
            )
            assert back == p.amount_cents or waiting, (payment_id, back, p.amount_cents)

    # -- after every step ---------------------------------------------------------------------

    @invariant()
    def never_posted_twice(self) -> None:
        for marker, amounts in self._posted().items():
            assert len(amounts) == 1, (marker, amounts)

    @invariant()
    def shown_paid_or_refunded_only_when_the_provider_says_so(self) -> None:
        payments, refunds = self._provider()
        succeeded = {r["id"] for r in refunds if r["status"] == "succeeded"}
        for link in self._links():
            if link.state in PAID_STATES:
                assert link.payment_id in payments, link
            else:
                assert link.transaction_id is None, link
        for txn, _state in self._link_txns():
            if txn.kind == TxnKind.REFUND.value and txn.state in (
                TxnState.APPROVED.value,
                TxnState.POSTED.value,
                TxnState.RECONCILED.value,
            ):
                assert txn.host_ref in succeeded, (txn.ecr_ref, txn.host_ref, txn.state)


TestLinkFlows = LinkFlows.TestCase
TestLinkFlows.settings = settings(
    max_examples=4,
    stateful_step_count=12,
    deadline=None,
    phases=(Phase.explicit, Phase.generate),  # no shrinking: each example runs live servers
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
