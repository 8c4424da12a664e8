"""Save failing to store a secret says why and what to do (issue 16), and the way out it gives
works: the keyring named there makes Setup offer the encrypted secrets file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keyring.backend
import keyring.errors
import pytest

from posplus_tui.config import Settings
from posplus_tui.secrets import SecretStore
from posplus_tui.services.setup import SetupProblem, SetupService


class RefusingKeyring(keyring.backend.KeyringBackend):
    """A keyring that is there but will not keep anything (locked, or a policy says no)."""

    priority = 0  # never picked by keyring on its own: only when handed to the store

    def get_password(self, service: str, username: str) -> str | None:
        return None

    def set_password(self, service: str, username: str, password: str) -> None:
        raise keyring.errors.PasswordSetError("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.PasswordDeleteError("locked")


async def test_a_keyring_that_refuses_gets_the_reason_and_the_next_step(tmp_path: Path) -> None:
    secrets = SecretStore(backend=RefusingKeyring(), environ={}, tenant="1047000001")
    setup = SetupService(Settings(), secrets, config_path=tmp_path / "config.toml")
    with pytest.raises(SetupProblem) as refused:
        await setup.save(
            {"environment": "sandbox", "tenant_id": "1047000001", "client_id": "cid.x"},
            {"client_secret": "cs1.very-secret"},
        )
    problem = refused.value
    assert problem.title == "The settings were saved but the secrets could not be stored."
    assert "refused to store “client_secret”: the collection is locked" in problem.fix
    assert "PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring" in problem.fix
    assert "cs1.very-secret" not in problem.fix
    text = (tmp_path / "config.toml").read_text(encoding="utf-8")
    assert "cid.x" in text and "cs1.very-secret" not in text  # never in the settings file


def test_the_way_out_it_names_makes_setup_offer_the_secrets_file(tmp_path: Path) -> None:
    """In a fresh process, as a technician would start it (keyring reads the variable once)."""
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "HOME": str(tmp_path)}  # fmt: skip
    code = "from posplus_tui.secrets import SecretStore; print(SecretStore().needs_file_password())"
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
