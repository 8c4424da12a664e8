"""Every flow through the real driver, over each line: the in-process socket pair (``sim://``), a
real loopback TCP socket and a real pty pair at 115200 baud."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drivers import (
    AchAccount,
    Approved,
    BatchClosed,
    Cancelled,
    Declined,
    EntryMethod,
    NotFound,
    Terminal,
    TerminalError,
    TerminalState,
    Unknown,
)
from drivers.simulator import Simulator
from tests.drivers.conftest import LINES

FAST = "timeout=1&ack_timeout=1"


@pytest.fixture(params=LINES)
async def line(
    request: pytest.FixtureRequest, line_factory
) -> AsyncIterator[tuple[Terminal, Simulator]]:
    sim = Simulator()
    async with line_factory(request.param, sim, f"{FAST}&report_status=1") as term:
        yield term, sim


async def test_initialize_identifies_the_terminal(line: tuple[Terminal, Simulator]) -> None:
    term, sim = line
    info = await term.initialize()
    assert (info.model, info.serial_number, info.firmware) == (
        sim.model,
        sim.serial_number,
        sim.firmware,
    )


async def test_sale_approved_with_progress(line: tuple[Terminal, Simulator]) -> None:
    term, sim = line
    states: list[TerminalState] = []
    result = await term.sale(1234, "P0000001", progress=states.append)
    assert isinstance(result, Approved)
    assert result.approved_cents == result.requested_cents == 1234 and not result.is_partial
    assert result.brand == "VISA" and result.last4 == "1111" and len(result.auth_code) == 6
    assert result.host_ref and result.token is None
    assert states == [
        TerminalState.SENDING,
        TerminalState.WAITING_FOR_CARD,
        TerminalState.AUTHORISING,
        TerminalState.DONE,
    ]
    assert len(sim.accepted("P0000001")) == 1


async def test_brands_rotate_and_only_last4_is_returned(line: tuple[Terminal, Simulator]) -> None:
    term, _ = line
    brands = []
    for i in range(4):
        r = await term.sale(1000 + i * 100, f"PB{i}")
        assert isinstance(r, Approved) and len(r.last4) == 4
        brands.append(r.brand)
    assert brands == ["VISA", "MASTERCARD", "AMEX", "DISCOVER"]


async def test_token_issued_then_charged(line: tuple[Terminal, Simulator]) -> None:
    term, _ = line
    first = await term.sale(2000, "PT1", request_token=True)
    assert isinstance(first, Approved) and first.token and first.card_expiry
    again = await term.sale_with_token(1500, "PT2", first.token)
    assert isinstance(again, Approved) and again.entry_method is EntryMethod.TOKEN
    assert (again.brand, again.last4) == (first.brand, first.last4)
    unknown = await term.sale_with_token(1500, "PT3", "TKNOSUCHTOKEN")
    assert isinstance(unknown, Declined)


async def test_keyed_and_ach(line: tuple[Terminal, Simulator]) -> None:
    term, _ = line
    states: list[TerminalState] = []
    keyed = await term.sale(1000, "PK1", keyed=True, progress=states.append)
    assert isinstance(keyed, Approved) and keyed.entry_method is EntryMethod.KEYED
    assert TerminalState.KEYED_ENTRY in states
    ach = await term.ach_sale(2500, "PA1", AchAccount("021000021", "123456789"))
    assert isinstance(ach, Approved) and ach.entry_method is EntryMethod.ACH and ach.last4 == "6789"
    declined = await term.ach_sale(2501, "PA2", AchAccount("021000021", "123456789"))
    assert isinstance(declined, Declined) and declined.host_code == "05"


@pytest.mark.parametrize(
    ("amount", "code", "text"), [(1001, "05", "DO NOT HONOR"), (2502, "51", "INSUFFICIENT FUNDS")]
)
async def test_declines_by_test_amount(
    line: tuple[Terminal, Simulator], amount: int, code: str, text: str
) -> None:
    term, _ = line
    assert await term.sale(amount, "PD1") == Declined("PD1", code, text)
    assert await term.status("PD1") == Declined("PD1", code, text)


async def test_partial_approval_of_half_rounded_down(line: tuple[Terminal, Simulator]) -> None:
    term, _ = line
    result = await term.sale(1005, "PP1")
    assert isinstance(result, Approved) and result.is_partial
    assert (result.approved_cents, result.requested_cents) == (502, 1005)
    status = await term.status("PP1")
    assert (
        isinstance(status, Approved)
        and status.approved_cents == 502
        and status.requested_cents == 1005
    )


async def test_cardholder_cancel_amount(line: tuple[Terminal, Simulator]) -> None:
    term, _ = line
    result = await term.sale(1007, "PC1")
    assert isinstance(result, Cancelled)
    assert isinstance(await term.status("PC1"), Cancelled)


async def test_lost_reply_is_unknown_and_status_settles_it(
    line: tuple[Terminal, Simulator],
) -> None:
    term, sim = line
    result = await term.sale(1009, "PL1")
    assert isinstance(result, Unknown) and "status" in result.reason
    assert len(sim.accepted("PL1")) == 1  # never resent
    settled = await term.status("PL1")
    assert isinstance(settled, Approved) and settled.approved_cents == 1009 and settled.host_ref
    assert len(sim.accepted("PL1")) == 1


async def test_never_answered_is_unknown_then_not_found(line: tuple[Terminal, Simulator]) -> None:
    term, sim = line
    result = await term.sale(1011, "PN1")
    assert isinstance(result, Unknown)
    assert len(sim.accepted("PN1")) == 1
    assert await term.status("PN1") == NotFound("PN1")


async def test_refunds_against_the_batch(line: tuple[Terminal, Simulator]) -> None:
    term, _ = line
    sale = await term.sale(5000, "PR0")
    assert isinstance(sale, Approved)
    part = await term.refund(2000, "PR1", sale.host_ref)
    assert isinstance(part, Approved) and part.approved_cents == 2000
    too_much = await term.refund(3001, "PR2", sale.host_ref)
    assert isinstance(too_much, TerminalError) and "3000" in too_much.message
    rest = await term.refund(3000, "PR3", sale.host_ref)
    assert isinstance(rest, Approved)
    missing = await term.refund(100, "PR4", "NOSUCHREF")
    assert isinstance(missing, TerminalError) and "not" in missing.message.lower()


async def test_void_then_void_refused_after_batch_close(line: tuple[Terminal, Simulator]) -> None:
    term, _ = line
    a = await term.sale(1000, "PV1")
    b = await term.sale(2000, "PV2")
    assert isinstance(a, Approved) and isinstance(b, Approved)
    voided = await term.void("PV3", a.host_ref)
    assert isinstance(voided, Approved) and voided.approved_cents == 1000
    twice = await term.void("PV4", a.host_ref)
    assert isinstance(twice, TerminalError) and "void" in twice.message.lower()
    closed = await term.batch_close()
    assert closed == BatchClosed(batch_number="1", count=1, total_cents=2000)
    late = await term.void("PV5", b.host_ref)
    assert isinstance(late, TerminalError) and "BATCH CLOSED" in late.message
    refund = await term.refund(2000, "PV6", b.host_ref)  # after close: return instead
    assert isinstance(refund, Approved)
    nxt = await term.batch_close()
    assert isinstance(nxt, BatchClosed) and nxt.batch_number == "2" and nxt.total_cents == -2000


async def test_duplicate_reference_is_surfaced_not_charged(
    line: tuple[Terminal, Simulator],
) -> None:
    term, sim = line
    assert isinstance(await term.sale(1000, "PDUP"), Approved)
    again = await term.sale(1000, "PDUP")
    assert isinstance(again, TerminalError) and again.code == "100011"
    assert sum(1 for r in sim.records.values() if r.ecr_ref == "PDUP") == 1


async def test_status_of_unknown_reference(line: tuple[Terminal, Simulator]) -> None:
    term, _ = line
    assert await term.status("PNEVER") == NotFound("PNEVER")


async def test_bad_inputs_are_refused_before_sending(line: tuple[Terminal, Simulator]) -> None:
    term, sim = line
    with pytest.raises(ValueError, match="16"):
        await term.sale(100, "X" * 17)
    with pytest.raises(ValueError, match="positive"):
        await term.sale(-5, "P1")
    assert sim.frames_received == 0
