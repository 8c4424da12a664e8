"""Secrets in the OS keyring, never in the settings file.

On a machine with no keyring backend (a headless Linux box) the store says so in plain words and
points at the two documented fallbacks: the encrypted file keyring from ``keyrings.cryptfile``
(``PYTHON_KEYRING_BACKEND=keyrings.cryptfile.cryptfile.CryptFileKeyring`` plus
``KEYRING_CRYPTFILE_PASSWORD``) or, for unattended back-office use, ``POSPLUS_CLIENT_SECRET``,
``POSPLUS_APP_KEY`` and ``POSPLUS_RECONCILIATION_PASSWORD`` in the environment. It never falls back
to writing a secret in clear text.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import keyring
import keyring.backend
import keyring.errors

from posplus_tui.redaction import register_secret

SERVICE = "posplus-tui"
SECRET_NAMES = ("client_secret", "app_key", "reconciliation_password")
#: Secrets the app makes for itself (never typed in Setup): the key that signs the audit chain.
INTERNAL_SECRETS = ("audit_key",)
MASK = "••••"

NO_KEYRING_HELP = (
    "This computer has no keyring to keep secrets in (common on a Linux box without a desktop). "
    "Either use the encrypted file keyring: set PYTHON_KEYRING_BACKEND="
    "keyrings.cryptfile.cryptfile.CryptFileKeyring and KEYRING_CRYPTFILE_PASSWORD, "
    "or set POSPLUS_CLIENT_SECRET, POSPLUS_APP_KEY and POSPLUS_RECONCILIATION_PASSWORD in the "
    "environment of the service that runs posplus. See README, “Secrets”."
)


class SecretStoreError(Exception):
    """A secret cannot be read or written; the message says what to do."""


class NoKeyringAvailable(SecretStoreError):
    def __init__(self) -> None:
        super().__init__(NO_KEYRING_HELP)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in memory: for tests and the demo, never for production."""

    priority = 0  # type: ignore[assignment]  # never picked automatically: only when set on purpose

    def __init__(self) -> None:
        super().__init__()
        self._data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._data.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._data[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self._data[(service, username)]
        except KeyError as exc:
            raise keyring.errors.PasswordDeleteError(username) from exc


_FILE_BACKEND_MODULES = ("keyrings.cryptfile", "keyrings.alt")


def os_keyring() -> keyring.backend.KeyringBackend:
    """The keyring to use: the one the user named, else the best *OS* keyring, else a fail backend.

    keyring's default chain would include the file keyrings that ``keyrings.cryptfile`` installs,
    which prompt on the terminal for a password (fatal inside a full-screen app) or store in clear.
    Those are used only when chosen explicitly with ``PYTHON_KEYRING_BACKEND``.
    """
    from keyring.backends import chainer, fail

    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return keyring.get_keyring()
    current = keyring.get_keyring()
    if not isinstance(current, chainer.ChainerBackend | fail.Keyring):
        return current  # set programmatically (tests, demo) or by a keyring config file
    candidates = [
        kr
        for kr in keyring.backend.get_all_keyring()
        if not isinstance(kr, chainer.ChainerBackend | fail.Keyring)
        and not type(kr).__module__.startswith(_FILE_BACKEND_MODULES)
        and kr.priority >= 1
    ]
    if not candidates:
        return fail.Keyring()
    return max(candidates, key=lambda kr: kr.priority)


class SecretStore:
    """Read and write the app's secrets; environment variables win for unattended use."""

    def __init__(
        self,
        backend: keyring.backend.KeyringBackend | None = None,
        environ: Mapping[str, str] | None = None,
        tenant: str = "default",
    ) -> None:
        self._backend = backend
        self._environ = os.environ if environ is None else environ
        self._tenant = tenant

    def _kr(self) -> keyring.backend.KeyringBackend:
        if self._backend is None:
            self._backend = os_keyring()
        return self._backend

    def _account(self, name: str) -> str:
        if name not in SECRET_NAMES + INTERNAL_SECRETS and not name.startswith("pin:"):
            raise SecretStoreError(f"Unknown secret “{name}”.")
        return f"{self._tenant}:{name}"

    def backend_name(self) -> str:
        kr = self._kr()
        return f"{type(kr).__module__}.{type(kr).__name__}"

    def available(self) -> bool:
        """True when a real keyring backend answers."""
        try:
            self._kr().get_password(SERVICE, "__probe__")
        except keyring.errors.NoKeyringError:
            return False
        except keyring.errors.KeyringError:
            return False
        return True

    def get(self, name: str) -> str | None:
        env_value = self._environ.get(f"POSPLUS_{name.upper()}")
        if env_value:
            register_secret(env_value)
            return env_value
        try:
            value = self._kr().get_password(SERVICE, self._account(name))
        except keyring.errors.NoKeyringError as exc:
            raise NoKeyringAvailable() from exc
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(f"The keyring refused to read “{name}”: {exc}") from exc
        if value:
            register_secret(value)
        return value

    def set(self, name: str, value: str) -> None:
        if not value:
            raise SecretStoreError(f"“{name}” cannot be empty.")
        register_secret(value)
        try:
            self._kr().set_password(SERVICE, self._account(name), value)
        except keyring.errors.NoKeyringError as exc:
            raise NoKeyringAvailable() from exc
        except keyring.errors.KeyringError as exc:
            raise SecretStoreError(f"The keyring refused to store “{name}”: {exc}") from exc

    def delete(self, name: str) -> None:
        try:
            self._kr().delete_password(SERVICE, self._account(name))
        except keyring.errors.PasswordDeleteError:
            return
        except keyring.errors.NoKeyringError as exc:
            raise NoKeyringAvailable() from exc

    def status(self) -> dict[str, str]:
        """Each secret as ``••••`` (set), ``not set`` or ``from environment``: never the value."""
        out: dict[str, str] = {}
        for name in SECRET_NAMES:
            if self._environ.get(f"POSPLUS_{name.upper()}"):
                out[name] = f"{MASK} (from environment)"
                continue
            out[name] = MASK if self.get(name) else "not set"
        return out
