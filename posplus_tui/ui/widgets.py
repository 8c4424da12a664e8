"""Small widgets shared by every screen."""

from __future__ import annotations

from textual.widgets import Static


class EnvironmentBanner(Static):
    """A loud strip naming the environment whenever it is not production."""

    DEFAULT_CSS = """
    EnvironmentBanner {
        dock: top;
        height: 1;
        width: 100%;
        content-align: center middle;
        text-style: bold;
        background: $warning;
        color: $background;
    }
    EnvironmentBanner.-hidden { display: none; }
    """

    def __init__(self, environment: str) -> None:
        label = environment.upper()
        text = f"{label} — practice money only, nothing is charged" if label == "DEMO" else label
        super().__init__(text, id="environment-banner")
        self.set_class(environment.lower() == "production", "-hidden")
