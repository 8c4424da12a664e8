"""Fault injection: 429 storms, 500 bursts, slow replies, commit-then-drop, POST switched off."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from posplus_tui.domain.money import Money
from posplus_tui.servicetitan import (
    NotFoundError,
    OutcomeUnknown,
    RateLimited,
    ServerUnavailable,
    ServiceTitanError,
    ValidationError,
)

from .conftest import make_client

POST_PAYMENTS = "POST /accounting/v2/tenant/{tenant}/payments"
GET_TYPES = "GET /accounting/v2/tenant/{tenant}/payment-types"


async def test_a_429_storm_is_ridden_out_within_bounds(st, sandbox):
    sandbox.faults.throttle_next(3, retry_after=0)
    types = await st.list_payment_types()
    assert types and sandbox.stats.rate_limited == 3
    assert sandbox.stats.by_route[GET_TYPES] == 4


async def test_a_longer_429_storm_gives_a_rate_limited_error(sandbox, base_url):
    sandbox.faults.throttle_next(50, retry_after=0)
    async with make_client(sandbox, base_url, max_429_retries=4) as st:
        with pytest.raises(RateLimited) as err:
            await st.list_payment_types()
    assert sandbox.stats.by_route[GET_TYPES] == 5  # first try + 4 retries, then it stops
    assert err.value.retry_after == 0
    assert "slow down" in err.value.title


async def test_retry_after_seconds_and_http_dates_are_honoured(st, sandbox):
    sandbox.faults.throttle_next(1, retry_after=1)
    start = time.monotonic()
    await st.list_payment_types()
    assert time.monotonic() - start >= 0.9
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=1), usegmt=True)
    sandbox.faults.throttle_next(1, retry_after=soon)
    await st.list_payment_types()
    assert sandbox.stats.rate_limited == 2


async def test_a_throttled_post_is_sent_again_because_nothing_was_done(st, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    sandbox.faults.throttle_next(2, retry_after=0, method="POST")
    paid = await st.create_payment(sandbox.cases["pos_plus_type_id"], [(inv_id, Money(100))])
    assert [p.id for p in await st.list_payments(applied_to_invoice_ids=[inv_id])] == [paid.id]


async def test_a_500_burst_on_reads_is_retried(st, sandbox):
    sandbox.faults.fail_next(3, 500)
    assert await st.list_payment_types()
    sandbox.faults.fail_next(2, 502)
    assert await st.get_invoice(sandbox.cases["paid_invoice_id"])


async def test_a_long_outage_is_server_unavailable(st, sandbox):
    sandbox.faults.fail_next(20, 503)
    with pytest.raises(ServerUnavailable) as err:
        await st.list_payment_types()
    assert "503" in err.value.title and err.value.fix


async def test_a_500_on_post_is_not_repeated_and_reports_outcome_unknown(st, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    sandbox.faults.fail_next(1, 500, method="POST")
    with pytest.raises(OutcomeUnknown) as err:
        await st.create_payment(sandbox.cases["pos_plus_type_id"], [(inv_id, Money(100))])
    assert sandbox.stats.by_route[POST_PAYMENTS] == 1
    assert "post" in err.value.operation
    assert await st.list_payments(applied_to_invoice_ids=[inv_id]) == []


async def test_commit_then_drop_is_outcome_unknown_and_a_read_back_finds_it(st, sandbox):
    inv = await st.get_invoice(sandbox.cases["unpaid_invoice_id"])
    marker = "POSPLUS-ECR000123"
    sandbox.faults.drop_next_payment_reply()
    with pytest.raises(OutcomeUnknown) as err:
        await st.create_payment(
            sandbox.cases["pos_plus_type_id"], [(inv.id, Money(2500))], memo=marker,
            export_id=marker,
        )  # fmt: skip
    assert "Do not post it again" in err.value.fix
    assert sandbox.stats.by_route[POST_PAYMENTS] == 1  # never resent
    found = await st.find_payments_with_marker(marker, invoice_ids=[inv.id])
    assert len(found) == 1 and found[0].total == Money(2500)
    assert (await st.get_invoice(inv.id)).balance == inv.balance - Money(2500)


async def test_a_slow_read_times_out_and_is_retried(sandbox, base_url):
    sandbox.faults.slow_next(1, seconds=1.0, method="GET")
    async with make_client(sandbox, base_url, timeout=0.3) as st:
        assert await st.list_payment_types()
    assert sandbox.stats.by_route[GET_TYPES] == 2


async def test_a_slow_post_is_outcome_unknown_and_still_lands(sandbox, base_url):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    async with make_client(sandbox, base_url, timeout=0.3) as st:
        await st.list_payment_types()
        sandbox.faults.slow_next(1, seconds=0.6, method="POST")
        with pytest.raises(OutcomeUnknown):
            await st.create_payment(
                sandbox.cases["pos_plus_type_id"], [(inv_id, Money(100))], memo="POSPLUS-SLOW"
            )
        assert sandbox.stats.by_route[POST_PAYMENTS] == 1
        # The server finishes the work after the client gave up: the read-back finds it.
        deadline = time.monotonic() + 5
        found: list = []
        while not found and time.monotonic() < deadline:
            found = await st.find_payments_with_marker("POSPLUS-SLOW", invoice_ids=[inv_id])
            if not found:
                await asyncio.sleep(0.1)
        assert len(found) == 1


async def test_payment_posting_switched_off_like_the_2026_catalog(st, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    sandbox.faults.disable_payment_posting()
    with pytest.raises(NotFoundError):
        await st.create_payment(sandbox.cases["pos_plus_type_id"], [(inv_id, Money(100))])
    sandbox.faults.disable_payment_posting(405)
    with pytest.raises(ServiceTitanError) as err:
        await st.create_payment(sandbox.cases["pos_plus_type_id"], [(inv_id, Money(100))])
    assert err.value.status == 405
    sandbox.faults.enable_payment_posting()
    await st.create_payment(sandbox.cases["pos_plus_type_id"], [(inv_id, Money(100))])


async def test_a_deleted_invoice_is_gone_from_lists(st, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    sandbox.app.export_page_size = 5000
    before = await st.export_invoices()
    page = before
    while page.has_more:
        page = await st.export_invoices(page.continue_from)
    sandbox.faults.delete_invoice(inv_id)
    with pytest.raises(NotFoundError):
        await st.get_invoice(inv_id)
    changed = await st.export_invoices(page.continue_from)
    assert [(i.id, i.active) for i in changed.items] == [(inv_id, False)]


async def test_tokens_revoked_server_side_are_renewed_once(st, sandbox):
    await st.list_payment_types()
    sandbox.faults.expire_tokens()
    await st.list_payment_types()
    assert st.token_requests == 2


async def test_a_drop_waits_for_a_payment_that_is_actually_saved(st, sandbox):
    inv_id = sandbox.cases["unpaid_invoice_id"]
    await st.list_payment_types()
    sandbox.faults.drop_next_payment_reply()
    sandbox.faults.expire_tokens()  # the first try gets 401: nothing saved, nothing to drop
    with pytest.raises(ValidationError):  # refused by the rules: nothing saved either
        await st.create_payment(sandbox.cases["pos_plus_type_id"], [(inv_id, Money(0))])
    assert sandbox.faults.pending == 1
    with pytest.raises(OutcomeUnknown):
        await st.create_payment(sandbox.cases["pos_plus_type_id"], [(inv_id, Money(300))])
    assert sandbox.faults.pending == 0
    assert len(await st.list_payments(applied_to_invoice_ids=[inv_id])) == 1
