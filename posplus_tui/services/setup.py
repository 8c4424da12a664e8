"""Setup use cases: the checks that replace the 54-step manual setup.

Test the connection (a token plus the payment types), choose the single payment type (warning about
look-alikes that break reconciliation), check ServiceTitan usernames case-exactly against the
tenant's employees and technicians, test the terminal URL, and save: settings to the TOML file,
secrets to the keyring, never one in the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from posplus_tui import config
from posplus_tui.redaction import redact
from posplus_tui.secrets import SecretStore, SecretStoreError
from posplus_tui.services.audit import AuditService

# The results and the pure rules live in setup_checks; imported here for the screens and CLI.
from posplus_tui.services.setup_checks import (
    FIELD_WORDS,
    ConnectionCheck,
    Finding,
    PaymentTypeOption,
    TerminalCheck,
    UsernameCheck,
    check_payment_type,
    check_username_against,
    connection_failure,
    look_alikes,
    looks_alike,
)

#: Secrets the Setup screen edits (values only ever go to the keyring).
SETUP_SECRETS = (
    "client_secret",
    "app_key",
    "reconciliation_password",
    "terminal_authkey",
    "stripe_secret_key",
    "twilio_account_sid",
    "twilio_auth_token",
    "smtp_password",
)


#: What to do when the keyring will not keep a secret (said after the keyring's own reason).
SECRET_NOT_STORED_FIX = (
    "Nothing secret was written anywhere else. Unlock the computer's keyring (sign in to its "
    "desktop once) and save again; or, on a computer without a usable keyring, start posplus "
    "with PYTHON_KEYRING_BACKEND=keyring.backends.fail.Keyring to keep the secrets in the "
    "app's encrypted file instead (README, “Secrets”)."
)


class SetupProblem(Exception):
    """A setup step failed: ``title`` says what, ``fix`` what to do."""

    def __init__(self, title: str, fix: str) -> None:
        super().__init__(title)
        self.title = title
        self.fix = fix


@dataclass(frozen=True)
class ConnectionForm:
    """What the installer typed. An empty secret means "keep the one already stored"."""

    environment: str
    tenant_id: str
    client_id: str
    client_secret: str = ""
    app_key: str = ""
    #: Only for the sandbox environment: where ``posplus sandbox serve`` listens.
    sandbox_url: str = ""
    #: Checked against the tenant once connected ("" = the saved setting).
    payment_type_name: str = ""
    reconciliation_username: str = ""


__all__ = [
    "SETUP_SECRETS",
    "ConnectionCheck",
    "ConnectionForm",
    "Finding",
    "PaymentTypeOption",
    "SetupProblem",
    "SetupService",
    "TerminalCheck",
    "UsernameCheck",
    "check_payment_type",
    "check_username_against",
    "connection_failure",
    "look_alikes",
    "looks_alike",
]

# -- the service --------------------------------------------------------------------------------

ClientFactory = Callable[[ConnectionForm], Any]
TerminalTester = Callable[[str], Any]


@dataclass
class SetupService:
    """Setup's use cases over config, the keyring, a ServiceTitan client factory and a terminal
    tester, all injected by :mod:`posplus_tui.services.wiring`."""

    settings: config.Settings
    secrets: SecretStore
    client_factory: ClientFactory | None = None
    terminal_tester: TerminalTester | None = None
    config_path: Path | None = None
    #: Usernames fetched by the last successful connection test (employees + technicians).
    known_usernames: tuple[str, ...] = ()
    payment_types: tuple[PaymentTypeOption, ...] = ()
    #: Where setting changes are recorded (the ledger's audit chain), once the ledger is open.
    audit: AuditService | None = None
    #: Settings refused at start (key → sentence), shown and focused when Setup opens.
    problems: dict[str, str] = field(default_factory=dict)
    #: Who may save: the operator service reads the saver's role from the ledger.
    operators: Any = None
    _last_form: ConnectionForm | None = field(default=None, repr=False)

    # -- reading ---------------------------------------------------------------------------------

    def secret_is_set(self, name: str) -> bool:
        """Whether a secret is stored (the value itself is never returned to the screen)."""
        try:
            return bool(self.secrets.get(name))
        except SecretStoreError:
            return False

    def secret_source(self, name: str) -> str:
        """Where a stored secret comes from, in words for the form ("keyring", "environment")."""
        return self.secrets.source(name)

    def _filled(self, form: ConnectionForm) -> ConnectionForm:
        """The form with stored secrets in place of the ones left empty."""
        secret = form.client_secret or self._stored("client_secret", form.tenant_id)
        app_key = form.app_key or self._stored("app_key", form.tenant_id)
        return replace(form, client_secret=secret, app_key=app_key)

    def _stored(self, name: str, tenant: str) -> str:
        store = self._store_for(tenant)
        try:
            return store.get(name) or ""
        except SecretStoreError:
            return ""

    def _store_for(self, tenant: str) -> SecretStore:
        return SecretStore(
            backend=self.secrets._backend,
            environ=self.secrets._environ,
            tenant=tenant or "default",
        )

    # -- the secrets file (no OS keyring) -------------------------------------------------------

    def needs_file_password(self) -> bool:
        """True when this computer has no keyring and the secrets file is still locked."""
        return self.secrets.needs_file_password()

    def is_fresh_install(self) -> bool:
        """No settings file yet: Setup then starts on the Sandbox, never on the live books."""
        from posplus_tui import paths

        return not (self.config_path or paths.default_config_file()).exists()

    def secrets_file_exists(self) -> bool:
        from posplus_tui.secrets import secrets_file

        return secrets_file().exists()

    async def unlock_secrets(self, password: str) -> None:
        """Open (or create) the encrypted secrets file with ``password``; a wrong one is a
        :class:`SetupProblem` naming the field. Runs off the event loop (Argon2 takes a moment)."""
        try:
            await asyncio.to_thread(self.secrets.unlock_file, password)
        except SecretStoreError as exc:
            raise SetupProblem(str(exc), "Type the secrets file's password again.") from exc

    # -- checks ----------------------------------------------------------------------------------

    async def test_connection(self, form: ConnectionForm) -> ConnectionCheck:
        """Get a token and read the payment types (and, for the username checks, the tenant's
        employees and technicians)."""
        missing = [
            label
            for label, value in (("tenant id", form.tenant_id), ("client id", form.client_id))
            if not value.strip()
        ]
        filled = await asyncio.to_thread(self._filled, form)  # the keyring may block (D-Bus)
        if not filled.client_secret:
            missing.append("client secret")
        if not filled.app_key:
            missing.append("app key")
        if missing:
            return ConnectionCheck(
                False,
                "Fill in the " + ", ".join(missing) + " first.",
                "They are on the app's page at developer.servicetitan.io (client id, client "
                "secret, app key) and in ServiceTitan under Settings → Integrations → API "
                "Application Access (tenant id).",
            )
        if self.client_factory is None:
            return ConnectionCheck(False, "This build cannot reach ServiceTitan.", "Call support.")
        step = "connect"
        try:
            async with self.client_factory(filled) as client:
                step = "payment_types"
                raw_types = await client.list_payment_types(include_inactive=True)
                step = "employees"
                employees = await client.list_employees()
                step = "technicians"
                technicians = await client.list_technicians()
        except Exception as exc:
            return connection_failure(exc, step, form.environment)
        self.payment_types = tuple(
            PaymentTypeOption(int(t.id), str(t.name), bool(getattr(t, "active", True)))
            for t in raw_types
        )
        self.known_usernames = tuple(
            str(getattr(p, "login_name", None) or getattr(p, "username", "") or "")
            for p in [*employees, *technicians]
        )
        self._last_form = filled
        findings = await self._findings(form)
        active = sum(1 for t in self.payment_types if t.active)
        title = (
            f"Connected: token received, {active} payment types, "
            f"{len(self.known_usernames)} users found."
        )
        if findings:
            title += " To fix: " + ", ".join(dict.fromkeys(FIELD_WORDS[f.field] for f in findings))
            title += " (see below)."
        return ConnectionCheck(
            True,
            title,
            payment_types=self.payment_types,
            field=findings[0].field if findings else "",
            findings=findings,
        )

    async def _findings(self, form: ConnectionForm) -> tuple[Finding, ...]:
        """The values that are wrong for this tenant although the connection works: the
        payment type, and the usernames (reconciliation user, operators) in their exact case."""
        found: list[Finding] = []
        type_name = form.payment_type_name or self.settings.payment_type_name
        why = check_payment_type(self.payment_types, type_name)
        if why:
            found.append(Finding("payment_type", why))
        user = form.reconciliation_username or self.settings.reconciliation_username
        if user:
            check = check_username_against(user, self.known_usernames)
            if not check.ok:
                found.append(Finding("reconciliation_username", check.message))
        if self.operators is not None:
            operators = await asyncio.to_thread(self.operators.list_sync, include_disabled=False)
            for op in operators:
                if not op.st_username:
                    continue
                check = check_username_against(op.st_username, self.known_usernames)
                if not check.ok:
                    found.append(Finding("operators", f"Operator {op.name}: {check.message}"))
        return tuple(found)

    def check_username(self, username: str) -> UsernameCheck:
        """Check a username against the users read by the last successful connection test."""
        if not self.known_usernames:
            return UsernameCheck(
                "unchecked",
                "Not checked yet: press Test connection first, then the username is checked "
                "against the tenant's employees and technicians.",
            )
        return check_username_against(username, self.known_usernames)

    async def test_terminal(self, url: str, authkey: str = "") -> TerminalCheck:
        """Open the terminal at ``url`` and ask it who it is. A Dejavoo SPIn terminal also needs
        its auth key: ``authkey`` as typed (not saved yet), else the stored one."""
        from posplus_tui.services.terminal_access import AUTHKEY_SECRET, needs_authkey

        if not url.strip():
            return TerminalCheck(
                False,
                "Type the terminal's address first.",
                "For a USB/serial cable: poslink+serial:///dev/ttyUSB0?baud=9600 (COM3 on "
                "Windows); on the network: poslink+tcp://10.0.0.5:10009; a Dejavoo: "
                "spin+http://10.0.0.6:9000?tpn=YOURTPN; to practise: sim://",
            )
        if self.terminal_tester is None:
            return TerminalCheck(False, "This build has no terminal drivers.", "Call support.")
        options: dict[str, str] = {}
        if needs_authkey(url.strip()):
            key = authkey.strip() or await asyncio.to_thread(
                self._stored, AUTHKEY_SECRET, self.settings.tenant_id
            )
            if not key:
                return TerminalCheck(
                    False,
                    "Type the terminal's auth key first.",
                    "It is the 10-character SPIn auth key for this TPN in the iPOSpays portal "
                    "(or your ISO's welcome e-mail).",
                )
            options["authkey"] = key
        try:
            info = await self.terminal_tester(url.strip(), **options)
        except Exception as exc:
            title = getattr(exc, "title", None) or str(exc) or type(exc).__name__
            return TerminalCheck(
                False,
                f"The terminal did not answer: {redact(str(title))}",
                "Check the cable or network address and that the terminal is switched on and "
                "on its home screen, then test again.",
            )
        model = getattr(info, "model", "terminal")
        serial = getattr(info, "serial_number", "")
        return TerminalCheck(True, f"The terminal answered: {model} {serial}".strip())

    # -- saving ----------------------------------------------------------------------------------

    def _saver(self, by: object) -> str:
        """The name of who saves, read from the ledger: an active admin or technician. Nobody
        signed in may save only on a fresh install (a ledger without operators, or none yet)."""
        from posplus_tui.domain.roles import Action, Role, role_allows
        from posplus_tui.services.errors import ServiceError
        from posplus_tui.services.operators import OperatorInfo

        if self.operators is None:
            if by is None:
                return "first-run setup"
            raise SetupProblem("Nobody can be checked: the ledger is not open.", "Call support.")
        if by is None:
            if self.operators.count_sync() == 0:
                return "first-run setup"
            raise SetupProblem(
                "Sign in as an admin or a technician to change the setup.",
                "Press Esc, sign in with your name and PIN, then open Setup (F8).",
            )
        if isinstance(by, OperatorInfo):
            operator_id = by.id
        elif isinstance(by, int) and not isinstance(by, bool):
            operator_id = by
        else:
            raise SetupProblem("Nobody is signed in.", "Sign in as an admin or a technician.")
        try:
            who = self.operators.get_sync(operator_id)
        except ServiceError as exc:
            raise SetupProblem(exc.message, exc.fix) from None
        if who.disabled or not role_allows(Role(who.role), Action.CHANGE_SETTINGS):
            raise SetupProblem(
                f"{who.name} ({who.role.value}) cannot change the setup.",
                "Ask an admin or a technician.",
            )
        return str(who.name)

    async def save(
        self, values: dict[str, str], secrets: dict[str, str], *, by: object = None
    ) -> config.Settings:
        """Validate and write the settings file, then store the non-empty secrets in the keyring.
        ``by`` is the signed-in operator (or id); their role is read from the ledger. Each
        changed setting is an event in the audit chain under their name.

        Raises :class:`SetupProblem` naming the field and the fix.
        """
        who = await asyncio.to_thread(self._saver, by)
        try:
            new = config.updated(self.settings, **values)
        except config.ConfigError as exc:
            raise SetupProblem(
                str(exc).removeprefix("setup: "), "Correct the field and save again."
            ) from exc
        store = self._store_for(new.tenant_id)

        def write() -> None:
            config.save(new, self.config_path)
            for name, value in secrets.items():
                if name not in SETUP_SECRETS:
                    raise SetupProblem(f"“{name}” is not a setup secret.", "Call support.")
                if value:
                    store.set(name, value)

        try:
            await asyncio.to_thread(write)
        except SecretStoreError as exc:
            raise SetupProblem(
                "The settings were saved but the secrets could not be stored.",
                f"{exc} {SECRET_NOT_STORED_FIX}",
            ) from exc
        except OSError as exc:
            raise SetupProblem(
                f"The settings file could not be written ({exc.strerror}).",
                "Check that the config folder is writable (posplus config path shows it).",
            ) from exc
        old = self.settings
        self.settings = new
        self.secrets = store
        if self.audit is not None:
            for key in values:
                before, after = str(getattr(old, key, "")), str(getattr(new, key, ""))
                if before != after:
                    await self.audit.setting_changed(key, actor=who, old=before, new=after)
            for name, value in secrets.items():
                if value:
                    await self.audit.setting_changed(name, actor=who, secret=True)
        return new
