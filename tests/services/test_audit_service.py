"""The audit service: setting changes and other events, redacted, chained, verifiable."""

from __future__ import annotations

from posplus_tui.ledger import Ledger
from posplus_tui.services.audit import AuditService


async def test_record_redacts_and_verifies(ledger: Ledger) -> None:
    audit = AuditService(ledger, station="Counter 1")
    await audit.setting_changed("terminal_url", actor="Alice Admin")
    await audit.setting_changed("client_secret", actor="Alice Admin", secret=True)
    seq = await audit.record(
        "technician_note",
        actor="Tina Tech",
        details={"note": "customer read card 4111 1111 1111 1111 aloud; password=hunter2"},
    )
    assert seq == 3
    recent = await audit.recent(10)
    assert [e.action for e in recent] == ["technician_note", "setting_changed", "setting_changed"]
    note = recent[0].details["note"]
    assert "4111 1111 1111 1111" not in note and "hunter2" not in note and "••••1111" in note
    assert recent[1].details["value"] == "(secret, stored in the keyring)"
    report = await audit.verify()
    assert report.ok and report.events == 3
