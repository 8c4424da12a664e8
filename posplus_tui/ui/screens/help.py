"""F1: every key and what each screen is for."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown


def _keys_of(cls: type) -> list[str]:
    rows = []
    for binding in getattr(cls, "BINDINGS", []):
        if isinstance(binding, Binding) and binding.description:
            key = binding.key_display or binding.key
            rows.append(f"| `{key}` | {binding.description} |")
    return rows


def help_text(app_cls: type, screens: list[type[Screen]]) -> str:
    """The help page as Markdown, built from the bindings so it never drifts from the keys."""
    parts = [
        "# Help",
        "",
        "Keys work everywhere unless a screen says otherwise. `ctrl+p` opens the command palette,",
        "which lists every action of the screen you are on.",
        "",
        "## Everywhere",
        "",
        "| key | action |",
        "|---|---|",
        *_keys_of(app_cls),
    ]
    for screen in screens:
        area = getattr(screen, "AREA", "") or screen.__name__
        purpose = getattr(screen, "PURPOSE", "")
        parts += ["", f"## {area}", "", purpose, ""]
        keys = _keys_of(screen)
        if keys:
            parts += ["| key | action |", "|---|---|", *keys]
    return "\n".join(parts)


class HelpScreen(ModalScreen[None]):
    """The help page; Esc or F1 closes it."""

    BINDINGS = [Binding("escape,f1,q", "close", "Close help")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(self.text, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)
