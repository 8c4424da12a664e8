import subprocess
import sys
from pathlib import Path

import pytest

from posplus_tui.cli import main


def test_help_lists_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("demo", "run", "config", "version"):
        assert name in out


def test_unknown_option_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--frobnicate"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--help" in err


def test_run_without_config_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "tenant_id" in err and "posplus demo" in err and "Traceback" not in err


def test_config_show_without_keyring_explains(tmp_path: Path) -> None:
    """A real subprocess on this headless box: no keyring, so a plain explanation, no traceback."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "posplus-nokeyring")}
    proc = subprocess.run(
        [sys.executable, "-m", "posplus_tui", "config", "show"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr
    if proc.returncode == 0:  # an OS keyring exists on this machine
        assert "client_secret" in proc.stdout
    else:
        assert "keyring" in proc.stderr and "POSPLUS_CLIENT_SECRET" in proc.stderr


def test_config_show_masks_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    from posplus_tui.secrets import SecretStore

    SecretStore().set("client_secret", "do-not-print-me")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "do-not-print-me" not in out and "client_secret = ••••" in out
