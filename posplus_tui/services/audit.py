"""The audit trail as a service: record an event, verify the chain, read recent events.

Money actions are audited inside the same database transaction as the change (by the payment and
operator services); this service is for everything else (settings changes, technician actions) and
for ``posplus audit verify``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets as secrets_module
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import col

from posplus_tui import paths
from posplus_tui.ledger import Ledger
from posplus_tui.ledger import audit as chain
from posplus_tui.ledger.tables import AuditEvent
from posplus_tui.redaction import redact
from posplus_tui.secrets import SecretStore, SecretStoreError
from posplus_tui.services.threads import off_loop

__all__ = [
    "AUDIT_KEY",
    "AuditEntry",
    "AuditService",
    "KeyTransferError",
    "VerifyReport",
    "anchors_file",
    "audit_key",
    "sign_the_chain",
    "unwrap_key",
    "wrap_key",
]

log = logging.getLogger("posplus.audit")

#: The secret-store name of the key that signs the chain (never in the database).
AUDIT_KEY = "audit_key"


def anchors_file() -> Path:
    """This station's append-only file of chain heads (outside the ledger)."""
    return paths.data_dir() / "audit-anchors.log"


def audit_key(secrets: SecretStore, *, create: bool) -> str | None:
    """The chain's signing key from the secret store; a new one is made only for an empty
    chain (``create``): signing half a chain would make the unsigned half look forged. Several
    stations sharing a ledger share the key (keyring, or POSPLUS_AUDIT_KEY)."""
    try:
        key = secrets.get(AUDIT_KEY)
        if key or not create:
            return key or None
        key = secrets_module.token_hex(32)
        secrets.set(AUDIT_KEY, key)
        return key
    except SecretStoreError:
        return None


def sign_the_chain(engine: Engine, secrets: SecretStore) -> chain.KeyState:
    """Sign this ledger's audit chain with the key from the secret store (made for a new chain),
    for every process that writes to it: the app, and the commands that change operators, settle
    payments or post them. A chain signed with a key this station lacks (or another key) raises
    :class:`~posplus_tui.ledger.audit.AuditKeyError` in words rather than write events no check
    accepts; an old unsigned chain goes on unsigned until ``posplus audit upgrade``."""
    empty = chain.head(engine)[0] == 0
    key = audit_key(secrets, create=empty)
    state = chain.key_state(engine, key)
    if state in (chain.KeyState.MISSING, chain.KeyState.WRONG):
        hint = ""
        if key is None and secrets.needs_file_password():
            hint = (
                " This computer keeps secrets in the encrypted secrets file, which is locked "
                "before anyone signs in: give its password as POSPLUS_SECRETS_PASSWORD, or the "
                "key as POSPLUS_AUDIT_KEY."
            )
        raise chain.AuditKeyError(state.describe() + hint)
    if state is chain.KeyState.UNSIGNED or key is None:
        chain.set_key(engine, None)
        log.warning(
            "the audit log is not signed%s",
            ": run `posplus audit upgrade`"
            if state is chain.KeyState.UNSIGNED
            else " (no keyring to keep its key in)",
        )
        return state
    chain.set_key(engine, key)
    if state is chain.KeyState.SIGNED:
        chain.name_the_key(engine)
    return state


VerifyReport = chain.VerifyReport


# -- carrying the key to another station -----------------------------------------------------------

#: How a wrapped key starts: the format's name and version, so a pasted text is recognised.
WRAPPED_PREFIX = "posplus-audit-key-1:"
#: The shortest passphrase accepted: it is all that protects the key while it travels.
MIN_PASSPHRASE = 12
_SCRYPT_LOG2_N = 15  # scrypt N = 2**15, r = 8: about 32 MiB and a tenth of a second per try
_SALT = 16
_MAC = 32


class KeyTransferError(ValueError):
    """A wrapped key that cannot be used, in words (mistyped, cut short, wrong passphrase)."""


def _stretch(passphrase: str, salt: bytes, log2_n: int, size: int) -> bytes:
    n = 1 << log2_n
    return hashlib.scrypt(
        passphrase.encode("utf-8"), salt=salt, n=n, r=8, p=1, maxmem=256 * n * 8, dklen=size
    )


def wrap_key(key: str, passphrase: str, *, log2_n: int = _SCRYPT_LOG2_N) -> str:
    """``key`` sealed under ``passphrase``, as one line of text to carry to another station.

    scrypt stretches the passphrase with a fresh random salt into a one-time pad as long as the
    key plus a MAC key; the key is XORed with the pad (used once: the salt is new each time) and
    the MAC (HMAC-SHA-256 over the header, salt and sealed key) tells a wrong passphrase or a
    damaged text from a key. Only the standard library: nothing new to install on a counter."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeyTransferError(
            f"The passphrase must be at least {MIN_PASSPHRASE} characters: it is all that "
            "protects the key on its way."
        )
    raw = key.encode("utf-8")
    salt = secrets_module.token_bytes(_SALT)
    stream = _stretch(passphrase, salt, log2_n, len(raw) + _MAC)
    sealed = bytes(a ^ b for a, b in zip(raw, stream, strict=False))
    header = bytes([log2_n])
    mac = hmac.new(stream[len(raw) :], header + salt + sealed, hashlib.sha256).digest()
    blob = base64.urlsafe_b64encode(header + salt + mac + sealed).decode().rstrip("=")
    return WRAPPED_PREFIX + blob


def unwrap_key(text: str, passphrase: str) -> str:
    """The key sealed by :func:`wrap_key`; :class:`KeyTransferError` in words otherwise."""
    text = "".join(text.split())  # pasted across lines or with spaces: still the same text
    if not text.startswith(WRAPPED_PREFIX):
        raise KeyTransferError(
            f"That is not an exported audit key (it starts with “{WRAPPED_PREFIX}”): paste the "
            "whole line `posplus audit key export` printed."
        )
    blob = text[len(WRAPPED_PREFIX) :]
    try:
        data = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
    except (ValueError, TypeError):
        data = b""
    if len(data) <= 1 + _SALT + _MAC or not 10 <= data[0] <= 20:
        raise KeyTransferError(
            "That exported key is cut short or damaged: copy the whole line again."
        )
    header, salt = data[:1], data[1 : 1 + _SALT]
    mac, sealed = data[1 + _SALT : 1 + _SALT + _MAC], data[1 + _SALT + _MAC :]
    stream = _stretch(passphrase, salt, data[0], len(sealed) + _MAC)
    want = hmac.new(stream[len(sealed) :], header + salt + sealed, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, want):
        raise KeyTransferError(
            "Wrong passphrase, or the exported key was changed on the way: nothing was stored. "
            "Type the passphrase chosen at the exporting station."
        )
    raw = bytes(a ^ b for a, b in zip(sealed, stream, strict=False))
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyTransferError("That exported key is damaged: export it again.") from None


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    station: str
    action: str
    subject: str
    details: dict[str, Any]


def _redacted(details: dict[str, Any] | None) -> dict[str, Any]:
    """Details never carry secrets or card-like digits, whoever calls."""
    return {k: redact(v) if isinstance(v, str) else v for k, v in (details or {}).items()}


class AuditService:
    def __init__(self, ledger: Ledger, *, station: str = "") -> None:
        self._ledger = ledger
        self._station = station

    def record_sync(
        self,
        action: str,
        *,
        actor: str = "",
        subject: str = "",
        details: dict[str, Any] | None = None,
    ) -> int:
        with self._ledger.session() as session:
            event = chain.append(
                session,
                action,
                actor=actor,
                station=self._station,
                subject=subject,
                details=_redacted(details),
            )
            return event.seq

    #: Append one event (e.g. ``setting_changed`` with the key, never a secret value).
    record = off_loop(record_sync)

    async def setting_changed(
        self, key: str, *, actor: str, secret: bool = False, old: str = "", new: str = ""
    ) -> int:
        """One changed setting: old and new values for plain settings; for a secret only that
        it was stored (its value never leaves the keyring)."""
        details: dict[str, Any] = {"key": key}
        if secret:
            details["value"] = "(secret, stored in the keyring)"
        else:
            details.update(old=old, new=new)
        return await self.record("setting_changed", actor=actor, subject=key, details=details)

    def verify_sync(self, anchors: Path | None = None) -> chain.VerifyReport:
        return chain.verify(self._ledger.engine, anchors=anchors)

    def anchor_sync(self, path: Path | None = None) -> tuple[int, str]:
        """Write the chain's head to the anchor file (at start-up and every batch close)."""
        return chain.anchor(self._ledger.engine, path or anchors_file())

    async def anchor(self, path: Path | None = None) -> tuple[int, str]:
        return await asyncio.to_thread(self.anchor_sync, path)

    async def verify(self) -> chain.VerifyReport:
        return await asyncio.to_thread(self.verify_sync)

    def recent_sync(self, limit: int = 100) -> list[AuditEntry]:
        with self._ledger.session() as session:
            rows = session.execute(
                select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(limit)
            ).scalars()
            return [
                AuditEntry(
                    r.seq, r.at, r.actor, r.station, r.action, r.subject, json.loads(r.details)
                )
                for r in rows
            ]

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        return await asyncio.to_thread(self.recent_sync, limit)
