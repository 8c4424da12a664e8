"""The audit trail as a service: record an event, verify the chain, read recent events.

Money actions are audited inside the same database transaction as the change (by the payment and
operator services); this service is for everything else (settings changes, technician actions) and
for ``posplus audit verify``.
"""

from __future__ import annotations

import asyncio
import json
import secrets as secrets_module
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from posplus_tui import paths
from posplus_tui.ledger import Ledger
from posplus_tui.ledger import audit as chain
from posplus_tui.ledger.tables import AuditEvent
from posplus_tui.redaction import redact
from posplus_tui.secrets import SecretStore, SecretStoreError
from posplus_tui.services.threads import off_loop

__all__ = ["AUDIT_KEY", "AuditEntry", "AuditService", "VerifyReport", "anchors_file", "audit_key"]

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


VerifyReport = chain.VerifyReport


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
