"""``posplus recover`` on a ledger it cannot write gets a sentence, not a traceback, and loses
nothing (issue 16). Tests often run as root, for whom ``chmod`` changes nothing, so the ledger is
made read-only two other ways: SQLite itself opening it read-only (``mode=ro``, always), and the
file made immutable or read-only by its permissions (``chattr +i`` as root, ``chmod`` otherwise)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from posplus_tui.cli import main
from tests.ledger.test_cli import filled  # noqa: F401  (the ledger with an UNKNOWN payment)


@contextmanager
def _sqlite_read_only(monkeypatch: pytest.MonkeyPatch, file: Path) -> Iterator[None]:
    """Every SQLite connection of this process opens the file with ``mode=ro``."""
    real = sqlite3.dbapi2.connect

    def read_only(database: str, *args: object, **kwargs: object) -> sqlite3.Connection:
        kwargs["uri"] = True
        return real(f"file:{database}?mode=ro", *args, **kwargs)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(sqlite3.dbapi2, "connect", read_only)
        yield


@contextmanager
def _file_read_only(monkeypatch: pytest.MonkeyPatch, file: Path) -> Iterator[None]:
    """The ledger file itself cannot be written: immutable for root, 0444 for anyone else."""
    if os.geteuid() == 0:
        done = subprocess.run(["chattr", "+i", str(file)], capture_output=True, check=False)
        if done.returncode != 0:
            pytest.skip(
                "running as root where chattr +i is not allowed (no CAP_LINUX_IMMUTABLE or a "
                "filesystem without the flag): the mode=ro case covers the same sentence"
            )
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(file)], check=True)
    else:
        file.chmod(0o444)
        try:
            yield
        finally:
            file.chmod(0o600)


@pytest.mark.parametrize("make_read_only", [_sqlite_read_only, _file_read_only])
def test_recover_on_a_read_only_ledger_says_so_and_loses_nothing(
    filled: tuple[str, dict[str, str]],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    make_read_only: Callable[..., object],
) -> None:
    url, refs = filled
    file = Path(url.removeprefix("sqlite:///"))
    argv = ["recover", "--database-url", url, "--terminal-url", "sim://cli-test",
            "--station", "Counter 1"]  # fmt: skip
    with make_read_only(monkeypatch, file):  # type: ignore[attr-defined]
        code = main(argv)
    err = capsys.readouterr().err
    assert code == 3, err
    assert "is read-only for this user" in err and "nothing was changed" in err
    assert "writable" in err and str(file) in err
    assert "Traceback" not in err and "OperationalError" not in err and "(sqlite3" not in err
    assert len(err.strip().splitlines()) == 1
    # Nothing was lost: once the file can be written, the same payment is settled.
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert f"{refs['lost']}: unknown -> approved" in out and "settled 1 of 1" in out
