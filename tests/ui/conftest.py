"""Shared app factories for the UI tests."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from posplus_tui.config import Settings
from posplus_tui.secrets import SecretStore
from posplus_tui.services.container import FixedClock, Services
from posplus_tui.services.setup import SetupService
from posplus_tui.ui.app import PosPlusApp


def screen_text(app: PosPlusApp) -> str:
    """What a person would read on the screen right now, as one line of words: borders dropped
    and wrapped lines joined, so a sentence split by wrapping still reads as a sentence."""
    strips = app.screen._compositor.render_strips()
    raw = "\n".join(strip.text for strip in strips)
    return " ".join(re.sub(r"[│╭╮╰╯─▊▎▔▁┃━┏┓┗┛]", " ", raw).split())


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


@pytest.fixture
def demo_app(tmp_path) -> Callable[..., PosPlusApp]:
    """The demo app (sandbox, simulator, SQLite in tmp_path) with a clock that never moves."""
    from posplus_tui.services.container import build_demo

    def make(card_wait_ms: int = 0) -> PosPlusApp:
        services = build_demo(
            tmp_path, card_wait_ms=card_wait_ms, clock=FixedClock(), pin_cost=TEST_PIN_COST
        )
        return PosPlusApp(services, status_every=0)

    return make


async def settle(pilot) -> None:
    """Wait until every worker has finished and the screen has caught up."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def sign_in(pilot, name: str, pin: str) -> None:
    await pilot.click("#signin-username")
    await pilot.press(*name, "enter", *pin, "enter")
    await settle(pilot)
