"""Files 0600 (ledger, log, settings); ``config show`` masks URL passwords and control
characters."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from posplus_tui import config, paths
from posplus_tui.cli import main
from posplus_tui.ledger import open_ledger
from posplus_tui.logs import setup_logging


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask():
    import os

    old = os.umask(0o022)  # the usual default: files would be 0644
    yield
    os.umask(old)


def test_the_ledger_and_its_wal_are_private(tmp_path: Path) -> None:
    file = tmp_path / "ledger.sqlite3"
    ledger = open_ledger(f"sqlite:///{file}")
    try:
        with ledger.engine.begin() as conn:
            conn.exec_driver_sql("SELECT 1")
        for f in tmp_path.glob("ledger.sqlite3*"):
            assert _mode(f) == 0o600, (f.name, oct(_mode(f)))
    finally:
        ledger.dispose()


def test_the_log_and_its_rotations_are_private(tmp_path: Path) -> None:
    file = setup_logging(directory=tmp_path)
    logging.getLogger("posplus.test").info("hello")
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_posplus", False))
    handler.doRollover()  # type: ignore[attr-defined]
    logging.getLogger("posplus.test").info("after the rollover")
    files = list(tmp_path.glob("posplus.log*"))
    assert len(files) >= 2
    assert all(_mode(f) == 0o600 for f in files), [(f.name, oct(_mode(f))) for f in files]
    assert file.exists()


def test_the_settings_file_is_private(tmp_path: Path) -> None:
    file = config.save(config.Settings(), tmp_path / "posplus.toml")
    assert _mode(file) == 0o600


def test_config_show_masks_the_database_password_and_control_characters(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSPLUS_DATABASE_URL", "postgresql://pos:hunter2@db.local/ledger")
    monkeypatch.setenv("POSPLUS_STATION_NAME", "Counter\x1b]8;;https://evil/\x07 1\x07")
    main(["config", "show"])
    out = capsys.readouterr().out
    assert "hunter2" not in out and "postgresql://pos:••••@db.local/ledger" in out
    assert "\x1b" not in out and "\x07" not in out
    assert "station_name = Counter\\x1b]8;;https://evil/\\x07 1\\x07" in out
    assert paths.default_config_file().name in out
