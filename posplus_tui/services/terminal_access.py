"""Opening the configured terminal with what it needs beside its URL: a SPIn terminal's auth key
comes from the secret store (keyring, the encrypted secrets file) or ``POSPLUS_TERMINAL_AUTHKEY``,
never from the URL or the settings file."""

from __future__ import annotations

from collections.abc import Callable

import drivers
from drivers.registry import needs_authkey
from posplus_tui.secrets import SecretStore, SecretStoreError

#: The secret's name in the store; ``POSPLUS_TERMINAL_AUTHKEY`` overrides it (the store's rule).
AUTHKEY_SECRET = "terminal_authkey"
AUTHKEY_ENV = "POSPLUS_TERMINAL_AUTHKEY"

__all__ = [
    "AUTHKEY_ENV",
    "AUTHKEY_SECRET",
    "needs_authkey",
    "open_configured_terminal",
    "terminal_authkey",
]


def terminal_authkey(secrets: SecretStore | None) -> str | None:
    """The stored auth key, or None (no store, not set, or the store cannot be read)."""
    if secrets is None:
        return None
    try:
        return secrets.get(AUTHKEY_SECRET) or None
    except SecretStoreError:
        return None


def open_configured_terminal(
    url: str,
    secrets: SecretStore | None,
    *,
    trace: Callable[[drivers.FrameTrace], None] | None = None,
    authkey: str | None = None,
) -> drivers.Terminal:
    """``drivers.open_terminal`` with the auth key found for it (``authkey`` wins: one typed in
    Setup and not saved yet). A SPIn URL with no key anywhere raises ``TerminalUrlError`` with
    the sentence that says where to put it."""
    key = authkey or (terminal_authkey(secrets) if needs_authkey(url) else None)
    return drivers.open_terminal(url, trace=trace, authkey=key)
