"""The audit key between stations, and signing an old unsigned chain.

Several stations on one ledger (SQLite file and real PostgreSQL) sign one chain with one key
kept in each station's secret store, never in the database. A station without it, or with
another, says so in words and writes nothing (it neither fails a check silently nor signs with
its own key); ``posplus audit key export`` / ``import`` carry the key under a passphrase typed at
both ends. ``posplus audit upgrade`` checks an old unsigned chain, then signs from there on.
"""

from __future__ import annotations

import io
from pathlib import Path

import keyring
import pytest
from sqlalchemy import Engine, text

from posplus_tui.cli import main
from posplus_tui.config import Settings
from posplus_tui.ledger import Ledger, open_ledger
from posplus_tui.ledger import audit as chain
from posplus_tui.secrets import MemoryKeyring, SecretStore
from posplus_tui.services.audit import (
    AUDIT_KEY,
    KeyTransferError,
    anchors_file,
    unwrap_key,
    wrap_key,
)
from posplus_tui.services.clock import FixedClock
from posplus_tui.services.operators import OperatorService
from posplus_tui.services.wiring import build_run
from tests.services.conftest import FAST_PIN_COST

KEY = "f00d" * 16
PASSPHRASE = "blue counter 42 lamp"


def _events(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one())


def _cli(
    monkeypatch: pytest.MonkeyPatch, capsys, *argv: str, stdin: str = ""
) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _station_a(ledger_url: str) -> OperatorService:
    """The first station: its key in its keyring, a signed chain with a few events."""
    SecretStore().set(AUDIT_KEY, KEY)
    services = build_run(
        Settings(database_url=ledger_url), clock=FixedClock(), pin_cost=FAST_PIN_COST
    )
    assert services.operators is not None and services.ledger is not None
    ops = services.operators
    ada = ops.add_sync("Ada", "admin", "4321")
    ops.add_sync("Carl", "clerk", "1234", by=ada)
    assert chain.key_state(services.ledger.engine, KEY) is chain.KeyState.SIGNED
    return ops


def _other_station() -> None:
    """Another computer: its own (empty) keyring."""
    keyring.set_keyring(MemoryKeyring())


def test_a_second_station_without_the_key_says_so_then_imports_it(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    _station_a(ledger_url)
    code, wrapped, err = _cli(
        monkeypatch, capsys, "audit", "key", "export", "--database-url", ledger_url,
        stdin=PASSPHRASE + "\n",
    )  # fmt: skip
    assert code == 0, err
    assert KEY not in wrapped and wrapped.startswith("posplus-audit-key-1:")
    assert "passphrase" in err

    _other_station()
    # Starting the app: a sentence that says what to do, not a station signing its own chain.
    with pytest.raises(chain.AuditKeyError, match="does not have"):
        build_run(Settings(database_url=ledger_url), clock=FixedClock(), pin_cost=FAST_PIN_COST)
    # Verifying: the same words, not "BROKEN" at event #1.
    code, out, err = _cli(monkeypatch, capsys, "audit", "verify", "--database-url", ledger_url)
    assert code == 7
    assert "does not have" in err and "posplus audit key import" in err
    assert "BROKEN" not in out + err
    # A command that writes (an admin adding a clerk) refuses the same way and adds nothing.
    code, out, err = _cli(
        monkeypatch, capsys, "operators", "add", "Cleo", "--role", "clerk", "--as", "Ada",
        "--database-url", ledger_url, stdin="4321\n5678\n",
    )  # fmt: skip
    assert code == 7 and "does not have" in err, out + err

    # A wrong passphrase stores nothing.
    code, _out, err = _cli(
        monkeypatch, capsys, "audit", "key", "import", "--database-url", ledger_url,
        stdin=f"{wrapped.strip()}\nnot the passphrase\n",
    )  # fmt: skip
    assert code == 7 and "Wrong passphrase" in err
    assert SecretStore().get(AUDIT_KEY) is None

    code, out, err = _cli(
        monkeypatch, capsys, "audit", "key", "import", "--database-url", ledger_url,
        stdin=f"{wrapped.strip()}\n{PASSPHRASE}\n",
    )  # fmt: skip
    assert code == 0, err
    assert "signs this ledger" in out
    assert SecretStore().get(AUDIT_KEY) == KEY

    # Now the second station starts, signs with the same key, and both verify.
    services = build_run(
        Settings(database_url=ledger_url), clock=FixedClock(), pin_cost=FAST_PIN_COST
    )
    assert services.operators is not None and services.ledger is not None
    services.operators.sign_in_sync("Carl", "1234")
    code, out, err = _cli(monkeypatch, capsys, "audit", "verify", "--database-url", ledger_url)
    assert code == 0, out + err
    assert "intact" in out and "signed with this station's audit key" in out


def test_a_station_with_another_key_writes_nothing(ledger_url: str) -> None:
    ops = _station_a(ledger_url)
    _other_station()
    SecretStore().set(AUDIT_KEY, "another station's own key, made by mistake")
    with pytest.raises(chain.AuditKeyError, match="not the one that signs"):
        build_run(Settings(database_url=ledger_url), clock=FixedClock(), pin_cost=FAST_PIN_COST)
    # Even a process that skipped the start-up check cannot append: the chain names its key.
    other = open_ledger(ledger_url)
    try:
        before = _events(other.engine)
        for key in ("another station's own key, made by mistake", None):
            chain.set_key(other.engine, key)
            stray = OperatorService(other, station="Counter 2", pin_cost=FAST_PIN_COST)
            with pytest.raises(chain.AuditKeyError):
                stray.sign_in_sync("Carl", "1234")
        assert _events(other.engine) == before
    finally:
        other.dispose()
    assert ops.sign_in_sync("Carl", "1234").name == "Carl"  # the first station goes on


def test_import_refuses_a_key_of_another_ledger(
    ledger_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    _station_a(ledger_url)
    wrapped = wrap_key("a key from some other ledger", PASSPHRASE, log2_n=10)
    _other_station()
    code, _out, err = _cli(
        monkeypatch, capsys, "audit", "key", "import", wrapped, "--database-url", ledger_url,
        stdin=PASSPHRASE + "\n",
    )  # fmt: skip
    assert code == 7 and "another ledger" in err
    assert SecretStore().get(AUDIT_KEY) is None


def test_a_wrapped_key_needs_its_passphrase_and_its_whole_text() -> None:
    wrapped = wrap_key(KEY, PASSPHRASE, log2_n=10)
    assert unwrap_key(wrapped, PASSPHRASE) == KEY
    assert unwrap_key(wrapped[:40] + "\n  " + wrapped[40:], PASSPHRASE) == KEY  # pasted wrapped
    assert wrap_key(KEY, PASSPHRASE, log2_n=10) != wrapped  # a fresh salt every time
    for bad, words in (
        ((wrapped, "blue counter 42 lamb"), "Wrong passphrase"),
        ((wrapped[:-3], PASSPHRASE), "Wrong passphrase"),
        ((wrapped[:30], PASSPHRASE), "cut short"),
        ((KEY, PASSPHRASE), "not an exported audit key"),
    ):
        with pytest.raises(KeyTransferError, match=words):
            unwrap_key(*bad)
    with pytest.raises(KeyTransferError, match="at least 12"):
        wrap_key(KEY, "short")


# -- upgrading an unsigned chain ---------------------------------------------------------------


@pytest.fixture
def unsigned(ledger: Ledger) -> Ledger:
    """A ledger as an older version left it: events hashed without a key."""
    chain.set_key(ledger.engine, None)
    ops = OperatorService(ledger, station="Counter 1", pin_cost=FAST_PIN_COST)
    ada = ops.add_sync("Ada", "admin", "4321")
    ops.add_sync("Carl", "clerk", "1234", by=ada)
    ops.sign_in_sync("Carl", "1234")
    assert chain.key_state(ledger.engine, KEY) is chain.KeyState.UNSIGNED
    assert chain.verify(ledger.engine).ok
    return ledger


def test_upgrade_checks_the_unsigned_chain_then_signs_from_there(
    unsigned: Ledger, tmp_path: Path
) -> None:
    engine = unsigned.engine
    anchors = tmp_path / "anchors.log"
    chain.anchor(engine, anchors)
    events = _events(engine)
    done = chain.upgrade(engine, KEY, anchors=anchors, actor="test")
    assert done.ok and done.signed_from == events + 1, done.describe()
    assert "signed with this station's key" in done.describe()
    assert chain.key_state(engine, KEY) is chain.KeyState.SIGNED
    assert chain.key_state(engine, None) is chain.KeyState.MISSING
    ops = OperatorService(unsigned, station="Counter 1", pin_cost=FAST_PIN_COST)
    ops.sign_in_sync("Carl", "1234")  # signed now
    assert chain.verify(engine, key=KEY, anchors=anchors).ok
    # An attacker rewrites the unsigned part and re-hashes it (all they can do without the
    # key): the signed event that pins it no longer matches.
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT * FROM audit_events ORDER BY seq")).mappings().all()
        prev = chain.GENESIS
        for ev in rows[:events]:
            actor = "Mallory" if ev["seq"] == 2 else ev["actor"]
            digest = chain.event_hash(
                seq=ev["seq"], at=ev["at"], actor=actor, station=ev["station"],
                action=ev["action"], subject=ev["subject"], details=ev["details"],
                prev_hash=prev,
            )  # fmt: skip
            conn.execute(
                text(
                    "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"
                ),
                {"a": actor, "p": prev, "h": digest, "s": ev["seq"]},
            )
            prev = digest
    report = chain.verify(engine, key=KEY)
    assert not report.ok and report.first_break is not None
    assert report.first_break.seq == events + 1


def test_upgrade_refuses_a_broken_chain(unsigned: Ledger, tmp_path: Path) -> None:
    engine = unsigned.engine
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'Mallory' WHERE seq = 2"))
    events = _events(engine)
    done = chain.upgrade(engine, KEY, anchors=tmp_path / "anchors.log")
    assert not done.ok and "NOT upgraded" in done.describe()
    assert _events(engine) == events
    assert chain.key_state(engine, KEY) is chain.KeyState.UNSIGNED


def test_upgrade_seals_rows_older_than_seals_but_not_rows_added_since(
    unsigned: Ledger, tmp_path: Path
) -> None:
    """A ledger from before rows were sealed: its rows are sealed as they are by the upgrade. A
    row added behind the app's back after sealed rows is not: that is tampering."""
    engine = unsigned.engine
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO operators (id, name, role, st_username, pin_hash, failed_attempts, "
                "disabled, created_at, updated_at) VALUES (1000, 'mallory', 'admin', '', 'x', 0, "
                "false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    done = chain.upgrade(engine, KEY, anchors=tmp_path / "anchors.log")
    assert not done.ok and "operators row #1000 was written outside the app" in done.describe()

    with engine.begin() as conn:  # now as a ledger from before seals: no seal at all
        conn.execute(text("DELETE FROM operators WHERE id = 1000"))
        rows = conn.execute(text("SELECT * FROM audit_events ORDER BY seq")).mappings().all()
        prev = chain.GENESIS
        for ev in rows:
            details = '{"note":"written before rows were sealed"}'
            digest = chain.event_hash(
                seq=ev["seq"], at=ev["at"], actor=ev["actor"], station=ev["station"],
                action=ev["action"], subject=ev["subject"], details=details, prev_hash=prev,
            )  # fmt: skip
            conn.execute(
                text("UPDATE audit_events SET details = :d, prev_hash = :p, hash = :h "
                     "WHERE seq = :s"),
                {"d": details, "p": prev, "h": digest, "s": ev["seq"]},
            )  # fmt: skip
            prev = digest
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": prev})
    done = chain.upgrade(engine, KEY, anchors=tmp_path / "anchors.log")
    assert done.ok and done.rows_sealed == 2, done.describe()
    assert chain.verify(engine, key=KEY).ok
    with engine.begin() as conn:
        conn.execute(text("UPDATE operators SET role = 'admin' WHERE name = 'Carl'"))
    assert not chain.verify(engine, key=KEY).ok


def test_posplus_audit_upgrade_from_the_command_line(
    unsigned: Ledger, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    url = unsigned.url
    code, out, err = _cli(monkeypatch, capsys, "audit", "verify", "--database-url", url)
    assert code == 0 and "not signed" in out and "posplus audit upgrade" in out
    code, out, err = _cli(monkeypatch, capsys, "audit", "upgrade", "--database-url", url)
    assert code == 0, err
    assert "checked and are intact" in out and "posplus audit key export" in out
    assert SecretStore().get(AUDIT_KEY)  # made and kept in the secret store
    assert anchors_file().exists()
    code, out, err = _cli(monkeypatch, capsys, "audit", "upgrade", "--database-url", url)
    assert code == 0 and "already signed" in out
    code, out, err = _cli(monkeypatch, capsys, "audit", "verify", "--database-url", url)
    assert code == 0 and "signed with this station's audit key" in out


_OLD_CARD = (
    "INSERT INTO cards_on_file (customer_id, token, brand, last4, expiry, revoked, created_at) "
    "VALUES (:c, 'tok_old', 'VISA', '4242', '1230', false, CURRENT_TIMESTAMP)"
)


def test_upgrade_seals_cards_saved_before_cards_were_sealed_on_a_signed_chain(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """A chain signed by the version before saved cards were sealed: its cards (no seal) are
    named with the way out, ``posplus audit upgrade`` seals them as they are, and from then on
    a card moved to another customer, or one added in SQL, is reported."""
    ops = _station_a(ledger_url)
    engine = ops._ledger.engine
    with engine.begin() as conn:
        conn.execute(text(_OLD_CARD), {"c": "7001"})
    code, out, err = _cli(monkeypatch, capsys, "audit", "verify", "--database-url", ledger_url)
    assert code != 0 and "cards_on_file row #1" in out and "posplus audit upgrade" in out
    code, out, err = _cli(monkeypatch, capsys, "audit", "upgrade", "--database-url", ledger_url)
    assert code == 0 and "1 rows saved before" in out, out + err
    code, out, err = _cli(monkeypatch, capsys, "audit", "verify", "--database-url", ledger_url)
    assert code == 0 and "intact" in out, out + err
    code, out, err = _cli(monkeypatch, capsys, "audit", "upgrade", "--database-url", ledger_url)
    assert code == 0 and "already signed" in out
    with engine.begin() as conn:  # added after the first sealed card: never blessed
        conn.execute(text(_OLD_CARD), {"c": "7002"})
    code, out, err = _cli(monkeypatch, capsys, "audit", "upgrade", "--database-url", ledger_url)
    assert code != 0 and "cards_on_file row #2" in out and "Nothing was sealed" in out
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM cards_on_file WHERE id = 2"))
        conn.execute(text("UPDATE cards_on_file SET customer_id = '9999' WHERE id = 1"))
    assert not chain.verify(engine, key=KEY).ok


def test_a_chain_signed_before_chains_named_their_key_is_named_at_start(
    ledger: Ledger, tmp_path: Path
) -> None:
    """Ledgers of the previous version were signed from their first event but did not name the
    key: the first start signs on and names it, so another key is refused from then on."""
    engine = ledger.engine
    with engine.begin() as conn:  # two signed events, as the previous version wrote them
        prev = chain.GENESIS
        for seq in (1, 2):
            fields = {"seq": seq, "at": f"2026-11-2{seq}T10:00:00.000000+00:00", "actor": "Ada",
                      "station": "Counter 1", "action": "note", "subject": "", "details": "{}",
                      "prev_hash": prev}  # fmt: skip
            digest = chain.event_hash(**fields, key=KEY.encode())
            conn.execute(
                text("INSERT INTO audit_events (seq, at, actor, station, action, subject, "
                     "details, prev_hash, hash) VALUES (:seq, :at, :actor, :station, :action, "
                     ":subject, :details, :prev_hash, :hash)"),
                {**fields, "hash": digest},
            )  # fmt: skip
            prev = digest
        conn.execute(text("UPDATE audit_head SET seq = 2, hash = :h"), {"h": prev})
    assert chain.key_state(engine, KEY) is chain.KeyState.SIGNED
    assert chain.key_state(engine, None) is chain.KeyState.MISSING
    SecretStore().set(AUDIT_KEY, KEY)
    services = build_run(
        Settings(database_url=ledger.url), clock=FixedClock(), pin_cost=FAST_PIN_COST
    )
    assert services.operators is not None
    services.operators.add_sync("Ada", "admin", "4321")
    assert chain.verify(engine, key=KEY).ok
    other = open_ledger(ledger.url)
    try:
        chain.set_key(other.engine, "not the key")
        with pytest.raises(chain.AuditKeyError, match="not the one"):
            OperatorService(other, station="Counter 2", pin_cost=FAST_PIN_COST).sign_in_sync(
                "Ada", "4321"
            )
    finally:
        other.dispose()
