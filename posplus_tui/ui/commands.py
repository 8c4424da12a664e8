"""Command palette: every action of the current screen, by name ("Lookup: Open invoice")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.dom import DOMNode

#: Textual's own focus/copy keys: real, but not actions of a counter screen.
TEXTUAL_BUILTINS = frozenset({"app.focus_next", "app.focus_previous", "screen.copy_text"})


class ScreenActions(Provider):
    """Offers the current screen's and the app's bindings as commands; disabled ones are left out."""

    def _actions(self) -> Iterator[tuple[str, Callable[[], object], str]]:
        screen = self.screen
        seen: set[tuple[int, str]] = set()
        area = getattr(screen, "AREA", "") or type(screen).__name__.removesuffix("Screen")
        why_disabled = getattr(screen, "why_disabled", None)
        for key, active in screen.active_bindings.items():
            binding = active.binding
            ident = (id(active.node), binding.action)
            if not binding.description or ident in seen:
                continue
            if not active.enabled:
                # Greyed in the footer: listed here with the reason, which choosing it shows.
                why = why_disabled(binding.action) if why_disabled is not None else ""
                if why and active.node is screen:
                    seen.add(ident)
                    yield (
                        f"{area}: {binding.description} (not now)",
                        partial(self.app.notify, why, severity="warning"),
                        why,
                    )
                continue
            if active.node is not screen and active.node is not self.app:
                continue  # a focused field's own keys (cursor moves…) are not screen actions
            if "command_palette" in binding.action or binding.action in TEXTUAL_BUILTINS:
                continue
            seen.add(ident)
            owner = "App" if active.node is self.app else area
            yield f"{owner}: {binding.description}", self._runner(binding.action, active.node), key

    def _runner(self, action: str, node: DOMNode) -> Callable[[], object]:
        return partial(self.app.run_action, action, node)

    async def discover(self) -> Hits:
        for name, run, key in self._actions():
            yield DiscoveryHit(name, run, help=key if " " in key else f"key: {key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, run, key in self._actions():
            score = matcher.match(name)
            if score > 0:
                help = key if " " in key else f"key: {key}"
                yield Hit(score, matcher.highlight(name), run, help=help)
