"""What every terminal driver does, whatever its protocol: the same calls, the same typed results,
the same money rules. Each test runs against every driver's simulator (see ``conftest.py``);
what a protocol cannot do is read from ``terminal.capabilities``, never caught as an exception."""

from __future__ import annotations

import asyncio

import pytest

from drivers import (
    AchAccount,
    Approved,
    BatchClosed,
    Cancelled,
    Declined,
    EntryMethod,
    NotFound,
    TerminalError,
    TerminalState,
    Unknown,
)
from tests.drivers.conformance.conftest import Harness


async def test_initialize_answers(harness: Harness) -> None:
    info = await harness.term.initialize()
    assert info.model and info.serial_number


async def test_sale_approved_with_progress_and_last4_only(harness: Harness) -> None:
    states: list[TerminalState] = []
    result = await harness.term.sale(1234, "P0000001", progress=states.append, invoice="1042")
    assert isinstance(result, Approved) and result.ecr_ref == "P0000001"
    assert result.approved_cents == result.requested_cents == 1234 and not result.is_partial
    assert result.auth_code and result.host_ref and len(result.last4) == 4 and result.brand
    assert states[0] is TerminalState.SENDING and states[-1] is TerminalState.DONE
    assert TerminalState.WAITING_FOR_CARD in states
    assert harness.sales_reached("P0000001") == 1
    assert harness.approved_sales("P0000001") == [1234]


@pytest.mark.parametrize(
    ("amount", "code", "text"), [(1001, "05", "DO NOT HONOR"), (2502, "51", "INSUFFICIENT FUNDS")]
)
async def test_declines_by_test_amount_and_status_agrees(
    harness: Harness, amount: int, code: str, text: str
) -> None:
    assert await harness.term.sale(amount, "PD1") == Declined("PD1", code, text)
    assert await harness.term.status("PD1") == Declined("PD1", code, text)
    assert harness.approved_sales("PD1") == []


async def test_partial_approval_keeps_the_approved_amount(harness: Harness) -> None:
    result = await harness.term.sale(1005, "PP1")
    assert isinstance(result, Approved) and result.is_partial
    assert (result.approved_cents, result.requested_cents) == (502, 1005)
    status = await harness.term.status("PP1")
    assert isinstance(status, Approved) and status.approved_cents == 502
    assert harness.approved_sales("PP1") == [502]


async def test_cardholder_cancel(harness: Harness) -> None:
    assert isinstance(await harness.term.sale(1007, "PC1"), Cancelled)
    assert isinstance(await harness.term.status("PC1"), Cancelled)


async def test_lost_reply_is_unknown_and_status_settles_it_without_a_second_sale(
    harness: Harness,
) -> None:
    result = await harness.term.sale(1009, "PL1")
    assert isinstance(result, Unknown) and "status" in result.reason
    settled = await harness.term.status("PL1")
    assert isinstance(settled, Approved) and settled.approved_cents == 1009
    assert harness.sales_reached("PL1") == 1 and harness.approved_sales("PL1") == [1009]


async def test_never_answered_is_unknown_then_not_found(harness: Harness) -> None:
    assert isinstance(await harness.term.sale(1011, "PN1"), Unknown)
    assert harness.sales_reached("PN1") == 1
    assert await harness.term.status("PN1") == NotFound("PN1")


async def test_status_of_a_reference_never_used(harness: Harness) -> None:
    assert await harness.term.status("PNEVER") == NotFound("PNEVER")


async def test_refunds(harness: Harness) -> None:
    sale = await harness.term.sale(5000, "PR0")
    assert isinstance(sale, Approved)
    part = await harness.term.refund(2000, "PR1", sale.host_ref)
    assert isinstance(part, Approved) and part.approved_cents == 2000 and part.ecr_ref == "PR1"
    if harness.caps.linked_refund:  # the terminal itself limits refunds to what is left
        too_much = await harness.term.refund(3001, "PR2", sale.host_ref)
        assert isinstance(too_much, TerminalError)
    rest = await harness.term.refund(3000, "PR3", sale.host_ref)
    assert isinstance(rest, Approved)
    assert isinstance(await harness.term.status("PR3"), Approved)


async def test_void_then_batch_close_then_refund_instead(harness: Harness) -> None:
    term = harness.term
    a = await term.sale(1000, "PV1")
    b = await term.sale(2000, "PV2")
    assert isinstance(a, Approved) and isinstance(b, Approved)
    voided = await term.void("PV3", a.host_ref)
    assert (
        isinstance(voided, Approved) and voided.approved_cents == 1000 and voided.ecr_ref == "PV3"
    )
    twice = await term.void("PV4", a.host_ref)
    assert isinstance(twice, TerminalError) and "void" in twice.message.lower()
    closed = await term.batch_close()
    assert isinstance(closed, BatchClosed) and closed.totals_known
    assert (closed.count, closed.total_cents) == (1, 2000)
    late = await term.void("PV5", b.host_ref)
    assert isinstance(late, TerminalError)
    refund = await term.refund(2000, "PV6", b.host_ref)
    assert isinstance(refund, Approved)
    nxt = await term.batch_close()
    assert isinstance(nxt, BatchClosed) and nxt.total_cents == -2000
    assert nxt.batch_number != closed.batch_number


async def test_a_reused_reference_is_never_a_second_charge(harness: Harness) -> None:
    assert isinstance(await harness.term.sale(1000, "PDUP"), Approved)
    again = await harness.term.sale(1000, "PDUP")
    # POSLink surfaces the duplicate; SPIn settles it by status (the first sale's outcome)
    assert isinstance(again, TerminalError | Approved)
    assert harness.approved_sales("PDUP") == [1000]


async def test_bad_inputs_are_refused_before_anything_is_sent(harness: Harness) -> None:
    with pytest.raises(ValueError):
        await harness.term.sale(100, "X" * (harness.longest_ref + 1))
    with pytest.raises(ValueError):
        await harness.term.sale(-5, "P1")
    assert harness.requests_seen() == 0


async def test_card_on_file_where_the_protocol_has_it(harness: Harness) -> None:
    term = harness.term
    if not harness.caps.card_on_file:
        result = await term.sale_with_token(1500, "PT2", "TK1")
        assert isinstance(result, TerminalError) and result.code == "NOT_SUPPORTED"
        assert harness.requests_seen() == 0
        return
    first = await term.sale(2000, "PT1", request_token=True)
    assert isinstance(first, Approved) and first.token
    again = await term.sale_with_token(1500, "PT2", first.token)
    assert isinstance(again, Approved) and again.entry_method is EntryMethod.TOKEN
    assert isinstance(await term.sale_with_token(1500, "PT3", "TKNOSUCHTOKEN"), Declined)


async def test_keyed_ach_where_the_protocol_has_it(harness: Harness) -> None:
    account = AchAccount("021000021", "123456789")
    result = await harness.term.ach_sale(2500, "PA1", account)
    if not harness.caps.keyed_ach:
        assert isinstance(result, TerminalError) and result.code == "NOT_SUPPORTED"
        assert harness.requests_seen() == 0
        return
    assert isinstance(result, Approved) and result.last4 == "6789"


async def test_cancel_ends_the_sale_in_flight_and_nothing_else(harness: Harness) -> None:
    before = harness.requests_seen()
    await harness.term.cancel()  # nothing in flight: nothing goes to the terminal
    assert harness.requests_seen() == before
    harness.set_card_wait(3000)
    sale = asyncio.ensure_future(harness.term.sale(1000, "PX1"))
    while not harness.in_flight("PX1"):
        await asyncio.sleep(0.01)
    await harness.term.cancel()
    assert isinstance(await asyncio.wait_for(sale, 3), Cancelled)
    harness.set_card_wait(0)
    assert isinstance(await harness.term.status("PX1"), Cancelled)
    assert harness.approved_sales("PX1") == []
