"""Each real background task of the app, killed: the reconcile worker (a database error where it
takes its lock), the invoice sync (cancelled from outside), a terminal check (a driver bug) and
recovery at start-up. Each is logged, shown on the status bar in words and started again."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from posplus_tui.services.container import Services
from posplus_tui.services.wiring import build_demo


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    built = build_demo(tmp_path, card_wait_ms=0, pin_cost=16, sync_on_start=True)
    built.supervisor.backoff = (2.0, 4.0)
    yield built
    await built.aclose()


async def until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_reconcile_worker_crash_is_shown_and_restarted(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    reconcile = services.reconcile
    assert reconcile is not None
    real = reconcile.store.acquire_lock
    calls: list[float] = []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise OperationalError("SELECT reconcile_locks", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    reconcile.store.acquire_lock = flaky  # type: ignore[method-assign]
    caplog.set_level(logging.ERROR)
    await services.start()
    await until(lambda: calls and services.supervisor.trouble())
    words = (await services.status()).trouble
    assert len(words) == 1
    # "… in 2 s", or "1 s" when the status probe itself was slow (a loaded machine)
    assert re.fullmatch(
        r"Posting to ServiceTitan (stopped: database is locked · retrying in [12] s"
        r"|restarted after: database is locked)",
        words[0],
    ), words
    assert any("Posting to ServiceTitan stopped" in r.message for r in caplog.records)
    await until(lambda: len(calls) >= 2)  # restarted after the back-off
    assert calls[1] - calls[0] >= 2.0
    await until(lambda: services.supervisor.current("reconcile") is not None)
    assert (await services.status()).trouble[0].startswith("Posting to ServiceTitan restarted")


async def test_sync_killed_from_outside_is_restarted(services: Services) -> None:
    await services.start()
    await until(lambda: services.supervisor.current("sync") is not None)
    first = services.supervisor.current("sync")
    assert first is not None
    # Killed: cancelled until it is gone (Python 3.11's wait_for can swallow one cancel that
    # lands just as the awaited call finishes).
    while not first.done():
        first.cancel()
        await asyncio.sleep(0.05)
    await until(lambda: services.supervisor.trouble())
    words = (await services.status()).trouble
    assert words[0].startswith("Reading ServiceTitan's invoices stopped: it was cancelled")
    await until(lambda: services.supervisor.current("sync") not in (None, first))


async def test_terminal_check_bug_is_shown_and_cleared_by_the_next_check(
    services: Services,
) -> None:
    payments, terminal = services.payments, services.terminal
    assert payments is not None and terminal is not None
    real = payments.check_terminal

    async def driver_bug(timeout: float) -> Any:
        return object()  # a driver answering with something that is not a TerminalInfo

    payments.check_terminal = driver_bug  # type: ignore[method-assign]
    check = terminal.check_if_due()
    assert check is not None
    await check
    assert (await services.status()).trouble == (
        "Checking the terminal failed: 'object' object has no attribute 'model'",
    )

    payments.check_terminal = real  # type: ignore[method-assign]
    terminal.checked_at = None
    check = terminal.check_if_due()
    assert check is not None
    await check
    status = await services.status()
    assert status.trouble == () and status.terminal == "ready"


async def test_recovery_failing_at_start_is_retried_in_the_background(
    services: Services,
) -> None:
    payments = services.payments
    assert payments is not None
    real = payments.recover
    calls = []

    async def flaky() -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT transactions", {}, Exception("disk I/O error"))
        return await real()

    payments.recover = flaky  # type: ignore[method-assign]
    services.sync_on_start = False
    await services.start()  # start-up goes on: the reconcile worker runs meanwhile
    assert services.supervisor.current("reconcile") is not None or services.supervisor.task(
        "reconcile"
    )
    words = (await services.status()).trouble
    assert words[0].startswith("Settling interrupted payments stopped: ")
    assert "disk I/O error" in words[0]
    await until(lambda: len(calls) == 2 and not services.supervisor.trouble())


async def test_recovery_loop_killed_is_restarted(services: Services) -> None:
    services.sync_on_start = False
    await services.start()
    await until(lambda: services.supervisor.current("recovery-loop") is not None)
    first = services.supervisor.current("recovery-loop")
    assert first is not None
    while not first.done():
        first.cancel()
        await asyncio.sleep(0.05)
    await until(lambda: services.supervisor.trouble())
    words = (await services.status()).trouble
    assert len(words) == 1 and words[0].startswith(
        "Settling unknown payments stopped: it was cancelled · retrying in"
    ), words
    await until(lambda: services.supervisor.current("recovery-loop") not in (None, first))
