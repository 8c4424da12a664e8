"""Supervisor actions through the worker, verification mismatches with both numbers, the attempt
limit, and the ``posplus reconcile`` command (status, sync, once, setup errors)."""

from __future__ import annotations

import pytest

from posplus_tui.cli import main
from posplus_tui.domain.money import Money
from posplus_tui.ledger import Ledger
from posplus_tui.services.reconcile.backoff import Backoff
from posplus_tui.services.reconcile.events import EventKind
from posplus_tui.services.reconcile.store import ReconcileStore
from posplus_tui.servicetitan import ServiceTitanClient
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.reconcile.conftest import make_worker, unpaid_invoices
from tests.reconcile.ledgerdata import add_approved
from tests.reconcile.test_crash import cli_env
from tests.reconcile.test_posting import outbox_state, payments_with


async def test_marked_posted_by_hand_with_a_payment_id_is_still_verified(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    (inv, num, _), (inv2, num2, _) = unpaid_invoices(sandbox, 2)
    good = add_approved(ledger, invoice_id=inv, invoice_number=num, cents=4_200)
    wrong = add_approved(ledger, invoice_id=inv2, invoice_number=num2, cents=4_200)
    store = ReconcileStore(ledger.engine)
    # the office typed both in by hand; for the second they typed a different amount
    typed = await client.create_payment(
        sandbox.cases["pos_plus_type_id"], [(inv, Money(4_200))], memo="typed by Ana"
    )
    typed_wrong = await client.create_payment(
        sandbox.cases["pos_plus_type_id"], [(inv2, Money(4_000))], memo="typed by Ana"
    )
    store.mark_posted_by_hand(good.outbox_id, "Sam", "Ana typed it", st_payment_id=str(typed.id))
    store.mark_posted_by_hand(
        wrong.outbox_id, "Sam", "Ana typed it", st_payment_id=str(typed_wrong.id)
    )
    progress = await make_worker(ledger, client).drain_once()
    assert (progress.verified, progress.mismatches, progress.posted) == (1, 1, 0)
    assert outbox_state(ledger, good.outbox_id)[:2] == ("verified", str(typed.id))
    state, _, err = outbox_state(ledger, wrong.outbox_id)
    assert state == "mismatch"
    assert "$40.00" in (err or "") and "$42.00" in (err or "")  # both numbers
    [mm] = store.mismatches()
    assert (mm.expected, mm.actual) == (Money(4_200), Money(4_000))
    assert payments_with(sandbox, good.marker) == [] and payments_with(sandbox, wrong.marker) == []


async def test_transient_failures_stop_at_the_attempt_limit_and_need_attention(
    ledger: Ledger, sandbox: Sandbox, client: ServiceTitanClient
) -> None:
    [(inv, num, _)] = unpaid_invoices(sandbox, 1)
    row = add_approved(ledger, invoice_id=inv, invoice_number=num, cents=1_000)
    worker = make_worker(ledger, client, max_attempts=3, backoff=Backoff(0.01, 1, 0.01, 0))
    await worker.prepare()
    sandbox.faults.throttle_next(100, retry_after=0, method="POST")
    progress = await worker.drain_once()
    state, pid, err = outbox_state(ledger, row.outbox_id)
    assert state == "needs_attention" and pid is None
    assert "kept failing after 3 tries" in (err or "") and "Retry now" in (err or "")
    assert progress.needs_attention == 1
    assert payments_with(sandbox, row.marker) == []
    sandbox.faults.clear()
    ReconcileStore(ledger.engine).retry_now(row.outbox_id, "Sam")
    await worker.drain_once()
    assert outbox_state(ledger, row.outbox_id)[0] == "verified"
    assert len(payments_with(sandbox, row.marker)) == 1
    kinds = [e.kind for e in ReconcileStore(ledger.engine).history(outbox_id=row.outbox_id)]
    assert kinds.count(EventKind.RETRY) == 2 and EventKind.NEEDS_ATTENTION in kinds


def test_cli_once_status_and_sync(
    ledger: Ledger,
    sandbox: Sandbox,
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in cli_env(sandbox, base_url, ledger.url).items():
        if key.startswith("POSPLUS_"):
            monkeypatch.setenv(key, value)
    (inv, num, bal), (inv2, num2, _) = unpaid_invoices(sandbox, 2)
    ok = add_approved(ledger, invoice_id=inv, invoice_number=num, cents=2_000)
    too_much = add_approved(ledger, invoice_id=inv2, invoice_number=num2, cents=99_999_999)

    assert main(["reconcile", "--once", "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert "verified 1, needs attention 1" in out
    assert f"invoice {num2}" in out and "below zero" in out
    assert len(payments_with(sandbox, ok.marker)) == 1
    assert payments_with(sandbox, too_much.marker) == []

    assert main(["reconcile", "--status"]) == 3
    out = capsys.readouterr().out
    assert "2 postings" in out and "needs attention 1" in out and "per hour" in out

    assert main(["reconcile", "--sync"]) == 0
    out = capsys.readouterr().out
    assert f"Read {len(sandbox.store.invoice_list)} invoice" in out
    assert bal  # the invoice existed with a balance


def test_cli_says_what_is_missing(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("POSPLUS_DATABASE_URL", ledger.url)
    monkeypatch.setenv("POSPLUS_ENVIRONMENT", "sandbox")
    monkeypatch.setenv("POSPLUS_CLIENT_SECRET", "x")
    assert main(["reconcile", "--once"]) == 2
    err = capsys.readouterr().err
    assert "tenant_id" in err and "client_id" in err and "app_key" in err and "Setup" in err
