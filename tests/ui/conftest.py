"""Shared app factories for the UI tests."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.worker import WorkerCancelled

from posplus_tui.config import Settings
from posplus_tui.secrets import SecretStore
from posplus_tui.services.clock import FixedClock
from posplus_tui.services.container import Services
from posplus_tui.services.setup import SetupService
from posplus_tui.ui.app import PosPlusApp


def screen_text(app: PosPlusApp) -> str:
    """What a person would read on the screen right now, as one line of words: borders dropped
    and wrapped lines joined, so a sentence split by wrapping still reads as a sentence."""
    strips = app.screen._compositor.render_strips()
    lines = [strip.text for strip in strips]
    dialogs = app.screen.query(".dialog")
    if dialogs:  # a dialog over a screen: read the dialog only, as a person would
        r = dialogs.first().region
        lines = [line[r.x : r.x + r.width] for line in lines[r.y : r.y + r.height]]
    raw = "\n".join(lines)
    return " ".join(re.sub(r"[│╭╮╰╯─▊▎▔▁┃━┏┓┗┛█▀▄]", " ", raw).split())


@pytest.fixture
def setup_only_app() -> Callable[..., PosPlusApp]:
    """An app over settings and the keyring only (a fresh install, before anything is set up)."""

    def make(
        settings: Settings | None = None, client_factory=None, terminal_tester=None
    ) -> PosPlusApp:
        s = settings or Settings()
        secrets = SecretStore()
        services = Services(
            mode="run",
            settings=s,
            secrets=secrets,
            clock=FixedClock(),
            setup=SetupService(
                s, secrets, client_factory=client_factory, terminal_tester=terminal_tester
            ),
        )
        return PosPlusApp(services, status_every=0)

    return make


#: scrypt cost for tests: the real cost takes tens of ms per PIN.
TEST_PIN_COST = 16


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory) -> Path:
    """A demo ledger already migrated, with the demo operators and the invoice index filled from
    the sandbox: copied for each test, so each starts from the same state without the wait."""
    from posplus_tui.services.wiring import build_demo

    folder = tmp_path_factory.mktemp("demo-template")
    services = build_demo(folder, card_wait_ms=0, clock=FixedClock(), pin_cost=TEST_PIN_COST)

    async def prime() -> None:
        await services.sync.sync_once()
        await services.aclose()

    asyncio.run(prime())
    return folder


@pytest.fixture
def demo_app(tmp_path, demo_template) -> Callable[..., PosPlusApp]:
    """The demo app (sandbox, simulator, SQLite in tmp_path) with a clock that never moves."""
    from posplus_tui.services.wiring import build_demo

    for file in demo_template.glob("demo-ledger.sqlite3*"):
        shutil.copy(file, tmp_path / file.name)

    def make(
        card_wait_ms: int = 0, clock: FixedClock | None = None, terminal: str = "poslink"
    ) -> PosPlusApp:
        services = build_demo(
            tmp_path,
            card_wait_ms=card_wait_ms,
            clock=clock or FixedClock(),
            pin_cost=TEST_PIN_COST,
            sync_on_start=False,
            terminal=terminal,
        )
        return PosPlusApp(services, status_every=0)

    return make


#: Worker groups that wait for a person in a dialog: settling never waits for those.
DIALOG_GROUPS = frozenset(
    {"refund", "cards-revoke", "terminal-batch", "reconcile-action", "charge", "cancel"}
)


async def settle(pilot) -> None:
    """Wait until every worker not waiting on a dialog or the terminal has finished and the
    screen has caught up."""
    for _ in range(2):
        busy = [w for w in pilot.app.workers if w.group not in DIALOG_GROUPS and not w.is_finished]
        if busy:
            # An exclusive worker (the status probe) may be replaced by a newer one meanwhile:
            # that is the app working, not the test failing.
            with contextlib.suppress(WorkerCancelled):
                await pilot.app.workers.wait_for_complete(busy)
        await pilot.pause()


async def sign_in(pilot, name: str, pin: str) -> None:
    await pilot.click("#signin-username")
    await pilot.press(*name, "enter", *pin, "enter")
    await settle(pilot)


async def wait_for(pilot, predicate, timeout: float = 10.0, what: str = "") -> None:
    """Let the app run until ``predicate()`` holds (checked after each frame)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(
                f"timed out waiting for {what or predicate}; screen: {screen_text(pilot.app)}"
            )
        await pilot.pause(0.05)


async def wait_for_area(pilot, area: str, timeout: float = 10.0) -> None:
    """Let the app run until the screen on top is ``area`` (its ``AREA``, e.g. "Invoice")."""
    await wait_for(
        pilot,
        lambda: getattr(pilot.app.screen, "AREA", "") == area,
        timeout=timeout,
        what=f"the {area} screen",
    )


async def wait_for_text(pilot, text: str, timeout: float = 10.0) -> None:
    await wait_for(pilot, lambda: text in screen_text(pilot.app), timeout, repr(text))


def invoice_number(app: PosPlusApp, case: str) -> str:
    """The number staff see for one of the sandbox's seeded cases (e.g. ``unpaid_invoice_id``)."""
    sandbox = app.services.sandbox
    wanted = sandbox.cases[case]
    return next(i.number for i in sandbox.data.invoices if i.id == wanted)


def invoice_balance(app: PosPlusApp, case: str):
    from posplus_tui.domain.money import Money

    sandbox = app.services.sandbox
    wanted = sandbox.cases[case]
    return Money(next(i.balance_cents for i in sandbox.data.invoices if i.id == wanted))


async def open_invoice(pilot, number: str) -> None:
    """From Lookup: type the number, Enter, and wait for the invoice screen."""
    await pilot.press("ctrl+f", *number, "enter")
    await settle(pilot)
    await wait_for_area(pilot, "Invoice")
    await settle(pilot)


@pytest.fixture(autouse=True)
def fresh_redaction() -> Iterator[None]:
    """Secrets registered by other tests in this process (e.g. a test secret "wrong") would be
    masked in the words on screen; each UI test starts with none and leaves none behind."""
    from posplus_tui import redaction

    saved = set(redaction._known)
    redaction._known.clear()
    yield
    redaction._known.clear()
    redaction._known.update(saved)
