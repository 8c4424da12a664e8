"""A background task that stops is shown on the status bar in words, on every screen, and the bar
returns to its usual line once the task works again."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from posplus_tui.ui.widgets import StatusBar
from tests.ui.conftest import settle, sign_in, wait_for


def _bar(app: Any) -> str:
    return " ".join(str(app.screen.query_one(StatusBar).content).split())


async def test_posting_stopped_is_shown_on_the_status_bar_in_words(demo_app) -> None:
    app = demo_app()
    services = app.services
    services.supervisor.backoff = (30.0,)
    store = services.reconcile.store
    real = store.acquire_lock
    broken = {"on": True}

    def acquire(*args: Any, **kwargs: Any) -> Any:
        if broken["on"]:
            raise OperationalError("SELECT", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    store.acquire_lock = acquire
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: "Posting to ServiceTitan stopped" in _bar(app))
        assert "Posting to ServiceTitan stopped: database is locked · retrying in 30 s" in _bar(
            app
        ) or "retrying in 29 s" in _bar(app)
        assert app.screen.query_one(StatusBar).has_class("-trouble")
        await sign_in(pilot, "clerk", "1111")
        await wait_for(pilot, lambda: "Posting to ServiceTitan stopped" in _bar(app))
        # Fixed, and well for a while: the bar says how things are again.
        broken["on"] = False
        services.supervisor.healthy_after = 0.0
        assert services.supervisor.current("reconcile") is None  # waiting out the back-off
        assert services.supervisor.retry_now("reconcile")
        await wait_for(pilot, lambda: services.supervisor.current("reconcile") is not None)
        app.refresh_status()
        await wait_for(pilot, lambda: "Outbox" in _bar(app))
        assert not app.screen.query_one(StatusBar).has_class("-trouble")


async def test_a_failed_start_up_is_shown_and_tried_again(demo_app) -> None:
    app = demo_app()
    services = app.services
    services.supervisor.backoff = (0.5,)
    real_start = services.start
    calls = []

    async def start() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the ledger file is read-only")
        await real_start()

    services.start = start
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: "Starting up" in _bar(app))
        assert "Starting up stopped: the ledger file is read-only · retrying in" in _bar(app)
        # The second try gets through: the worker runs and the bar is back to normal.
        await wait_for(pilot, lambda: services.supervisor.task("reconcile") is not None)
        assert len(calls) == 2
        app.refresh_status()
        await wait_for(pilot, lambda: "Starting up" not in _bar(app) and "Outbox" in _bar(app))
