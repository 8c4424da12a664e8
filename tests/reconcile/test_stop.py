"""Stopping the worker is prompt: a stop that arrives while a step runs is not lost to the
next idle wait (closing the app waited out the 5 s poll)."""

from __future__ import annotations

import asyncio
import time

from posplus_tui.ledger import Ledger
from posplus_tui.servicetitan import ServiceTitanClient
from tests.reconcile.conftest import make_worker


async def test_a_stop_during_a_step_ends_the_run_at_once(
    ledger: Ledger, client: ServiceTitanClient
) -> None:
    worker = make_worker(ledger, client)
    drain = worker._drain_lanes

    async def drain_then_stop(limit: int | None) -> int:
        handled = await drain(limit)
        worker.stop()  # as the app's close does, while the worker is busy
        return handled

    worker._drain_lanes = drain_then_stop  # type: ignore[method-assign]
    started = time.monotonic()
    await asyncio.wait_for(worker.run(poll_seconds=5.0), timeout=4.0)
    assert time.monotonic() - started < 4.0


async def test_a_stop_while_the_follower_starts_is_kept(
    ledger: Ledger, client: ServiceTitanClient
) -> None:
    """The app closing just as the supervisor restarts the worker: run() must not forget it."""
    worker = make_worker(ledger, client)
    worker.stop()
    await asyncio.wait_for(worker.run(poll_seconds=5.0), timeout=4.0)
    worker.resume()  # started anew (ReconcileService.start does this): it runs again
    runner = asyncio.ensure_future(worker.run(poll_seconds=5.0))
    await asyncio.sleep(0.3)
    assert not runner.done()
    worker.stop()
    await asyncio.wait_for(runner, timeout=4.0)
