"""Scrub secrets, tokens, PINs and card data from text before it is written anywhere, and spot
card data typed where it does not belong so it can be refused at the door.

Used by the log formatter, the audit chain and anything that prints diagnostics. Pure string work,
no I/O.

A card number hides in many disguises: glued to letters (``pan4111…``), split by spaces, dashes,
dots, slashes, tabs or double spaces, followed by an expiry. :func:`card_data_in` finds any run
of 13 to 19 digits (separators allowed between them) that passes the Luhn check, track 1 and 2
data, and a security code next to its keyword. :func:`redact` masks all of those and more:
every 13 to 19 digit run (Luhn or not: a bank account is not Luhn), tokens, passwords, Basic and
Bearer credentials, passwords in URLs, and routing/account numbers named as such.
"""

from __future__ import annotations

import re
import threading

MASK = "••••"

__all__ = ["MASK", "card_data_in", "luhn_ok", "redact", "register_secret"]

_known: set[str] = set()
_lock = threading.Lock()

# Digits in groups, each group joined to the next by up to three separators (space, tab, dash,
# dot, slash, underscore). No word boundary: a number glued to letters is still a number.
_RUN = re.compile(r"\d+(?:[ \t\u00a0./_\-]{1,3}\d+)*")
_GROUP = re.compile(r"\d+")
# A whole run of 13 to 19 digits standing alone (Luhn or not: a bank account is not Luhn).
_WHOLE = re.compile(r"(?<![\w])(?:\d[ \t\u00a0./_\-]{0,3}){12,18}\d(?![\w])")
_TRACK1 = re.compile(r"%?[Bb]\s*\d[\d ]{11,22}\^[^^\n]{0,30}\^[^\s?]*\??")
_TRACK2 = re.compile(r";?\d{12,19}=\d{4}[^\s?]*\??")
# Track 2 as masked: the number before "=" may be split like any other (checked by length).
_TRACK2_LOOSE = re.compile(r";?\d[\d \t\u00a0./_\-]{11,60}=\d{4}[^\s?]*\??")
_CVV = re.compile(
    r"(?i)\b(cvv2?|cvc2?|cid|csc|cav2?|security[ _-]?code|card[ _-]?code)\b(\W{0,3})(\d{3,4})\b"
)
_EXPIRY = re.compile(
    r"(?i)\b(exp(?:iry|iration)?(?:[ _-]?date)?)\b(\W{0,3})(\d{1,2}\s*[/\-]\s*\d{2,4}|\d{4})\b"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{4,}")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]*:)([^\s@/]+)@")
_KV = re.compile(
    r"(?i)(?<![a-z0-9])(client_secret|clientsecret|secret|password|passwd|pwd|pin|"
    r"app[_-]?key|st-app-key|access_token|refresh_token|id_token|token|api[_-]?key|"
    r"authorization|account(?:_number)?|acct|routing(?:_number)?|aba|iban|cvv2?|cvc2?|exp)"
    r"(\s*[=:]\s*|\"\s*:\s*\"?|'\s*:\s*'?)([^\s,;&\"'}]+)"
)
# "routing 021000021 account 12345678", "acct # 1234-5678", "account no. 000123456789"
_BANK_WORDS = re.compile(
    r"(?i)\b(routing|account|acct|aba|rtn|iban)(\s*(?:number|num|no\.?|nr\.?|#)?[\s:=#.\-]*)"
    r"(\d[\d \-]{3,30}\d)"
)


def register_secret(value: str) -> None:
    """Remember a secret's exact value so that it is masked wherever it appears later."""
    if value and len(value) >= 4:
        with _lock:
            _known.add(value)


def luhn_ok(digits: str) -> bool:
    """The Luhn check every card number passes (and about one in ten random numbers)."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, digits)`` of each Luhn-valid run of 13-19 digits in ``text``, however its
    groups are separated. A longer run is searched group by group (a card then an expiry)."""
    spans: list[tuple[int, int, str]] = []
    for run in _RUN.finditer(text):
        groups = [(m.start() + run.start(), m.end() + run.start(), m.group()) for m in
                  _GROUP.finditer(run.group())]  # fmt: skip
        i = 0
        while i < len(groups):
            found = None
            digits = ""
            for j in range(i, len(groups)):
                digits += groups[j][2]
                if len(digits) > 19:
                    break
                if (
                    len(digits) >= 13
                    and luhn_ok(digits)
                    # bytes in a hex dump ("30 31 1C …") are not a card number split in pairs
                    and (j == i or any(len(g[2]) > 2 for g in groups[i : j + 1]))
                ):
                    found = (groups[i][0], groups[j][1], digits, j)
            if found is None and len(groups[i][2]) > 19:
                # One long group: a card glued to more digits is looked for inside it too.
                whole = groups[i][2]
                for k in range(len(whole) - 12):
                    for n in (16, 15, 19, 18, 17, 14, 13):
                        part = whole[k : k + n]
                        if len(part) == n and luhn_ok(part) and part[0] in "3456":
                            found = (groups[i][0] + k, groups[i][0] + k + n, part, i)
                            break
                    if found:
                        break
            if found is not None:
                spans.append(found[:3])
                i = found[3] + 1
            else:
                i += 1
    return spans


def card_data_in(text: str) -> str:
    """What card data ``text`` holds, in words ("a card number", "card track data", "a card
    security code"), or ``""`` when none. For refusing a search, reason or note at the door."""
    if not text:
        return ""
    if _TRACK1.search(text) or _TRACK2.search(text):
        return "card track data"
    if _card_spans(text):
        return "a card number"
    if _CVV.search(text):
        return "a card security code"
    return ""


def _mask_digits(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    return f"{MASK}{digits[-4:]}"


def _mask_runs(text: str) -> str:
    """Mask Luhn-valid card numbers anywhere, and any whole run of 13-19 digits."""
    spans = [(a, b) for a, b, _ in _card_spans(text)]
    for run in _WHOLE.finditer(text):
        spans.append((run.start(), run.end()))
    if not spans:
        return text
    spans.sort()
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, last = [], 0
    for a, b in merged:
        out.append(text[last:a])
        out.append(_mask_digits(text[a:b]))
        last = b
    out.append(text[last:])
    return "".join(out)


def redact(text: str) -> str:
    """Return ``text`` with every known secret and every sensitive-looking value masked."""
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _TRACK1.sub(MASK, text)
    text = _TRACK2_LOOSE.sub(
        lambda m: MASK if sum(c.isdigit() for c in m.group().split("=")[0]) >= 12 else m.group(),
        text,
    )
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    text = _KV.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _BANK_WORDS.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _CVV.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _EXPIRY.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _mask_runs(text)
