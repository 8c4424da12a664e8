"""Shared app factories for the UI tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from posplus_tui.config import Settings
from posplus_tui.secrets import SecretStore
from posplus_tui.services.container import FixedClock, Services
from posplus_tui.services.setup import SetupService
from posplus_tui.ui.app import PosPlusApp


def screen_text(app: PosPlusApp) -> str:
    """What a person would read on the screen right now, as plain text."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


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
