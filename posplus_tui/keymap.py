"""The user's keymap: ``keymap.toml`` in the config folder moves keys by binding id.

::

    # posplus keymap: binding id = "key[,another key]"
    "app.go_reconcile" = "f2"
    "lookup.search" = "ctrl+f"

The README (Keymap) lists every binding id. A file that cannot be read is reported in a sentence
and the default keys stay; it never stops the app.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from posplus_tui.paths import config_dir

__all__ = ["KeymapError", "keymap_file", "load_keymap"]


class KeymapError(Exception):
    """The keymap file cannot be used; the message says why and what to do."""


def keymap_file() -> Path:
    return config_dir() / "keymap.toml"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """Binding id → keys from ``path`` (default :func:`keymap_file`); empty when there is none."""
    path = path or keymap_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise KeymapError(f"{path} cannot be read ({exc.strerror}); the usual keys apply.") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise KeymapError(
            f"{path} is not valid TOML ({exc}); the usual keys apply. "
            'Each line reads "binding.id" = "key", e.g. "app.go_reconcile" = "f2".'
        ) from exc
    keymap: dict[str, str] = {}
    for ident, keys in data.items():
        if not isinstance(keys, str) or not keys.strip():
            raise KeymapError(
                f'{path}: {ident!r} should name a key in quotes, e.g. "f2" or "ctrl+r"; '
                "the usual keys apply."
            )
        keymap[ident] = keys.strip()
    return keymap
