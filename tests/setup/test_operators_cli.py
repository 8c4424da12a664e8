"""``posplus operators``: the first admin without signing in, everything after as an admin."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from posplus_tui.cli import main
from posplus_tui.ledger import open_ledger

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


def run(args: list[str], url: str, stdin: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    return main(["operators", *args, "--database-url", url])


def _rows(url: str, sql: str) -> list[tuple]:
    led = open_ledger(url, must_exist=True)
    try:
        with led.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        led.dispose()


def test_first_admin_then_changes_as_an_admin(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["add", "Ana", "--role", "clerk"], url, "4821\n", monkeypatch) == 2
    assert "must be an admin" in capsys.readouterr().err
    assert run(["add", "Ana", "--role", "admin"], url, "4821\n", monkeypatch) == 0
    assert "first admin" in capsys.readouterr().out

    # Now the ledger has an operator: nobody is added without an admin's PIN.
    assert run(["add", "Mallory", "--role", "admin"], url, "9999\n", monkeypatch) == 2
    assert "--as" in capsys.readouterr().err
    assert (
        run(["add", "Mallory", "--role", "admin", "--as", "Ana"], url, "0000\n9999\n", monkeypatch)
        == 5
    )
    assert "do not match" in capsys.readouterr().err
    names = [r[0] for r in _rows(url, "SELECT name FROM operators")]
    assert names == ["Ana"], "a wrong PIN changes nothing"

    assert (
        run(
            ["add", "Bo", "--role", "clerk", "--st-username", "Bo.S@Shop", "--as", "Ana"],
            url,
            "4821\n1234\n",
            monkeypatch,
        )
        == 0
    )
    assert _rows(url, "SELECT name, role, st_username FROM operators ORDER BY id")[1] == (
        "Bo",
        "clerk",
        "Bo.S@Shop",
    )
    assert run(["disable", "Bo", "--as", "Ana"], url, "4821\n", monkeypatch) == 0
    assert run(["list"], url, "", monkeypatch) == 0
    listed = capsys.readouterr().out
    assert "Bo" in listed and "disabled" in listed and "Bo.S@Shop" in listed
    actors = _rows(url, "SELECT action, actor FROM audit_events ORDER BY seq")
    assert ("operator_updated", "Ana") in actors


def test_set_pin_unlocks_a_locked_operator(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["add", "Ana", "--role", "admin"], url, "4821\n", monkeypatch) == 0
    assert (
        run(["add", "Bo", "--role", "clerk", "--as", "Ana"], url, "4821\n1234\n", monkeypatch) == 0
    )
    from posplus_tui.secrets import SecretStore
    from posplus_tui.services.audit import sign_the_chain
    from posplus_tui.services.operators import OperatorService

    led = open_ledger(url)
    sign_the_chain(led.engine, SecretStore())  # this station's key, as the app does
    service = OperatorService(led)
    for _ in range(6):
        with contextlib.suppress(Exception):
            service.sign_in_sync("Bo", "0000")
    led.dispose()
    assert run(["list"], url, "", monkeypatch) == 0
    assert "locked" in capsys.readouterr().out
    assert run(["set-pin", "bo", "--as", "Ana"], url, "4821\n5555\n", monkeypatch) == 0
    led = open_ledger(url)
    try:
        sign_the_chain(led.engine, SecretStore())
        assert OperatorService(led).sign_in_sync("Bo", "5555").name == "Bo"
    finally:
        led.dispose()


def test_missing_pin_on_stdin_changes_nothing(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["add", "Ana", "--role", "admin"], url, "", monkeypatch) == 2
    assert "standard input" in capsys.readouterr().err
    assert _rows(url, "SELECT count(*) FROM operators") == [(0,)]
    assert run(["set-pin", "Nobody", "--as", "Ana"], url, "4821\n", monkeypatch) == 5
    assert "Nothing was changed" in capsys.readouterr().err


def test_first_admin_in_a_real_process(tmp_path: Path) -> None:
    """As a technician would on a fresh install: PIN on standard input, no traceback."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "POSPLUS_CONFIG_DIR": str(tmp_path / "c"),
        "POSPLUS_DATA_DIR": str(tmp_path / "d"),
        "POSPLUS_LOG_DIR": str(tmp_path / "l"),
    }
    cmd = [sys.executable, "-m", "posplus_tui", "operators"]
    first = subprocess.run(
        [*cmd, "add", "Ana", "--role", "admin"],
        input="4821\n",
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert first.returncode == 0, first.stderr
    listed = subprocess.run(
        [*cmd, "list"], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    assert "Ana" in listed.stdout and "admin" in listed.stdout
    assert (tmp_path / "d" / "ledger.sqlite3").exists()
