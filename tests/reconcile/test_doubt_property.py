"""A hostile ServiceTitan, written apart from the sandbox: each POST may be saved or not and
answered with success, an unknown outcome, a 429 or a refusal, and lists and the export feed show
a payment only some seconds after the balance moved. Whatever it does, with the clock moving in
any steps, no marker is ever saved twice, and a row is called verified only when its one payment
is really there."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from posplus_tui.domain.money import Money
from posplus_tui.ledger import open_ledger
from posplus_tui.ledger.tables.outbox import OutboxRow
from posplus_tui.services.reconcile import model as m
from posplus_tui.services.reconcile.backoff import Backoff
from posplus_tui.services.reconcile.poster import (
    InvoiceState,
    NeedsAttention,
    OutcomeUnknown,
    Posting,
    PostResult,
    RemotePayment,
    RetryLater,
)
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.services.reconcile.worker import ReconcileWorker
from tests.reconcile.ledgerdata import add_approved

REPLIES = ("ok", "unknown", "retry", "refuse")


@dataclass
class _Saved:
    id: int
    marker: str
    invoice_id: int
    cents: int
    at: datetime


class HostileServiceTitan:
    """Only what the worker's Poster interface sees; no code shared with the sandbox."""

    def __init__(
        self, now: list[datetime], plan: Sequence[tuple[str, bool]], lag: float, totals: dict
    ) -> None:
        self.now = now
        self.plan = list(plan)
        self.lag = timedelta(seconds=lag)
        self.totals = dict(totals)
        self.balances = dict(totals)
        self.saved: list[_Saved] = []

    def _visible(self) -> list[_Saved]:
        return [p for p in self.saved if self.now[0] >= p.at + self.lag]

    async def prepare(self) -> None:
        return None

    async def post(self, posting: Posting) -> PostResult:
        reply, commit = self.plan.pop(0) if self.plan else ("ok", True)
        if reply == "ok" or (reply == "unknown" and commit):
            self.balances[posting.invoice_id] -= posting.amount.cents
            self.saved.append(
                _Saved(
                    len(self.saved) + 9_000,
                    posting.marker,
                    posting.invoice_id,
                    posting.amount.cents,
                    self.now[0],
                )
            )
        if reply == "ok":
            return PostResult(str(self.saved[-1].id), posting.invoice_id, -posting.amount)
        if reply == "unknown":
            raise OutcomeUnknown("ServiceTitan answered HTTP 408; it may or may not be saved.")
        if reply == "retry":
            raise RetryLater("429", retry_after=0)
        raise NeedsAttention("The request was refused.", "Fix it, then use Retry now.")

    def _found(self, p: _Saved, posting: Posting) -> PostResult:
        return PostResult(str(p.id), p.invoice_id, -posting.amount, found_existing=True)

    async def find(self, posting: Posting) -> PostResult | None:
        mine = [p for p in self._visible() if p.marker == posting.marker]
        return self._found(mine[0], posting) if mine else None

    async def find_in_feed(self, postings: Sequence[Posting], since: datetime) -> dict:
        out = {}
        for posting in postings:
            mine = [p for p in self._visible() if p.marker == posting.marker]
            if mine:
                out[posting.outbox_id] = self._found(mine[0], posting)
        return out

    async def read_invoices(self, invoice_ids: Sequence[int]) -> dict:
        return {
            i: InvoiceState(i, Money(self.balances[i]), Money(self.totals[i])) for i in invoice_ids
        }

    def _remote(self, p: _Saved) -> RemotePayment:
        return RemotePayment(
            str(p.id),
            "1",
            Money(p.cents),
            True,
            p.marker,
            p.marker,
            ((p.invoice_id, Money(p.cents)),),
        )

    async def get_payments(self, payment_ids: Sequence[str]) -> dict:
        return {str(p.id): self._remote(p) for p in self._visible() if str(p.id) in payment_ids}

    async def payments_on_invoice(self, invoice_id: int) -> list[RemotePayment]:
        return [self._remote(p) for p in self._visible() if p.invoice_id == invoice_id]


_LEDGER: dict[str, object] = {}
_INVOICE = [1_000]


def _shared_ledger():  # type: ignore[no-untyped-def]
    """One ledger file for every example (migrating one per example is most of the cost); each
    example uses invoices of its own, and leaves every row final."""
    if "ledger" not in _LEDGER:
        folder = Path(tempfile.mkdtemp(prefix="posplus-doubt-"))
        _LEDGER["ledger"] = open_ledger(f"sqlite:///{folder / 'ledger.sqlite3'}")
    return _LEDGER["ledger"]


async def _run(plan, lag: float, steps: Sequence[float]) -> None:  # type: ignore[no-untyped-def]
    ledger = _shared_ledger()
    _INVOICE[0] += 2
    a, b = _INVOICE[0], _INVOICE[0] + 1
    # rows an earlier (failed) example left open are not this example's business
    o = OutboxRow.__table__
    with ledger.engine.begin() as conn:
        conn.execute(update(o).where(o.c.state.in_(m.OPEN_STATES)).values(state=m.CANCELLED))
    totals = {a: 50_000, b: 50_000}
    rows = [
        add_approved(ledger, invoice_id=inv, invoice_number=str(inv), cents=cents)
        for inv, cents in ((a, 1_000), (a, 2_500), (b, 4_000))
    ]
    now = [datetime(2026, 11, 29, 9, 0, tzinfo=UTC)]
    st_fake = HostileServiceTitan(now, plan, lag, totals)
    fast = Backoff(base=1, factor=2, cap=20, jitter=0)
    worker = ReconcileWorker(
        ReconcileStore(ledger.engine),
        st_fake,
        lanes=1,
        backoff=fast,
        unknown_backoff=fast,
        doubt_wait=10,
        doubt_patience=40,
        max_attempts=6,
        clock=lambda: now[0],
    )
    worker._prepared = True

    def never_twice() -> None:
        for row in rows:
            assert sum(p.marker == row.marker for p in st_fake.saved) <= 1, row.marker

    for step in steps:
        await worker.run_batch()
        never_twice()
        now[0] += timedelta(seconds=step)
    st_fake.plan.clear()  # ServiceTitan behaves from now on
    for _ in range(30):
        await worker.run_batch()
        never_twice()
        now[0] += timedelta(seconds=10)
    store = ReconcileStore(ledger.engine)
    for row in rows:
        [view] = [
            v
            for v in store.postings(m.FINAL_STATES + m.OPEN_STATES, limit=100_000)
            if v.outbox_id == row.outbox_id
        ]
        saved = [p for p in st_fake.saved if p.marker == row.marker]
        # lists lagging longer than the patience: a person is shown the mismatch, fine
        final = (m.VERIFIED, m.NEEDS_ATTENTION) + ((m.MISMATCH,) if lag >= 40 else ())
        assert view.state in final, (view.state, view.last_error)
        if view.state == m.VERIFIED:
            assert len(saved) == 1 and view.st_payment_id == str(saved[0].id)
        if saved and view.state == m.NEEDS_ATTENTION:
            # a person is asked about a payment that is there: never told it failed cleanly
            assert "Retry now" in view.last_error or "by hand" in view.last_error


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.lists(
        st.tuples(st.sampled_from(REPLIES), st.booleans()).map(
            lambda t: (t[0], t[0] == "ok" or (t[0] == "unknown" and t[1]))
        ),
        max_size=8,
    ),
    lag=st.sampled_from([0.0, 4.0, 12.0, 35.0, 90.0]),
    steps=st.lists(st.sampled_from([0.5, 3.0, 8.0, 15.0]), min_size=3, max_size=12),
)
# found by a random run: a sibling posted moments ago, not listed yet, made the invoice's sum
# "wrong" while verifying a payment found after its own lag — a mismatch instead of a wait
@example(plan=[("unknown", False), ("unknown", True)], lag=35.0, steps=[0.5, 0.5, 0.5])
def test_a_hostile_servicetitan_never_gets_a_marker_twice(plan, lag, steps) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(_run(plan, lag, steps))
