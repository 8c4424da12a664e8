"""Background work never dies silently: a crash is logged, shown in words and restarted with a
growing back-off; a task killed from outside or ending on its own counts as a crash."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from posplus_tui.services.errors import ServiceError
from posplus_tui.services.supervision import Supervisor


class Work:
    """Work that crashes the first ``crashes`` times, then runs until told to stop."""

    def __init__(self, crashes: int = 0, error: Exception | None = None) -> None:
        self.crashes = crashes
        self.error = error or RuntimeError("database is locked")
        self.starts: list[float] = []
        self.stopped = asyncio.Event()

    async def __call__(self) -> None:
        self.starts.append(time.monotonic())
        if len(self.starts) <= self.crashes:
            raise self.error
        await self.stopped.wait()

    def stop(self) -> None:
        self.stopped.set()


async def until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_a_crash_is_logged_shown_and_restarted_with_growing_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup = Supervisor(backoff=(0.1, 0.3), healthy_after=30)
    work = Work(crashes=2)
    caplog.set_level(logging.ERROR)
    sup.keep_running("reconcile", "Posting to ServiceTitan", work, stop=work.stop)
    await until(lambda: len(work.starts) == 1 and sup.trouble())
    assert sup.trouble() == [
        "Posting to ServiceTitan stopped: database is locked · retrying in 1 s"
    ]
    record = next(r for r in caplog.records if "Posting to ServiceTitan stopped" in r.message)
    assert record.exc_info is not None and "database is locked" in str(record.exc_info[1])
    await until(lambda: len(work.starts) == 3)
    first_wait = work.starts[1] - work.starts[0]
    second_wait = work.starts[2] - work.starts[1]
    assert 0.1 <= first_wait < 0.3 <= second_wait, (first_wait, second_wait)
    # Running again: the bar says it restarted, until it has run well for a while.
    assert sup.trouble() == ["Posting to ServiceTitan restarted after: database is locked"]
    assert sup.trouble_of("reconcile").crashes == 2  # type: ignore[union-attr]
    sup.healthy_after = 0.0
    assert sup.trouble() == []
    await sup.aclose()
    assert work.stopped.is_set()


async def test_a_task_killed_from_outside_is_restarted() -> None:
    sup = Supervisor(backoff=(0.05,))
    work = Work()
    sup.keep_running("sync", "Reading ServiceTitan's invoices", work, stop=work.stop)
    await until(lambda: sup.current("sync") is not None)
    first = sup.current("sync")
    first.cancel()  # type: ignore[union-attr]
    await until(lambda: sup.trouble() != [])
    assert sup.trouble()[0].startswith(
        "Reading ServiceTitan's invoices stopped: it was cancelled · retrying in"
    )
    await until(lambda: len(work.starts) == 2 and sup.current("sync") not in (None, first))
    await sup.aclose()


async def test_work_that_ends_on_its_own_is_a_stop_and_is_restarted() -> None:
    sup = Supervisor(backoff=(0.05,))
    runs = []

    async def returns_at_once() -> None:
        runs.append(1)

    sup.keep_running("reconcile", "Posting to ServiceTitan", returns_at_once)
    await until(lambda: len(runs) >= 2)
    assert "Posting to ServiceTitan" in sup.trouble()[0]
    assert "it ended on its own" in sup.trouble()[0]
    await sup.aclose()


async def test_close_does_not_wait_out_a_backoff() -> None:
    sup = Supervisor(backoff=(60.0,))
    work = Work(crashes=5)
    sup.keep_running("reconcile", "Posting to ServiceTitan", work, stop=work.stop)
    await until(lambda: sup.trouble() != [])
    started = time.monotonic()
    await sup.aclose()
    assert time.monotonic() - started < 2
    assert sup.task("reconcile") is None


async def test_one_shot_failure_is_shown_until_the_next_run_succeeds() -> None:
    sup = Supervisor()

    async def broken() -> None:
        raise ServiceError("The terminal's driver failed.", "Restart posplus.")

    await sup.run_once("terminal-check", "Checking the terminal", broken())
    assert sup.trouble() == ["Checking the terminal failed: The terminal's driver failed."]

    async def fine() -> None:
        return None

    await sup.run_once("terminal-check", "Checking the terminal", fine())
    assert sup.trouble() == []


async def test_attempt_retries_in_the_background_until_it_works() -> None:
    sup = Supervisor(backoff=(0.05, 0.05))
    calls = []

    async def recover() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("disk I/O error")

    assert await sup.attempt("recovery", "Settling interrupted payments", recover) is False
    assert sup.trouble()[0].startswith(
        "Settling interrupted payments stopped: disk I/O error · retrying in"
    )
    await until(lambda: len(calls) == 3 and sup.trouble() == [])
    await asyncio.sleep(0.2)
    assert len(calls) == 3  # once it worked, it is not run again
    await sup.aclose()


async def test_words_never_carry_card_numbers_or_long_tracebacks() -> None:
    sup = Supervisor(backoff=(30.0,))

    async def leaks() -> None:
        raise RuntimeError("bad reply for 4111111111111111\n  File 'x.py', line 3 " + "x" * 300)

    await sup.attempt("recovery", "Settling interrupted payments", leaks)
    words = sup.trouble()[0]
    assert "4111111111111111" not in words and "File" not in words
    assert len(words) < 160
    await sup.aclose()
