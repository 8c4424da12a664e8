"""Two stations interleaving on one invoice, step by step, against a ServiceTitan that is slow
to show payments: whatever the order, the customer is never charged more than the balance.

A hypothesis state machine drives the ledger's own transactions (the engine's intent, sent,
settle and posting boundaries) on a real SQLite file. Each station reads ServiceTitan (balance and
the payments it lists, which may lag the balance) when it likes and charges from that reading,
however stale; terminals approve (in full or in part), decline or go silent; recovery settles the
silent ones later; the outbox posts approvals to ServiceTitan in any order.

Invariant (money): what the terminals approved on the invoice never exceeds its balance.
"""

from __future__ import annotations

import itertools
import secrets
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import text

from drivers import Approved, Declined, Unknown
from posplus_tui.domain.holds import InvoiceHolds
from posplus_tui.domain.invoice import InvoiceFacts
from posplus_tui.domain.money import Money
from posplus_tui.domain.transactions import MONEY_MOVED_STATES, Tender, TxnEvent, TxnKind
from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.services.errors import InvoiceBusy
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.txn_store import IntentSpec, TxnStore, apply_posting_event

BALANCE = 10_000
_FOLDER = Path(tempfile.mkdtemp(prefix="posplus-holds-"))
_LEDGER: list[tuple[Ledger, int]] = []
_INVOICES = itertools.count(1)


def _ledger() -> tuple[Ledger, int]:
    """One ledger for every example (each charges an invoice of its own), and its clerk's id."""
    if not _LEDGER:
        ledger = open_ledger(f"sqlite:///{_FOLDER / 'ledger.sqlite3'}")
        clerk = OperatorService(ledger, station="Counter 1", pin_cost=16).add_sync(
            "Carl Clerk", "clerk", "3333"
        )
        _LEDGER.append((ledger, clerk.id))
    return _LEDGER[0]


STATIONS = ("Counter 1", "Counter 2")


class TwoStations(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger, self.clerk = _ledger()
        self.invoice = f"H{next(_INVOICES)}-{secrets.token_hex(3)}"
        self.stores = {s: TxnStore(self.ledger, station=s) for s in STATIONS}
        self.readings: dict[str, tuple[int, frozenset[str]]] = {}
        self.in_flight: dict[str, tuple[int, str, int]] = {}  # station → (id, ref, amount)
        self.unknown: list[tuple[str, int, str, int]] = []  # (station, id, ref, amount)
        self.approved: dict[str, int] = {}  # ref → approved cents, not posted yet
        self.st_posted: dict[str, int] = {}  # ServiceTitan: payments applied (the balance)
        self.st_listed: set[str] = set()  # ServiceTitan: payments its list shows (may lag)

    # -- ServiceTitan ------------------------------------------------------------------------

    @property
    def st_balance(self) -> int:
        return BALANCE - sum(self.st_posted.values())

    @rule(station=st.sampled_from(STATIONS))
    def read_servicetitan(self, station: str) -> None:
        self.readings[station] = (self.st_balance, frozenset(self.st_listed))

    @precondition(lambda self: bool(self.approved))
    @rule(pick=st.integers(0, 50))
    def outbox_posts(self, pick: int) -> None:
        ref = sorted(self.approved)[pick % len(self.approved)]
        cents = self.approved.pop(ref)
        with self.ledger.session() as session:
            txn_id = session.execute(
                text("SELECT id FROM transactions WHERE ecr_ref = :r"), {"r": ref}
            ).scalar_one()
            apply_posting_event(session, txn_id, TxnEvent.POSTED)
        self.st_posted[ref] = cents

    @precondition(lambda self: bool(set(self.st_posted) - self.st_listed))
    @rule(pick=st.integers(0, 50))
    def payment_list_catches_up(self, pick: int) -> None:
        late = sorted(set(self.st_posted) - self.st_listed)
        self.st_listed.add(late[pick % len(late)])

    # -- stations ----------------------------------------------------------------------------

    def _facts(self, station: str) -> InvoiceFacts:
        balance, seen = self.readings[station]
        return InvoiceFacts(self.invoice, f"INV-{self.invoice}", "77", Money(balance), "", seen)

    @rule(station=st.sampled_from(STATIONS), share=st.integers(1, 100))
    def press_charge(self, station: str, share: int) -> None:
        """The clerk charges part or all of the balance they last read (however stale)."""
        if station not in self.readings or station in self.in_flight:
            return
        facts = self._facts(station)
        if facts.balance.cents <= 0:
            return
        amount = max(1, facts.balance.cents * share // 100)
        store = self.stores[station]
        kind = TxnKind.SALE if amount == facts.balance.cents else TxnKind.DEPOSIT
        spec = IntentSpec(kind, Tender.CARD, Money(amount), self.clerk, "Carl Clerk", facts)
        try:
            view = store.write_intent(spec)
        except InvoiceBusy as exc:
            assert "Invoice INV-" in exc.message and exc.fix
            return
        store.mark_sent(view.id)
        self.in_flight[station] = (view.id, view.ecr_ref, amount)

    @precondition(lambda self: bool(self.in_flight))
    @rule(
        pick=st.sampled_from(STATIONS),
        outcome=st.sampled_from(["approve", "partial", "decline", "silent"]),
    )
    def terminal_answers(self, pick: str, outcome: str) -> None:
        station = pick if pick in self.in_flight else next(iter(self.in_flight))
        txn_id, ref, amount = self.in_flight.pop(station)
        self._settle(station, txn_id, ref, amount, outcome)

    @precondition(lambda self: bool(self.unknown))
    @rule(pick=st.integers(0, 50), outcome=st.sampled_from(["approve", "partial", "decline"]))
    def recovery_asks_the_terminal(self, pick: int, outcome: str) -> None:
        station, txn_id, ref, amount = self.unknown.pop(pick % len(self.unknown))
        self._settle(station, txn_id, ref, amount, outcome)

    def _settle(self, station: str, txn_id: int, ref: str, amount: int, outcome: str) -> None:
        store = self.stores[station]
        if outcome in ("approve", "partial"):
            cents = amount if outcome == "approve" else max(1, amount // 2)
            store.settle(txn_id, Approved(ref, cents, amount, "A1", "H1", "T1"), actor="t")
            self.approved[ref] = cents
        elif outcome == "decline":
            store.settle(txn_id, Declined(ref, "05", "DO NOT HONOR"), actor="t")
        else:
            store.settle(txn_id, Unknown(ref, "reply lost"), actor="t")
            self.unknown.append((station, txn_id, ref, amount))

    # -- money -------------------------------------------------------------------------------

    @invariant()
    def never_more_than_the_balance(self) -> None:
        with self.ledger.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT state, approved_cents FROM transactions WHERE invoice_id = :i"),
                {"i": self.invoice},
            ).all()
        taken = sum(c for s, c in rows if s in {m.value for m in MONEY_MOVED_STATES})
        assert taken <= BALANCE, (taken, rows)

    @invariant()
    def one_charge_at_a_time(self) -> None:
        assert len(self.in_flight) <= 1

    @invariant()
    def what_is_offered_never_exceeds_what_is_owed(self) -> None:
        """Every station's offer, from any reading, leaves room only for what is truly owed."""
        taken = sum(self.approved.values()) + sum(self.st_posted.values())
        for station in self.readings:
            holds: InvoiceHolds = self.stores[station].invoice_holds(self._facts(station))
            assert holds.available.cents <= BALANCE - taken


TwoStations.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_two_stations_never_charge_more_than_the_balance = TwoStations.TestCase
