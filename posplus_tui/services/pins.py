"""PINs: only scrypt hashes are kept; checked in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from posplus_tui.services.errors import InvalidRequest

#: scrypt cost (N). 2**14 with r=8 is ~16 MiB and tens of ms per try; tests pass a small value.
DEFAULT_PIN_COST = 2**14
PIN_FORMAT = re.compile(r"^\d{4,8}$")


def hash_pin(pin: str, *, cost: int = DEFAULT_PIN_COST) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=cost, r=8, p=1, dklen=32)
    return f"scrypt${cost}$8$1${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            pin.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def check_pin_format(pin: str) -> None:
    if not isinstance(pin, str) or not PIN_FORMAT.match(pin):
        raise InvalidRequest("A PIN is 4 to 8 digits.", "Choose a PIN of 4 to 8 digits, e.g. 4821.")
