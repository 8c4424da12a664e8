"""Settings: a TOML file in the platform's config folder, overridden by ``POSPLUS_*`` variables.

Secrets (client secret, app key, reconciliation password) are never settings: they live in the OS
keyring through :mod:`posplus_tui.secrets`. A secret-looking key in the file is refused.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from posplus_tui import paths

ENVIRONMENTS = ("production", "integration", "sandbox")
SECRET_KEYS = frozenset(
    {
        "client_secret",
        "app_key",
        "reconciliation_password",
        "password",
        "secret",
        "pin",
        "stripe_secret_key",
        "twilio_account_sid",
        "twilio_auth_token",
        "smtp_password",
        "terminal_authkey",
        "authkey",
    }
)
_ENV_PREFIX = "POSPLUS_"


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the key, the file and the fix."""


@dataclass(frozen=True)
class Settings:
    """Everything the app needs that is not a secret."""

    environment: str = "production"
    tenant_id: str = ""
    client_id: str = ""
    reconciliation_username: str = ""
    payment_type_name: str = "POS+"
    terminal_url: str = ""
    database_url: str = field(default_factory=paths.default_database_url)
    station_name: str = "Counter 1"
    #: Only for ``environment = "sandbox"``: the sandbox's base URL (served by ``posplus sandbox``).
    sandbox_url: str = ""
    #: Payment links (the Stripe secret key and Twilio's SID and token are secrets, not here).
    #: Empty: Stripe itself; else e.g. ``posplus links sandbox serve``'s address.
    stripe_api_url: str = ""
    smtp_host: str = ""
    smtp_port: str = ""
    #: none, starttls or tls; empty: from the port (465 TLS, 587 STARTTLS, else none).
    smtp_security: str = ""
    #: Set when the relay wants a login (the password is the secret ``smtp_password``).
    smtp_username: str = ""
    #: The address link e-mails come from, e.g. billing@example.com.
    smtp_from: str = ""
    #: The Twilio number texts come from, in E.164 (+14155550123).
    twilio_from: str = ""
    #: Empty: Twilio itself (https://api.twilio.com); else a proxy or ``posplus`` Twilio sandbox.
    twilio_api_url: str = ""

    def missing_for_run(self) -> list[str]:
        """Keys that must be set before ``posplus run`` can talk to ServiceTitan and a terminal."""
        needed = ["tenant_id", "client_id", "reconciliation_username", "terminal_url"]
        if self.environment == "sandbox":
            needed.append("sandbox_url")
        return [k for k in needed if not getattr(self, k)]

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


KEYS = tuple(f.name for f in fields(Settings))

_CHECKS: dict[str, tuple[re.Pattern[str], str]] = {
    "environment": (
        re.compile(r"^(production|integration|sandbox)$"),
        "production, integration or sandbox",
    ),
    "tenant_id": (re.compile(r"^\d{1,19}$"), "the tenant id: digits only, e.g. 1234567890"),
    "client_id": (
        re.compile(r"^[A-Za-z0-9._\-]{1,200}$"),
        "the client id from the ServiceTitan app, e.g. cid.abc123",
    ),
    "station_name": (
        re.compile(r"^.{1,40}$"),
        "a short name such as “Counter 1” (1–40 characters)",
    ),
    "database_url": (
        re.compile(r"^(sqlite|postgresql)(\+\w+)?://"),
        "sqlite:///PATH or postgresql://USER@HOST/DB",
    ),
    "sandbox_url": (re.compile(r"^https?://"), "http://127.0.0.1:8765"),
    "stripe_api_url": (
        re.compile(r"^https?://\S+$"),
        "http://127.0.0.1:12111 (or empty for Stripe)",
    ),
    "smtp_host": (
        re.compile(r"^[A-Za-z0-9.\-]{1,253}$"),
        "the mail relay's name, e.g. smtp.example.com",
    ),
    "smtp_port": (
        re.compile(r"^([1-9]\d{0,3}|[1-5]\d{4}|6[0-4]\d{3}|65[0-4]\d{2}|655[0-2]\d|6553[0-5])$"),
        "a port number such as 25, 465 or 587",
    ),
    "smtp_from": (
        re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
        "an e-mail address, e.g. billing@example.com",
    ),
    "smtp_security": (
        re.compile(r"^(none|starttls|tls)$", re.IGNORECASE),
        "none, starttls or tls (or empty: 465 is TLS, 587 STARTTLS)",
    ),
    "smtp_username": (
        re.compile(r"^[^\s]{1,254}$"),
        "the relay's user name, e.g. billing@example.com (no spaces)",
    ),
    "twilio_api_url": (
        re.compile(r"^https?://\S+$"),
        "https://api.twilio.com (or empty for Twilio)",
    ),
    "twilio_from": (re.compile(r"^\+[1-9]\d{6,14}$"), "a number in E.164, e.g. +14155550123"),
}


def check_terminal_url(url: str) -> str | None:
    """The driver registry's own reading of the URL, without opening anything."""
    from drivers.registry import parse_url

    try:
        parse_url(url)
    except ValueError as exc:  # TerminalUrlError, and urllib's own for a broken [IPv6]
        text = str(exc)
        return (
            text
            if text.startswith("terminal URL")
            else (
                f"{text}. Examples: poslink+tcp://192.168.1.50:10009, "
                "poslink+serial:///dev/ttyUSB0?baud=9600"
            )
        )
    return None


def _check_database_url(url: str) -> str | None:
    from posplus_tui.ledger.engine import LedgerError, normalize_url

    try:
        normalize_url(url)
    except LedgerError as exc:
        return str(exc)
    return None


_DEEP_CHECKS = {"terminal_url": check_terminal_url, "database_url": _check_database_url}


def _validate(values: dict[str, Any], source: str) -> Settings:
    unknown = sorted(set(values) - set(KEYS))
    for key in unknown:
        if key in SECRET_KEYS:
            raise ConfigError(
                f"{source}: “{key}” is a secret and must not be in the settings file. "
                f"Remove it and store it with the Setup screen (it goes to the OS keyring)."
            )
        raise ConfigError(f"{source}: unknown key “{key}”. Known keys: {', '.join(KEYS)}.")
    clean: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ConfigError(f"{source}: “{key}” must be text, got {type(value).__name__}.")
        text = str(value).strip()
        check = _CHECKS.get(key)
        if text and check and not check[0].match(text):
            raise ConfigError(f"{source}: “{key}” = {text!r} is not valid; expected {check[1]}.")
        clean[key] = text
    for key, checker in _DEEP_CHECKS.items():
        if clean.get(key):
            problem = checker(clean[key])
            if problem:
                shown = clean[key]
                if key == "terminal_url":  # a refused URL may carry a secret: never echo it
                    from drivers.registry import display_url

                    shown = display_url(shown)
                raise ConfigError(f"{source}: “{key}” = {shown!r} is not valid: {problem}")
    settings = Settings(**clean)
    if settings.environment not in ENVIRONMENTS:
        raise ConfigError(f"{source}: “environment” must be one of {', '.join(ENVIRONMENTS)}.")
    return settings


def _read_file(file: Path) -> dict[str, Any]:
    """The ``[posplus]`` table of ``file`` ({} when there is no file); a file that cannot be
    read as TOML at all is a :class:`ConfigError`."""
    if not file.exists():
        return {}
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML ({exc}). Fix the file or delete it.") from exc
    except UnicodeDecodeError:
        raise ConfigError(
            f"{file}: is not UTF-8 text (saved by an editor in another encoding?). "
            "Save it as UTF-8, or delete it and use Setup."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot be read ({exc.strerror}).") from exc
    section = data.get("posplus", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{file}: expected a [posplus] table.")
    return dict(section)


def _overrides(env: Mapping[str, str]) -> dict[str, str]:
    return {key: env[_ENV_PREFIX + key.upper()] for key in KEYS if _ENV_PREFIX + key.upper() in env}


def load(path: Path | None = None, *, environ: dict[str, str] | None = None) -> Settings:
    """Read the file (if it exists), then apply ``POSPLUS_<KEY>`` overrides, then validate."""
    env = os.environ if environ is None else environ
    file = Path(path) if path else paths.default_config_file()
    settings = _validate(_read_file(file), str(file))
    overrides = _overrides(env)
    if overrides:
        merged = settings.to_dict() | overrides
        settings = _validate(merged, f"{file} + POSPLUS_* environment")
    return settings


def load_for_setup(
    path: Path | None = None, *, environ: dict[str, str] | None = None
) -> tuple[Settings, dict[str, str]]:
    """The settings with every bad value left out, and a sentence per bad key.

    For ``posplus run``: a mistyped terminal address must open Setup at that field rather than
    stop the app before Setup can be reached. A file that is not TOML at all still raises.
    """
    env = os.environ if environ is None else environ
    file = Path(path) if path else paths.default_config_file()
    values = _read_file(file) | _overrides(env)
    good: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for key, value in values.items():
        try:
            _validate({key: value}, str(file))
        except ConfigError as exc:
            problems[key] = str(exc)
            continue
        good[key] = value
    return _validate(good, str(file)), problems


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write the settings file atomically (never a secret: :class:`Settings` holds none)."""
    file = Path(path) if path else paths.default_config_file()
    _validate(settings.to_dict(), str(file))
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp")
    # 0600 from the start: the file names the tenant, the terminal and the database.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(tomli_w.dumps({"posplus": settings.to_dict()}))
    os.chmod(tmp, 0o600)
    tmp.replace(file)
    return file


def updated(settings: Settings, **changes: str) -> Settings:
    """A copy with ``changes`` applied and validated, for the Setup screen."""
    return _validate(replace(settings, **changes).to_dict(), "setup")
