"""No keyring on the computer: the secrets go to an encrypted file whose password is typed in Setup.

Also: a fresh install starts on the Sandbox with its address on the form, and the fields a
technician types into keep what is there (no select-all that a first key press would replace).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from posplus_tui import config
from posplus_tui.secrets import SecretStore, SecretStoreError, secrets_file
from posplus_tui.services.setup import ConnectionForm, SetupProblem
from posplus_tui.services.wiring import servicetitan_client_factory
from tests.ui.conftest import screen_text, settle

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(previous)


async def _save(app, pilot) -> None:
    await pilot.press("ctrl+s")
    await app.workers.wait_for_complete()
    await settle(pilot)


async def test_secrets_go_to_an_encrypted_file_unlocked_in_setup(
    setup_only_app, no_keyring: None
) -> None:
    app = setup_only_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        text = screen_text(app)
        assert "This computer has no keyring" in text and "Choose its password" in text
        screen = app.screen
        screen.query_one("#tenant_id").value = "4242"
        screen.query_one("#client_id").value = "cid.demo"
        screen.query_one("#client_secret").value = "s3cr3t-value-xyz"
        await _save(app, pilot)
        assert "Type the secrets file's password first" in screen_text(app)
        assert not secrets_file().exists(), "nothing is stored before the password is typed"

        screen.query_one("#secrets_password").value = "short"
        await _save(app, pilot)
        assert "at least 8 characters" in screen_text(app)

        screen.query_one("#secrets_password").value = "counter-pc-2026"
        await _save(app, pilot)
        text = screen_text(app)
        assert "Saved." in text and "s3cr3t-value-xyz" not in text
        assert "counter-pc-2026" not in text

    file = secrets_file()
    assert file.stat().st_mode & 0o777 == 0o600
    body = file.read_text()
    assert "s3cr3t-value-xyz" not in body and "counter-pc-2026" not in body
    assert "s3cr3t" not in (config.load().to_dict().values())
    again = SecretStore(environ={}, tenant="4242")
    again.unlock_file("counter-pc-2026")
    assert again.get("client_secret") == "s3cr3t-value-xyz"
    with pytest.raises(SecretStoreError, match="not the password"):
        SecretStore(environ={}, tenant="4242").unlock_file("counter-pc-2025")


async def test_a_wrong_file_password_is_named_in_setup(setup_only_app, no_keyring: None) -> None:
    SecretStore(environ={}, tenant="4242").unlock_file("counter-pc-2026")  # the file exists
    app = setup_only_app(config.Settings(tenant_id="4242", client_id="cid.demo"))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        assert "Type its password to unlock it" in screen_text(app)
        app.screen.query_one("#client_secret").value = "another-secret"
        app.screen.query_one("#secrets_password").value = "guess-guess"
        await _save(app, pilot)
        assert "not the password of the secrets file" in screen_text(app)
        assert app.screen.focused is app.screen.query_one("#secrets_password")


async def test_a_fresh_install_starts_on_the_sandbox(setup_only_app) -> None:
    app = setup_only_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert screen.query_one("#environment").value == "sandbox"
        assert screen.query_one("#sandbox-row").display
        screen.query_one("#environment").value = "production"
        await settle(pilot)
        assert not screen.query_one("#sandbox-row").display
        screen.query_one("#environment").value = "sandbox"
        screen.query_one("#sandbox_url").value = "http://127.0.0.1:8765"
        screen.query_one("#tenant_id").value = "4242"
        await _save(app, pilot)
    saved = config.load()
    assert saved.environment == "sandbox" and saved.sandbox_url == "http://127.0.0.1:8765"


async def test_typing_into_a_filled_field_adds_to_it(setup_only_app) -> None:
    app = setup_only_app(config.Settings(client_id="cid.abc", environment="production"))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        app.screen.query_one("#client_id").focus()
        await pilot.press("end", "X")
        assert app.screen.query_one("#client_id").value == "cid.abcX"


def test_the_sandbox_address_comes_from_the_form() -> None:
    make = servicetitan_client_factory("")
    form = ConnectionForm("sandbox", "4242", "cid.x", "secret", "key", "http://127.0.0.1:9")
    client = make(form)
    assert client.environment.api_base.startswith("http://127.0.0.1:9")
    with pytest.raises(SetupProblem, match="sandbox's address is missing"):
        make(ConnectionForm("sandbox", "4242", "cid.x", "secret", "key"))


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
        "POSPLUS_CONFIG_DIR": str(tmp_path / "c"),
        "POSPLUS_DATA_DIR": str(tmp_path / "d"),
        "POSPLUS_LOG_DIR": str(tmp_path / "l"),
        "PYTHON_KEYRING_BACKEND": "keyrings.cryptfile.cryptfile.CryptFileKeyring",
        **extra,
    }


def test_the_readme_cryptfile_recipe_never_prompts(tmp_path: Path) -> None:
    """README, “Secrets”: with the variable set it works; without it, a sentence, never getpass."""
    cmd = [sys.executable, "-m", "posplus_tui", "config", "show"]
    missing = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=REPO,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert missing.returncode == 3
    assert "KEYRING_CRYPTFILE_PASSWORD is not set" in missing.stderr
    assert (
        "password" not in missing.stdout.lower().split("secrets")[0]
        or "Traceback" not in missing.stderr
    )
    ok = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=_env(tmp_path, KEYRING_CRYPTFILE_PASSWORD="file-password-1"),
        cwd=REPO,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert ok.returncode == 0, ok.stderr
    assert "client_secret = not set" in ok.stdout
    assert "Please" not in ok.stdout + ok.stderr, "no getpass prompt"


async def test_a_secret_from_the_environment_is_not_said_to_be_in_the_keyring(
    setup_only_app, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSPLUS_CLIENT_SECRET", "from-the-service-env")
    app = setup_only_app(config.Settings(tenant_id="4242", client_id="cid.demo"))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        placeholder = app.screen.query_one("#client_secret").placeholder
        assert "from the environment (POSPLUS_CLIENT_SECRET)" in placeholder
        assert "keyring" not in placeholder
        assert "from-the-service-env" not in screen_text(app)
