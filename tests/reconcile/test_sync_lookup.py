"""Watching ServiceTitan (export feeds → invoice index + mismatches) and looking invoices up,
against the sandbox over real HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from posplus_tui.domain.money import Money
from posplus_tui.ledger import Ledger
from posplus_tui.ledger.tables.reconcile import InvoiceIndexRow
from posplus_tui.services.errors import InvalidRequest, UnknownRecord
from posplus_tui.services.lookup import LookupService
from posplus_tui.services.reconcile.events import EventKind, ReconcileEvent
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.services.sync import INVOICES_FEED, SyncService
from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import make_worker, unpaid_invoices
from tests.reconcile.ledgerdata import add_approved


def index_count(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(InvoiceIndexRow)).scalar_one()


async def test_sync_indexes_every_invoice_and_resumes_from_the_saved_token(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    sync = SyncService(ledger.engine, client)
    first = await sync.sync_once()
    assert first.invoices == len(sandbox.store.invoice_list) == index_count(ledger)
    assert sync.cursor(INVOICES_FEED)
    # a restart (a new service on the same ledger) reads only what changed since
    [(inv, _num, _)] = unpaid_invoices(sandbox, 1)
    await client.create_payment(sandbox.cases["cash_type_id"], [(inv, Money(1_000))])
    again = await SyncService(ledger.engine, client).sync_once()
    assert 1 <= again.invoices <= 3 and again.payments >= 1
    with ledger.engine.connect() as conn:
        balance = conn.execute(
            select(InvoiceIndexRow.balance_cents).where(InvoiceIndexRow.id == inv)
        ).scalar_one()
    assert balance == sandbox.store.invoices[inv].balance_cents


async def test_sync_flags_every_kind_of_mismatch_once(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    (a, num_a, _), (b, num_b, _), (c, _num_c, _), (d, num_d, _), (e, num_e, _) = unpaid_invoices(
        sandbox, 5, min_cents=20_000
    )
    for inv, num in ((a, num_a), (b, num_b), (d, num_d), (e, num_e)):
        add_approved(ledger, invoice_id=inv, invoice_number=num, cents=5_000)
    worker = make_worker(ledger, client)
    assert (await worker.drain_once()).verified == 4
    events: list[ReconcileEvent] = []
    sync = SyncService(ledger.engine, client)
    sync.bus.subscribe(events.append)
    assert (await sync.sync_once()).mismatches == []  # all is well so far

    ours, cash = sandbox.cases["pos_plus_type_id"], sandbox.cases["cash_type_id"]
    await client.create_payment(cash, [(a, Money(700))], memo="cash at the door")
    await client.create_payment(ours, [(b, Money(800))], memo="typed in by the office")
    await client.create_payment(ours, [(c, Money(900))], memo="POSPLUS-P261125UNKNOWN1")
    # someone edits invoice d after we charged it, and deletes invoice e
    edited = sandbox.store.invoices[d]
    old_total = edited.total_cents
    edited.sub_cents += 2_500
    edited.balance_cents += 2_500
    sandbox.store._touch_invoice(edited, sandbox.store.clock())
    sandbox.faults.delete_invoice(e)

    report = await sync.sync_once()
    kinds = {mm.kind: mm for mm in report.mismatches}
    assert set(kinds) == {
        "foreign_type",
        "by_hand",
        "unknown_ours",
        "total_changed",
        "invoice_deleted",
    }
    assert kinds["foreign_type"].invoice_id == a and "Cash" in kinds["foreign_type"].message
    assert kinds["by_hand"].invoice_id == b and kinds["by_hand"].actual == Money(800)
    assert kinds["unknown_ours"].invoice_id == c
    assert "POSPLUS-P261125UNKNOWN1" in kinds["unknown_ours"].message
    changed = kinds["total_changed"]
    assert (changed.expected, changed.actual) == (Money(old_total), Money(old_total + 2_500))
    assert (
        str(Money(old_total)) in changed.message
        and str(Money(old_total + 2_500)) in changed.message
    )
    assert kinds["invoice_deleted"].invoice_number == num_e
    assert sorted(e.kind for e in events) == [EventKind.MISMATCH] * 5
    # seen once, reported once: the same rows again add nothing
    assert (await SyncService(ledger.engine, client).sync_once()).mismatches == []
    assert len(ReconcileStore(ledger.engine).mismatches()) == 5


async def test_lookup_returns_every_match_for_an_ambiguous_number(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    lookup = LookupService(ledger.engine, client)
    job = sandbox.store.jobs[sandbox.cases["two_invoice_job_id"]]
    hits = await lookup.search(job.number)  # before any sync: from ServiceTitan
    both = {i.id for i in sandbox.store.invoice_list if i.job_id == job.id}
    assert {h.id for h in hits} >= both and len(both) == 2
    assert all(h.source == "servicetitan" for h in hits)
    again = await lookup.search(f"#{job.number}")  # now warm in the local index
    assert {h.id for h in again} == {h.id for h in hits}
    assert all(h.source == "index" for h in again)
    overridden = sandbox.store.invoices[sandbox.cases["overridden_number_invoice_id"]]
    [hit] = await lookup.search(overridden.number.lower())  # typed in lower case
    assert (hit.id, hit.matched_by) == (overridden.id, "number")
    [hit] = await lookup.search(overridden.number)
    assert hit.source == "index"
    [by_id] = await lookup.search(str(overridden.id))
    assert by_id.matched_by == "id"


async def test_lookup_by_name_and_phone_then_open_the_detail(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    await SyncService(ledger.engine, client).sync_once()
    lookup = LookupService(ledger.engine, client)
    [(target, _, _)] = unpaid_invoices(sandbox, 1)
    customer = sandbox.store.customers[sandbox.store.invoices[target].customer_id]
    theirs = {
        i.id for i in sandbox.store.invoice_list if i.customer_id == customer.id and not i.deleted
    }
    by_name = await lookup.search(customer.name.split()[-1].lower())
    assert theirs <= {h.id for h in by_name}
    assert all(h.source == "index" for h in by_name)
    phone = customer.phone_digits.split()[0]
    shown = f"({phone[:3]}) {phone[3:6]}-{phone[6:]}"
    by_phone = await lookup.search(shown)
    assert {h.id for h in by_phone} == theirs
    # pay one, then open it: customer, address, items and our payment are there
    inv = sandbox.store.invoices[target]
    row = add_approved(ledger, invoice_id=target, invoice_number=inv.number, cents=100)
    await make_worker(ledger, client).drain_once()
    detail = await lookup.open(target)
    assert detail.customer_name == customer.name
    assert detail.number == inv.number and detail.items
    assert detail.address
    assert phone in ["".join(ch for ch in d if ch.isdigit()) for d in detail.phones]
    [ours] = [p for p in detail.payments if p.ours]
    assert ours.amount == Money(100) and row.marker in ours.memo
    # after opening, the phone is remembered: the next phone search answers from the index
    again = await lookup.search(phone)
    assert {h.id for h in again} == theirs and all(h.source == "index" for h in again)


async def test_lookup_rejections_say_what_to_do(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    lookup = LookupService(ledger.engine, client)
    with pytest.raises(InvalidRequest) as info:
        await lookup.search("   ")
    assert "invoice number" in info.value.fix
    assert await lookup.search("999999999999") == []
    gone = unpaid_invoices(sandbox, 1)[0][0]
    sandbox.faults.delete_invoice(gone)
    with pytest.raises(UnknownRecord) as missing:
        await lookup.open(gone)
    assert "Search again" in missing.value.fix


async def test_a_page_being_written_when_the_next_fetch_fails_is_kept_with_its_token(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    """The next page is fetched while the last is written: when that fetch fails, the page in
    hand still commits with its own token, so the next pass starts right after it."""
    from posplus_tui.servicetitan import ServerUnavailable

    sandbox.app.export_page_size = 500
    real = client.export_invoices
    tokens: list[str | None] = []

    async def second_fails(continue_from=None, **kw):  # type: ignore[no-untyped-def]
        if len(tokens) == 1:
            raise ServerUnavailable("ServiceTitan did not answer in time to follow invoices.")
        page = await real(continue_from, **kw)
        tokens.append(page.continue_from)
        return page

    client.export_invoices = second_fails  # type: ignore[method-assign]
    sync = SyncService(ledger.engine, client)
    with pytest.raises(ServerUnavailable):
        await sync.sync_once()
    assert index_count(ledger) == 500
    assert sync.cursor(INVOICES_FEED) == tokens[0]
    client.export_invoices = real  # type: ignore[method-assign]
    await SyncService(ledger.engine, client).sync_once()
    assert index_count(ledger) == len(sandbox.store.invoice_list)
