"""The status bar never says "ready" for a terminal that is off: "ready" is the result of a check,
an idle terminal is checked again every so often, and a silent one is reported as such."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from posplus_tui.services.errors import TerminalBusy, TerminalUnavailable
from posplus_tui.services.wiring import build_demo
from tests.services.conftest import invoice_facts


async def test_terminal_state_follows_the_terminal_not_the_last_payment(tmp_path: Path) -> None:
    services = build_demo(tmp_path, card_wait_ms=0, pin_cost=16, sync_on_start=False)
    try:
        await services.start()  # the first check runs at start
        assert services.terminal.state == "ready"
        assert (await services.status()).terminal == "ready"

        # The terminal is switched off: it no longer acknowledges anything.
        simulator = services.payments._terminal.simulator  # type: ignore[union-attr]
        simulator.inject("no_ack", 1000)
        services.terminal.check_timeout = 30.0  # a technician's test would wait this long…
        services.terminal.quiet_check_timeout = 0.5  # …the periodic check, which holds it, not
        services.terminal.checked_at = None  # the next check is due
        check = services.terminal.check_if_due()
        assert check is not None
        started = time.monotonic()
        await check
        assert time.monotonic() - started < 5
        assert (await services.status()).terminal == "did not answer"
        services.terminal.check_timeout = 0.5
        with pytest.raises(TerminalUnavailable, match="did not answer"):
            await services.terminal.test()

        # A sale started while a check holds the terminal is refused in words, never sent.
        clerk = next(o for o in services.operators.list_sync() if o.name == "clerk")
        services.terminal.quiet_check_timeout = 2.0
        services.terminal.checked_at = None
        check = services.terminal.check_if_due()
        await asyncio.sleep(0.05)
        with pytest.raises(TerminalBusy, match="connection check"):
            await services.payments.charge(invoice_facts("10.00"), operator=clerk)
        await check

        # Back on: the next check says so.
        simulator.clear_faults()
        services.terminal.quiet_check_timeout = 15.0
        services.terminal.checked_at = None
        await services.terminal.check_if_due()
        assert (await services.status()).terminal == "ready"
        # Checked a moment ago: no new check until it is due again.
        assert services.terminal.check_if_due() is None
    finally:
        await services.aclose()
