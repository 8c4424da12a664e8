"""A write is certain only when its reply is complete or a documented "nothing was done".

Each fault commits the payment in the sandbox first, then answers oddly; the client must say
"unknown", never "failed" (which would invite a second post) and never crash on the reply.
"""

from __future__ import annotations

import time

import pytest

from posplus_tui.cli import main
from posplus_tui.domain.money import Money
from posplus_tui.servicetitan import OutcomeUnknown, ValidationError
from posplus_tui.servicetitan.sandbox import Sandbox
from tests.servicetitan.conftest import make_client, serve


def _open_invoice(sandbox: Sandbox) -> tuple[int, int]:
    inv = next(
        i
        for i in sandbox.store.invoice_list
        if i.adjustment_to_id is None and not i.deleted and i.balance_cents >= 5_000
    )
    return inv.id, inv.balance_cents


@pytest.mark.parametrize(
    ("reply", "status"),
    [
        ("status", 408),
        ("status", 500),
        ("status", 502),
        ("status", 201),
        ("status", 302),
        ("empty", 200),
        ("malformed", 200),
        ("status", 400),  # a 400 without the documented error body (a proxy's)
    ],
)
async def test_a_committed_post_with_an_odd_reply_is_unknown_not_failed(
    sandbox: Sandbox, base_url: str | None, reply: str, status: int
) -> None:
    invoice_id, balance = _open_invoice(sandbox)
    type_id = sandbox.cases["pos_plus_type_id"]
    sandbox.faults.commit_then_reply(1, reply, status=status)  # type: ignore[arg-type]
    async with make_client(sandbox, base_url) as st:
        with pytest.raises(OutcomeUnknown) as caught:
            await st.create_payment(type_id, [(invoice_id, Money(1_000))], memo="POSPLUS-T1")
        assert "may or may not" in caught.value.title
    # it really was saved: the caller must search before posting again
    assert sandbox.stats.payments_created == 1
    assert sandbox.store.invoices[invoice_id].balance_cents == balance - 1_000


async def test_a_documented_refusal_is_certain_and_nothing_was_saved(
    sandbox: Sandbox, base_url: str | None
) -> None:
    invoice_id, balance = _open_invoice(sandbox)
    async with make_client(sandbox, base_url) as st:
        with pytest.raises(ValidationError):
            await st.create_payment(
                sandbox.cases["pos_plus_type_id"], [(invoice_id, Money(balance + 100))]
            )
    assert sandbox.stats.payments_created == 0


async def test_retry_after_zero_still_waits_a_minimum(
    sandbox: Sandbox, base_url: str | None
) -> None:
    sandbox.faults.throttle_next(2, retry_after=0)
    async with make_client(sandbox, base_url, min_retry_after=0.2) as st:
        started = time.perf_counter()
        assert await st.list_payment_types()
        waited = time.perf_counter() - started
    assert waited >= 0.4, f"two 429s with Retry-After: 0 were retried after {waited:.2f}s"


async def test_late_visibility_hides_a_new_payment_from_lists_and_export_only(
    sandbox: Sandbox, base_url: str | None
) -> None:
    clock = [1_000_000.0]
    sandbox.store.clock = lambda: clock[0]
    invoice_id, balance = _open_invoice(sandbox)
    sandbox.faults.payments_visible_after(5)
    async with make_client(sandbox, base_url) as st:
        created = await st.create_payment(
            sandbox.cases["pos_plus_type_id"], [(invoice_id, Money(700))], memo="POSPLUS-LATE"
        )
        # the balance moves at once; the payment is not listed yet, in the list or the feed
        assert (await st.get_invoice(invoice_id)).balance.cents == balance - 700
        assert created.id not in [p.id for p in await st.list_payments(ids=[created.id])]
        listed = await st.list_payments(applied_to_invoice_ids=[invoice_id])
        assert created.id not in [p.id for p in listed]
        feed = [p.id async for page in st.follow_export("payments") for p in page.items]
        assert created.id not in feed
        clock[0] += 5.1
        assert [p.id for p in await st.list_payments(ids=[created.id])] == [created.id]
        feed = [p.id async for page in st.follow_export("payments") for p in page.items]
        assert created.id in feed


async def test_fault_cli_targets_a_path_and_commits_before_an_odd_reply(
    sandbox: Sandbox, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    url = serve(sandbox, request)
    opts = ["--url", url, "--app-key", sandbox.credentials.app_key]
    assert main(["sandbox", "fault", "408", "--path", "/invoices", *opts]) == 0
    assert main(["sandbox", "fault", "commit-status", "--status", "408", "--path", "/payments",
                 "--method", "POST", *opts]) == 0  # fmt: skip
    assert main(["sandbox", "fault", "late-visibility", "--seconds", "3", *opts]) == 0
    out = capsys.readouterr().out
    assert "saved, then answered with HTTP 408" in out and "3s after" in out
    assert main(["sandbox", "fault", "bogus", *opts]) == 2
    invoice_id, _ = _open_invoice(sandbox)
    async with make_client(sandbox, url, max_read_retries=0) as st:
        types = await st.list_payment_types()  # not a path the 408 targets
        assert types
        with pytest.raises(OutcomeUnknown):
            await st.create_payment(sandbox.cases["pos_plus_type_id"], [(invoice_id, Money(100))])
    assert sandbox.stats.payments_created == 1
    assert sandbox.store.visibility_delay == 3
