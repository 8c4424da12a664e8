"""Service fixtures: a real ledger (SQLite file, or PostgreSQL), fast PIN hashing, a movable clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.services.operators import OperatorInfo, OperatorService

#: scrypt cost for tests: real algorithm, tiny work factor.
FAST_PIN_COST = 2**4


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 25, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest) -> str:
    """A fresh ledger at the newest schema (the migrations themselves are tests/ledger's)."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("migrated_sqlite_url"))
    return str(request.getfixturevalue("migrated_pg_url"))


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    led = open_ledger(ledger_url)
    yield led
    led.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def operators(ledger: Ledger, clock: Clock) -> OperatorService:
    return OperatorService(ledger, station="Counter 1", pin_cost=FAST_PIN_COST, clock=clock)


@dataclass
class Staff:
    admin: OperatorInfo
    supervisor: OperatorInfo
    clerk: OperatorInfo
    tech: OperatorInfo


@pytest.fixture
def staff(operators: OperatorService) -> Staff:
    admin = operators.add_sync("Alice Admin", "admin", "1111")
    return Staff(
        admin=admin,
        supervisor=operators.add_sync("Sam Super", "supervisor", "2222", by=admin),
        clerk=operators.add_sync(
            "Carl Clerk", "clerk", "3333", st_username=" Carl.C@Shop ", by=admin
        ),
        tech=operators.add_sync("Tina Tech", "technician", "4444", by=admin),
    )


# -- payments ------------------------------------------------------------------------------------

INVOICE_BALANCE = "250.00"
_INVOICE_IDS = itertools.count(51234)


def invoice_facts(
    balance: str = INVOICE_BALANCE,
    *,
    invoice_id: str | None = None,
    customer: str = "7001",
    seen_refs: frozenset[str] = frozenset(),
    seen_payment_ids: frozenset[str] = frozenset(),
):
    """An invoice as a lookup hands it to the engine. Each call is another invoice unless
    ``invoice_id`` says otherwise: the ledger holds what was charged on an invoice against its
    balance, so tests that are not about that charge invoices of their own."""
    from posplus_tui.domain.invoice import InvoiceFacts
    from posplus_tui.domain.money import Money

    invoice_id = invoice_id or str(next(_INVOICE_IDS))
    return InvoiceFacts(
        invoice_id=invoice_id,
        number=f"INV-{invoice_id}",
        customer_id=customer,
        balance=Money.parse(balance),
        job_number=f"J{invoice_id}",
        seen_refs=seen_refs,
        seen_payment_ids=seen_payment_ids,
    )


def make_payments(
    ledger: Ledger,
    operators: OperatorService,
    url: str = "sim://?timeout=0.5",
    *,
    station: str = "Counter 1",
    **kw,
):
    import drivers
    from posplus_tui.services.payments import PaymentService

    terminal = drivers.open_terminal(url)
    return PaymentService(ledger, terminal, operators, station=station, **kw), terminal
