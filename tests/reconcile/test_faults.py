"""Each fault the sandbox injects, over real HTTP: the row ends posted once or visibly needs
attention, never twice."""

from __future__ import annotations

import pytest

from posplus_tui.ledger import Ledger
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.services.reconcile.worker import ReconcileStopped
from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import make_worker, unpaid_invoices
from tests.reconcile.ledgerdata import Approved, add_approved
from tests.reconcile.test_posting import outbox_state, payments_with


def _sales(ledger: Ledger, sandbox: Sandbox, n: int, cents: int = 1_000) -> list[Approved]:
    return [
        add_approved(ledger, invoice_id=i, invoice_number=num, cents=cents)
        for i, num, _ in unpaid_invoices(sandbox, n)
    ]


def _assert_once_each(ledger: Ledger, sandbox: Sandbox, rows: list[Approved]) -> None:
    for row in rows:
        state, pid, err = outbox_state(ledger, row.outbox_id)
        found = payments_with(sandbox, row.marker)
        assert len(found) == 1, (row.marker, found)
        assert state == "verified", (state, err)
        assert pid == str(found[0].id)


async def test_429_storm_backs_off_and_posts_everything_once(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    rows = _sales(ledger, sandbox, 6)
    events: list[ReconcileEvent] = []
    worker = make_worker(ledger, client)
    worker.bus.subscribe(events.append)
    await worker.prepare()
    sandbox.faults.throttle_next(40, retry_after=0)
    progress = await worker.drain_once()
    _assert_once_each(ledger, sandbox, rows)
    assert progress.retried >= 1
    retries = [e for e in events if e.kind == EventKind.RETRY]
    assert retries and all("Retry in" in e.message and e.retry_in is not None for e in retries)
    assert sandbox.stats.rate_limited >= 40


async def test_500_burst_on_posting_is_searched_before_posting_again(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    rows = _sales(ledger, sandbox, 4)
    sandbox.faults.fail_next(6, 500, method="POST", path_contains="/payments")
    worker = make_worker(ledger, client)
    progress = await worker.drain_once()
    _assert_once_each(ledger, sandbox, rows)
    assert progress.retried >= 4 and progress.found_existing == 0


async def test_commit_then_drop_finds_the_payment_instead_of_posting_twice(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    rows = _sales(ledger, sandbox, 3)
    sandbox.faults.drop_next_payment_reply(2)
    events: list[ReconcileEvent] = []
    worker = make_worker(ledger, client)
    worker.bus.subscribe(events.append)
    progress = await worker.drain_once()
    _assert_once_each(ledger, sandbox, rows)
    assert progress.found_existing == 2
    found = [e for e in events if e.kind == EventKind.POSTED and "not posted again" in e.message]
    assert len(found) == 2


async def test_payments_post_disabled_stops_with_a_setup_error_and_recovers(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    rows = _sales(ledger, sandbox, 2)
    sandbox.faults.disable_payment_posting()
    worker = make_worker(ledger, client)
    with pytest.raises(ReconcileStopped) as info:
        await worker.drain_once()
    assert "no longer accepts payments" in info.value.message
    assert "by hand" in info.value.fix
    store = ReconcileStore(ledger.engine)
    for row in rows:
        state, pid, err = outbox_state(ledger, row.outbox_id)
        assert state in ("pending", "posting") and pid is None
        assert "no longer accepts payments" in (err or "")
        assert payments_with(sandbox, row.marker) == []
    assert any(e.kind == EventKind.SETUP_ERROR for e in store.history())
    # ServiceTitan comes back; a supervisor retries now: each posts exactly once
    sandbox.faults.enable_payment_posting()
    for row in rows:
        store.retry_now(row.outbox_id, "supervisor")
    await worker.drain_once()
    _assert_once_each(ledger, sandbox, rows)


async def test_deleted_invoice_needs_attention_and_the_rest_keeps_flowing(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    rows = _sales(ledger, sandbox, 3)
    gone = rows[1]
    invoice_id = unpaid_invoices(sandbox, 3)[1][0]
    sandbox.faults.delete_invoice(invoice_id)
    worker = make_worker(ledger, client)
    progress = await worker.drain_once()
    assert progress.needs_attention == 1
    _assert_once_each(ledger, sandbox, [rows[0], rows[2]])
    state, pid, err = outbox_state(ledger, gone.outbox_id)
    assert state == "needs_attention" and pid is None
    assert "no longer exists" in (err or "") and "What to do:" in (err or "")
    assert payments_with(sandbox, gone.marker) == []


async def test_balance_would_go_negative_needs_attention_with_the_server_message(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    (inv, num, bal), (inv2, num2, _) = unpaid_invoices(sandbox, 2)
    # someone takes most of it by hand in ServiceTitan before our sale is posted
    from posplus_tui.domain.money import Money

    await client.create_payment(sandbox.cases["cash_type_id"], [(inv, Money(bal - 500))])
    over = add_approved(ledger, invoice_id=inv, invoice_number=num, cents=bal)
    fine = add_approved(ledger, invoice_id=inv2, invoice_number=num2, cents=700)
    worker = make_worker(ledger, client)
    progress = await worker.drain_once()
    assert progress.needs_attention == 1
    state, pid, err = outbox_state(ledger, over.outbox_id)
    assert state == "needs_attention" and pid is None
    assert "below zero" in (err or "")  # the server's own words
    assert "What to do:" in (err or "") and "refund" in (err or "")
    assert payments_with(sandbox, over.marker) == []
    _assert_once_each(ledger, sandbox, [fine])
    # needs attention is final: another drain does not retry it on its own
    again = await worker.drain_once()
    assert again.claimed == 0


@pytest.mark.parametrize(
    ("name", "says", "fix"),
    [
        ("Counter App", "no payment type named “Counter App”", "create one payment type"),
        ("POS+ (old terminal)", "inactive", "reactivate"),
        ("pos+", "No payment type is named exactly “pos+”", "Rename it"),
    ],
)
async def test_payment_type_problems_stop_before_posting_and_say_what_to_fix(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient, name: str, says: str, fix: str
) -> None:
    from posplus_tui.services.reconcile.events import EventBus
    from posplus_tui.services.reconcile.st_poster import ServiceTitanPoster
    from posplus_tui.services.reconcile.worker import ReconcileWorker

    [row] = _sales(ledger, sandbox, 1)
    worker = ReconcileWorker(
        ReconcileStore(ledger.engine), ServiceTitanPoster(client, name), bus=EventBus()
    )
    with pytest.raises(ReconcileStopped) as info:
        await worker.drain_once()
    assert says in info.value.message and fix in info.value.fix
    assert outbox_state(ledger, row.outbox_id)[0] == "pending"
    assert payments_with(sandbox, row.marker) == []
    [event] = ReconcileStore(ledger.engine).history()
    assert event.kind == EventKind.SETUP_ERROR and "Payment Types" in event.message


async def test_two_payments_with_our_marker_stop_for_a_person_instead_of_guessing(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    from sqlalchemy import update

    from posplus_tui.domain.money import Money
    from posplus_tui.ledger.tables.outbox import OutboxRow

    [row] = _sales(ledger, sandbox, 1, cents=1_500)
    [(inv, _, _)] = unpaid_invoices(sandbox, 1)
    for _ in range(2):  # e.g. someone re-keyed it from the receipt, marker and all
        await client.create_payment(
            sandbox.cases["pos_plus_type_id"], [(inv, Money(1_500))], memo=row.marker
        )
    o = OutboxRow.__table__
    with ledger.engine.begin() as conn:  # our own POST's reply was lost: the row is in doubt
        conn.execute(update(o).where(o.c.id == row.outbox_id).values(state="posting", attempts=1))
    progress = await make_worker(ledger, client).drain_once()
    assert progress.needs_attention == 1 and progress.posted == 0
    state, pid, err = outbox_state(ledger, row.outbox_id)
    assert state == "needs_attention" and pid is None
    assert "2 payments carrying" in (err or "") and "Deactivate all but one" in (err or "")
    assert len(payments_with(sandbox, row.marker)) == 2  # nothing added by us


async def test_a_reply_slower_than_the_timeout_is_waited_out_before_searching(
    ledger: Ledger, sandbox: Sandbox, base_url: str
) -> None:
    """The server may still save a payment after the client gave up waiting: the search must
    come only after the server's own deadline, or the row would be posted twice."""
    rows = _sales(ledger, sandbox, 2)
    st = sandbox.client_for(base_url, timeout=0.5, backoff_base=0.01, backoff_cap=0.05)
    async with st:
        worker = make_worker(ledger, st, doubt_wait=2.0)
        await worker.prepare()
        sandbox.faults.slow_next(1, seconds=1.2, method="POST", path_contains="/payments")
        progress = await worker.drain_once()
    _assert_once_each(ledger, sandbox, rows)
    assert progress.found_existing == 1
