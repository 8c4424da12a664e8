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
    "FAMILIES",
    "missing_terminal_secret",
    "needs_authkey",
    "open_configured_terminal",
    "spin_parts",
    "spin_url",
    "terminal_authkey",
    "terminal_family",
]


def terminal_authkey(secrets: SecretStore | None) -> str | None:
    """The stored auth key, or None (no store, not set, or the store cannot be read)."""
    if secrets is None:
        return None
    try:
        return secrets.get(AUTHKEY_SECRET) or None
    except SecretStoreError:
        return None


def missing_terminal_secret(url: str, secrets: SecretStore | None) -> str:
    """Why the terminal at ``url`` cannot be opened for want of its secret ("" when it can):
    for ``posplus run`` and Setup's go-live, so a lost key opens Setup instead of failing."""
    if needs_authkey(url) and not terminal_authkey(secrets):
        return (
            "The Dejavoo terminal's auth key is not stored: type it in Setup (Card terminal) or "
            f"set {AUTHKEY_ENV}."
        )
    return ""


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


# -- Setup's terminal fields --------------------------------------------------------------------

#: Setup's choice of terminal family (label, value): short, it shares a line with the address
FAMILIES = (("PAX (POSLink)", "poslink"), ("Dejavoo (SPIn)", "spin"))


def terminal_family(url: str) -> str:
    """``spin`` for a Dejavoo SPIn URL, else ``poslink`` (serial, TCP, the simulator)."""
    return "spin" if needs_authkey(url) else "poslink"


def spin_parts(url: str) -> tuple[str, str]:
    """A SPIn URL as Setup's two fields: (address, TPN); ("", "") for anything else."""
    from urllib.parse import parse_qsl, urlsplit

    if not needs_authkey(url):
        return "", ""
    parts = urlsplit(url.strip())
    tpn = dict(parse_qsl(parts.query)).get("tpn", "")
    if parts.scheme.lower() == "spin+https":
        return f"https://{parts.netloc}{parts.path}", tpn
    return parts.netloc, tpn


def spin_url(address: str, tpn: str) -> str:
    """Setup's SPIn fields as a terminal URL. ``address``: ``HOST:PORT`` (the terminal, local
    mode) or ``https://HOST/PATH`` (the SPIn cloud proxy). Raises ``ValueError`` with the fix."""
    address, tpn = address.strip(), tpn.strip()
    if not address:
        raise ValueError(
            "Type the terminal's address: 192.168.1.60:9000 (the terminal on this network) or "
            "https://spinpos.net/spin (Dejavoo's cloud)."
        )
    if not tpn:
        raise ValueError(
            "Type the terminal's TPN (10–12 letters and digits, on the terminal's "
            "SPIn screen or in the iPOSpays portal)."
        )
    low = address.lower()
    if low.startswith("https://"):
        url = f"spin+https://{address[8:].rstrip('/')}?tpn={tpn}"
    else:
        url = f"spin+http://{address[7:] if low.startswith('http://') else address}?tpn={tpn}"
    from drivers.registry import parse_url

    try:
        parse_url(url)
    except ValueError as exc:
        words = str(exc).split(": ", 1)[-1].split(". Examples:")[0]
        raise ValueError(f"The Dejavoo address or TPN is not right: {words}") from None
    return url
