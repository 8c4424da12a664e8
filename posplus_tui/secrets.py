"""Secrets in the OS keyring, never in the settings file.

On a machine with no keyring backend (a headless Linux box) there are three documented fallbacks,
and the store never writes a secret in clear text nor asks for a password on the raw terminal
(``keyrings.cryptfile`` would, with ``getpass``, under the full-screen app):

- the app's own encrypted secrets file (:func:`secrets_file`, Argon2 + AES-GCM through
  ``keyrings.cryptfile``), unlocked with a password typed in Setup, or given to an unattended
  service as ``POSPLUS_SECRETS_PASSWORD``;
- ``keyrings.cryptfile`` chosen by ``PYTHON_KEYRING_BACKEND`` with its password in
  ``KEYRING_CRYPTFILE_PASSWORD`` (the package itself does not read that variable: we do);
- ``POSPLUS_CLIENT_SECRET``, ``POSPLUS_APP_KEY``, ``POSPLUS_RECONCILIATION_PASSWORD`` (and a
  Dejavoo SPIn terminal's ``POSPLUS_TERMINAL_AUTHKEY``) in the environment of a back-office
  service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import keyring
import keyring.backend
import keyring.errors

from posplus_tui import paths
from posplus_tui.redaction import register_secret

SERVICE = "posplus-tui"
#: Payment links: the Stripe secret key, Twilio's account SID and auth token, the SMTP password.
LINK_SECRET_NAMES = (
    "stripe_secret_key",
    "twilio_account_sid",
    "twilio_auth_token",
    "smtp_password",
)
SECRET_NAMES = (
    "client_secret",
    "app_key",
    "reconciliation_password",
    "terminal_authkey",
    *LINK_SECRET_NAMES,
)
#: Secrets the app makes for itself (never typed in Setup): the key that signs the audit chain.
INTERNAL_SECRETS = ("audit_key",)
MASK = "••••"

NO_KEYRING_HELP = (
    "This computer has no keyring to keep secrets in (common on a Linux box without a desktop). "
    "In Setup, type a password for the encrypted secrets file (an admin or technician types it "
    "again after each restart), or set POSPLUS_SECRETS_PASSWORD for an unattended service, "
    "or set POSPLUS_CLIENT_SECRET, POSPLUS_APP_KEY and POSPLUS_RECONCILIATION_PASSWORD in the "
    "environment of the service that runs posplus. See README, “Secrets”."
)
#: The app's encrypted secrets file is unlocked with this variable when set (unattended use).
SECRETS_PASSWORD_ENV = "POSPLUS_SECRETS_PASSWORD"
#: keyrings.cryptfile's password, read by us (the package would prompt with getpass instead).
CRYPTFILE_PASSWORD_ENV = "KEYRING_CRYPTFILE_PASSWORD"
MIN_FILE_PASSWORD = 8
#: Argon2id cost per key derivation for the app's secrets file. Every read and write derives the
#: key again; the package's default (15 passes over 64 MiB) costs about a second each on a counter
#: PC. Two passes over 32 MiB is within OWASP's Argon2id settings and about a quarter second.
FILE_KDF_TIME_COST = 2
FILE_KDF_MEMORY_KIB = 2**15


class SecretStoreError(Exception):
    """A secret cannot be read or written; the message says what to do."""


class NoKeyringAvailable(SecretStoreError):
    def __init__(self) -> None:
        super().__init__(NO_KEYRING_HELP)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring that lives in memory: for tests and the demo, never for production."""

    priority = 0  # never picked automatically: only when set on purpose

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring's base is untyped
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


def secrets_file() -> Path:
    """The app's own encrypted secrets file, beside the settings file."""
    return paths.config_dir() / "secrets.cfg"


def open_file_keyring(password: str, path: Path | None = None) -> keyring.backend.KeyringBackend:
    """The encrypted secrets file at ``path``, unlocked with ``password``; created when absent.

    Never prompts: the password is given, and a wrong one is a :class:`SecretStoreError`.
    ``keyrings.cryptfile`` verifies a password with a reference entry written when its file is
    made; it prompts (getpass) whenever no key is set, so the key is always set first.
    """
    from keyrings.cryptfile.cryptfile import CryptFileKeyring

    file = Path(path) if path else secrets_file()
    if not password:
        raise SecretStoreError("The secrets file needs its password: type it in Setup.")
    kr = CryptFileKeyring()
    kr.file_path = str(file)  # an instance override the package documents
    kr.time_cost = FILE_KDF_TIME_COST  # every read derives the key: keep Setup responsive
    kr.memory_cost = FILE_KDF_MEMORY_KIB
    if not file.exists():
        if len(password) < MIN_FILE_PASSWORD:
            raise SecretStoreError(
                f"Choose a password of at least {MIN_FILE_PASSWORD} characters for the new "
                "secrets file (it protects the ServiceTitan client secret and app key)."
            )
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SecretStoreError(f"The folder of {file} cannot be made: {exc.strerror}.") from exc
    try:
        # The setter creates the file (with its password reference) or checks the password
        # against it; with the key given it never prompts.
        kr.keyring_key = password
        ok = True
    except (ValueError, KeyError):  # a MAC that does not verify: another password
        ok = False
    except OSError as exc:
        raise SecretStoreError(f"The secrets file {file} cannot be used: {exc.strerror}.") from exc
    if file.exists():
        file.chmod(0o600)
    if not ok:
        raise SecretStoreError(
            f"That is not the password of the secrets file {file}. Type it again; if it is lost, "
            "delete the file and enter the secrets again in Setup."
        )
    return cast(keyring.backend.KeyringBackend, kr)


def os_keyring() -> keyring.backend.KeyringBackend:
    """The keyring to use: the one the user named, else the best *OS* keyring, else a fail backend.

    keyring's default chain would include the file keyrings that ``keyrings.cryptfile`` installs,
    which prompt on the terminal for a password (fatal inside a full-screen app) or store in clear.
    Those are used only when chosen explicitly with ``PYTHON_KEYRING_BACKEND``.
    """
    from keyring.backends import chainer, fail

    named = os.environ.get("PYTHON_KEYRING_BACKEND")
    try:
        current = keyring.get_keyring()
    except Exception as exc:  # keyring imports the named class: any error of that import
        raise SecretStoreError(
            f"PYTHON_KEYRING_BACKEND={named!r} names a keyring that cannot be loaded "
            f"({type(exc).__name__}: {exc}). Unset it, or set it to "
            "keyrings.cryptfile.cryptfile.CryptFileKeyring (see README, “Secrets”)."
        ) from None
    if named:
        if type(current).__module__.startswith("keyrings.cryptfile"):
            password = os.environ.get(CRYPTFILE_PASSWORD_ENV, "")
            if not password:
                raise SecretStoreError(
                    f"PYTHON_KEYRING_BACKEND chooses the encrypted file keyring but "
                    f"{CRYPTFILE_PASSWORD_ENV} is not set: set it to the file's password (the "
                    "app never asks for it on the terminal)."
                )
            return open_file_keyring(password, Path(str(getattr(current, "file_path", ""))))
        return current
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
        if os.environ.get(SECRETS_PASSWORD_ENV):
            return open_file_keyring(os.environ[SECRETS_PASSWORD_ENV])
        return fail.Keyring()  # type: ignore[no-untyped-call]  # keyring's base is untyped
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

    def unlock_file(self, password: str, path: Path | None = None) -> None:
        """Keep secrets in the app's encrypted file from now on (no OS keyring here)."""
        self._backend = open_file_keyring(password, path)

    def needs_file_password(self) -> bool:
        """True when there is no keyring to use until the secrets file's password is typed."""
        try:
            kr = self._kr()
        except SecretStoreError:
            return False
        from keyring.backends import fail

        return isinstance(kr, fail.Keyring)

    def backend_name(self) -> str:
        kr = self._kr()
        return f"{type(kr).__module__}.{type(kr).__name__}"

    def available(self) -> bool:
        """True when a real keyring backend answers."""
        try:
            self._kr().get_password(SERVICE, "__probe__")
        except SecretStoreError:
            return False
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

    def source(self, name: str) -> str:
        """Where ``name`` would be read from: "environment", "secrets file" or "keyring"."""
        if self._environ.get(f"POSPLUS_{name.upper()}"):
            return "environment"
        backend = self._backend
        if backend is not None and type(backend).__module__.startswith("keyrings.cryptfile"):
            return "secrets file"
        return "keyring"

    def status(self) -> dict[str, str]:
        """Each secret as ``••••`` (set), ``not set`` or ``from environment``: never the value."""
        out: dict[str, str] = {}
        for name in SECRET_NAMES:
            if self._environ.get(f"POSPLUS_{name.upper()}"):
                out[name] = f"{MASK} (from environment)"
                continue
            out[name] = MASK if self.get(name) else "not set"
        return out
