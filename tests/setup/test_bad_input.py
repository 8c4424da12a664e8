"""Every command, given bad values, answers with a sentence and a non-zero exit: never a traceback.

Each case names the value and what a person typed wrong; the check is the same for all: the exit
code is not 0, the words name the problem, and neither a traceback nor the last-wall "something
unexpected" message appears (that would mean the bad value was not recognised where it entered).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from posplus_tui.cli import main

REPO = Path(__file__).resolve().parents[2]


def _config(home: Path, body: bytes) -> None:
    folder = home / "config"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_bytes(body)


BAD_DB_URLS = [
    ("postgresql://u:p@h:notaport/db", "cannot be read"),
    ("not a url", "cannot be read"),
    ("postgresql://[::1/x", "cannot be read"),
    ("mysql://root@h/db", "Unsupported"),
    ("sqlite://", "names no file"),
    ("sqlite:///", "names no file"),
    ("sqlite:///:memory:", "names no file"),
]


@pytest.mark.parametrize(("url", "words"), BAD_DB_URLS)
@pytest.mark.parametrize(
    "command",
    [
        ["txn", "list"],
        ["txn", "show", "P1"],
        ["audit", "verify"],
        ["db", "upgrade"],
        ["db", "backup"],
        ["recover", "--terminal-url", "sim://"],
        ["reconcile", "--status"],
        ["operators", "list"],
    ],
    ids=lambda c: "-".join(c[:2]) if isinstance(c, list) else None,
)
def test_bad_database_urls(
    command: list[str], url: str, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*command, "--database-url", url])
    err = capsys.readouterr().err
    assert code != 0
    assert words in err, err
    assert "Traceback" not in err and "unexpected" not in err
    assert ":p@" not in err, "a password is never printed"


def test_the_same_values_are_refused_in_the_settings(
    isolated_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for url, words in BAD_DB_URLS:
        monkeypatch.setenv("POSPLUS_DATABASE_URL", url)
        assert main(["config", "show"]) == 2
        err = capsys.readouterr().err
        assert "database_url" in err and (words in err or "expected sqlite:///PATH" in err), err
    monkeypatch.delenv("POSPLUS_DATABASE_URL")
    for url in ("foo", "poslink+tcp://[::1", "poslink+tcp://h:notaport", "ftp://x"):
        monkeypatch.setenv("POSPLUS_TERMINAL_URL", url)
        for command in (["config", "show"], ["terminal", "test"], ["run"]):
            assert main(command) == 2, (url, command)
            err = capsys.readouterr().err
            assert "terminal_url" in err and "Examples" in err, err
            assert "Traceback" not in err


def test_a_typo_in_a_ledger_path_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typo = tmp_path / "ledgr.sqlite3"
    for command in (["txn", "list"], ["audit", "verify"], ["recover", "--terminal-url", "sim://"]):
        assert main([*command, "--database-url", f"sqlite:///{typo}"]) == 3
        assert "no ledger" in capsys.readouterr().err
        assert not typo.exists()


def test_a_damaged_ledger_file_gets_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = tmp_path / "ledger.sqlite3"
    damaged.write_bytes(b"this is not SQLite" * 100)
    for command in (["txn", "list"], ["db", "upgrade"], ["operators", "list"]):
        assert main([*command, "--database-url", f"sqlite:///{damaged}"]) == 3
        err = capsys.readouterr().err
        assert "damaged" in err and "posplus db restore" in err, err


def test_an_unwritable_folder_gets_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")  # a folder cannot be made under a file, even by root
    url = f"sqlite:///{blocker}/sub/ledger.sqlite3"
    assert main(["db", "upgrade", "--database-url", url]) == 3
    assert "Cannot create the ledger's folder" in capsys.readouterr().err
    assert main(["demo", "--data-dir", str(blocker / "sub")]) == 2
    assert "--data-dir" in capsys.readouterr().err


def test_a_config_file_that_is_not_utf8(
    isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _config(isolated_env, b'[posplus]\nstation_name = "Caf\xe9"\n')
    for command in (["config", "show"], ["run"], ["txn", "list"], ["terminal", "test"]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "UTF-8" in err and "Traceback" not in err


def test_numbers_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        ["txn", "list", "--limit", "-1"],
        ["txn", "list", "--limit", "many"],
        ["txn", "list", "--since", "yesterday"],
        ["db", "backup", "--keep", "0"],
        ["demo", "--card-wait-ms", "-5"],
    ):
        try:
            code = main(command)
        except SystemExit as exc:  # argparse's own one-line refusal
            code = int(exc.code or 0)
        assert code == 2, command
        err = capsys.readouterr().err
        assert "Traceback" not in err and err.strip(), command


def test_a_bogus_keyring_backend(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import keyring

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "bogus.Backend")
    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    assert main(["config", "show"]) == 3
    err = capsys.readouterr().err
    assert "PYTHON_KEYRING_BACKEND" in err and "cannot be loaded" in err


def test_the_last_wall_is_a_sentence_in_a_real_process(tmp_path: Path) -> None:
    """Whatever slips past every check is still one line, with the details in the log."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "POSPLUS_CONFIG_DIR": str(tmp_path / "c"),
        "POSPLUS_DATA_DIR": str(tmp_path / "d"),
        "POSPLUS_LOG_DIR": str(tmp_path / "l"),
    }
    code = (
        "import sys, posplus_tui.cli as c\n"
        "def boom(args): raise RuntimeError('boom 4111 1111 1111 1111')\n"
        "c.COMMAND_MODULES = ()\n"
        "p = c.build_parser\n"
        "def build():\n"
        "    parser = p(); parser.set_defaults(func=boom); return parser\n"
        "c.build_parser = build\n"
        "sys.exit(c.main([]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "something unexpected" in proc.stderr
    assert "4111 1111 1111 1111" not in proc.stderr
    log = (tmp_path / "l" / "posplus.log").read_text()
    assert "RuntimeError" in log and "4111 1111 1111 1111" not in log
