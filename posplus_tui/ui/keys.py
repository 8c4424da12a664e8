"""Key bindings with names: every binding gets an id a user's keymap can refer to, and a tooltip.

Ids are ``<scope>.<action>`` (``lookup.search``, ``app.go_reconcile``). The area keys are bound
once, on the app (the home screens only draw them), so one line of a keymap moves one binding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from textual.binding import Binding, BindingType
from textual.dom import DOMNode

__all__ = ["all_binding_ids", "binding_ids", "named_bindings"]


def _action_name(action: str) -> str:
    """The action's name without a namespace, with its arguments: ``filter_attention`` for
    ``filter('attention')``, ``quit`` for ``app.quit``."""
    name, _, args = action.partition("(")
    words = re.findall(r"\w+", args)
    return "_".join([name.rsplit(".", 1)[-1], *words])


def named_bindings(scope: str, bindings: Iterable[BindingType]) -> list[BindingType]:
    """``bindings`` with an id and a tooltip on each :class:`Binding` that has none."""
    out: list[BindingType] = []
    for binding in bindings:
        if not isinstance(binding, Binding):
            out.append(binding)
            continue
        ident = binding.id or f"{scope}.{_action_name(binding.action)}"
        tooltip = binding.tooltip or binding.description or _action_name(binding.action)
        out.append(replace(binding, id=ident, tooltip=tooltip))
    return out


def binding_ids(bindings: Iterable[BindingType]) -> set[str]:
    return {b.id for b in bindings if isinstance(b, Binding) and b.id}


def all_binding_ids(app_type: type[DOMNode]) -> set[str]:
    """Every binding id of the app and its screens (imports every screen: only when needed)."""
    from posplus_tui.ui.screens import all_screens

    ids = binding_ids(app_type.BINDINGS)
    for screen in all_screens():
        merged = screen._merged_bindings
        for bindings in merged.key_to_bindings.values() if merged is not None else ():
            ids |= binding_ids(bindings)
    return ids
