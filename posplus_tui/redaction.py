"""Scrub secrets, tokens, PINs and card-number-like digits from text before it is written anywhere.

Used by the log formatter and by anything that prints diagnostics. Pure string work, no I/O.
"""

from __future__ import annotations

import re
import threading

MASK = "••••"

_known: set[str] = set()
_lock = threading.Lock()

# 13 to 19 digits, optionally split by single spaces or dashes: a card number or a full account.
_PAN = re.compile(r"(?<![\w])(?:\d[ -]?){12,18}\d(?![\w])")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]+")
_KV = re.compile(
    r"(?i)\b(client_secret|clientsecret|secret|password|passwd|pin|app[_-]?key|st-app-key|"
    r"access_token|token|authorization|account(?:_number)?|routing(?:_number)?)"
    r"(\s*[=:]\s*|\"\s*:\s*\"?|'\s*:\s*'?)([^\s,;&\"'}]+)"
)


def register_secret(value: str) -> None:
    """Remember a secret's exact value so that it is masked wherever it appears later."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)


def _mask_pan(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"{MASK}{digits[-4:]}"


def redact(text: str) -> str:
    """Return ``text`` with every known secret and every sensitive-looking value masked."""
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _KV.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _PAN.sub(_mask_pan, text)
    return text
