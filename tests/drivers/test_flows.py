"""POSLink's own flows through the real driver, over each line: the in-process socket pair
(``sim://``), a real loopback TCP socket and a real pty pair at 115200 baud. What every driver
does (declines, partial, lost reply, refunds, voids, batch close …) is in ``conformance/``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drivers import (
    AchAccount,
    Approved,
    Declined,
    EntryMethod,
    Terminal,
    TerminalState,
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
