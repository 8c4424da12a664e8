"""F1: every key and what each screen is for (built from the bindings, so it never drifts)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


def _keys_of(cls: type) -> list[str]:
    rows = []
    for binding in getattr(cls, "BINDINGS", []):
        if not isinstance(binding, Binding) or not binding.description:
            continue
        key = binding.key_display or binding.key
        rows.append(f"  {key:<12} {binding.description}")
    return rows


def help_text(app_cls: type, screens: list[type[Screen]]) -> str:
    """The help page as plain text."""
    parts = [
        "HELP — Esc or F1 closes this page",
        "",
        "The footer shows the keys of the screen you are on; the keys under EVERYWHERE work on "
        "every screen. ctrl+p opens the command palette: it lists every action of the screen "
        "you are on. States are always written in words; nothing is shown by colour alone.",
        "",
        "EVERYWHERE",
        *_keys_of(app_cls),
    ]
    for screen in screens:
        area = getattr(screen, "AREA", "") or screen.__name__
        purpose = getattr(screen, "PURPOSE", "")
        parts += ["", area.upper(), purpose]
        parts += _keys_of(screen)
    return "\n".join(parts)


class HelpScreen(ModalScreen[None]):
    """The help page."""

    BINDINGS = [Binding("escape,f1,q", "close", "Close help")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Static(self.text, id="help-text", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
