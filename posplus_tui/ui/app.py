"""The app class: builds nothing itself, hands services to screens, owns global keys."""

from __future__ import annotations

from textual.app import App
from textual.binding import Binding

from posplus_tui.ui.screens.home import HomeScreen


class PosPlusApp(App[None]):
    """The counter app."""

    CSS_PATH = "app.tcss"
    TITLE = "POS+ for ServiceTitan"
    BINDINGS = [
        Binding("q", "quit", "Quit", priority=False),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, station: str, environment: str) -> None:
        super().__init__()
        self.station = station
        self.environment = environment

    def on_mount(self) -> None:
        self.sub_title = f"{self.station} · {self.environment.upper()}"
        self.push_screen(HomeScreen(self.station, self.environment))
