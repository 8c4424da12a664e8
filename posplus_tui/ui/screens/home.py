"""The home screen: what the clerk sees first."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from posplus_tui.ui.widgets import EnvironmentBanner


class HomeScreen(Screen[None]):
    """Landing screen with the station, the environment and the keys to start from."""

    def __init__(self, station: str, environment: str) -> None:
        super().__init__()
        self.station = station
        self.environment = environment

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        yield EnvironmentBanner(self.environment)
        with Vertical(id="home-body"):
            yield Static(f"[b]{self.station}[/b]", id="home-station")
            yield Static(
                "Find an invoice to take a payment.\nPress q to quit.",
                id="home-help",
            )
        yield Footer()
