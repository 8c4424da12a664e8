"""Every service the app uses, built once by the CLI and handed to the UI.

Screens never build services: they read them from :class:`Services`. ``build_demo`` wires the
embedded default (SQLite in a data folder, the ServiceTitan sandbox in-process, the ``sim://``
terminal, demo operators); ``build_run`` wires the configured tenant and terminal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from posplus_tui.config import Settings
from posplus_tui.secrets import SecretStore


class Clock(Protocol):
    """Where screens read the time: injected so snapshots never show the wall clock."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC).astimezone()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class FixedClock:
    """A clock that does not move unless told to: for snapshots and deterministic tests."""

    at: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 10, 30, tzinfo=UTC))
    ticks: float = 0.0

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return self.ticks


@dataclass(frozen=True)
class StatusSnapshot:
    """What the status bar shows, in words."""

    terminal: str = "checking…"
    servicetitan: str = "checking…"
    outbox_depth: int | None = None
    needs_attention: int = 0


#: The environment names the banner knows; ``demo`` is the embedded default.
DEMO = "demo"


@dataclass
class Services:
    """The app's services. Attributes other than settings/secrets are ``None`` when not configured."""

    mode: str  # "demo" or "run"
    settings: Settings
    secrets: SecretStore
    clock: Clock = field(default_factory=SystemClock)
    setup: Any = None
    operators: Any = None
    payments: Any = None
    lookup: Any = None
    reconcile: Any = None
    sync: Any = None
    ledger: Any = None
    #: Demo operators (username, display name, role, PIN) — only in demo mode, for the sign-in hint.
    demo_operators: tuple[tuple[str, str, str, str], ...] = ()
    _closers: list[Any] = field(default_factory=list)

    @property
    def environment(self) -> str:
        return DEMO if self.mode == DEMO else self.settings.environment

    @property
    def station(self) -> str:
        return self.settings.station_name

    def missing_setup(self) -> list[str]:
        """What Setup still needs before payments can be taken (empty in the demo)."""
        if self.mode == DEMO:
            return []
        return self.settings.missing_for_run()

    async def status(self) -> StatusSnapshot:
        """The status bar's words, asked of each service; a failing service says so, never raises."""
        return StatusSnapshot()

    async def start(self) -> None:
        """Start background work (the reconcile worker, the sync follower)."""

    async def aclose(self) -> None:
        """Stop background work and close connections."""
        for closer in reversed(self._closers):
            try:
                result = closer()
                if hasattr(result, "__await__"):
                    await result
            except Exception:  # closing must not hide the reason the app is stopping
                continue
        self._closers.clear()


# -- building ---------------------------------------------------------------------------------------


async def open_and_identify_terminal(url: str) -> Any:
    """Open the terminal at ``url``, ask who it is, close it: Setup's and Terminal's test button."""
    import drivers

    terminal = drivers.open_terminal(url)
    try:
        return await terminal.initialize()
    finally:
        await terminal.close()


def servicetitan_client_factory(sandbox_url: str = "", transport: Any = None) -> Any:
    """A factory turning Setup's connection form into a ServiceTitan client."""

    def make(form: Any) -> Any:
        from posplus_tui.servicetitan import ServiceTitanClient

        kwargs: dict[str, Any] = {}
        if transport is not None:
            kwargs["transport"] = transport
        if form.environment == "sandbox" and sandbox_url:
            kwargs["base_url"] = sandbox_url
        return ServiceTitanClient(
            form.environment,
            form.tenant_id,
            form.client_id,
            form.client_secret,
            form.app_key,
            **kwargs,
        )

    return make


#: The demo's operators: (name, role, PIN). README.md lists them.
DEMO_OPERATORS: tuple[tuple[str, str, str], ...] = (
    ("clerk", "clerk", "1111"),
    ("supervisor", "supervisor", "2222"),
    ("technician", "technician", "3333"),
    ("admin", "admin", "4444"),
)


def _open_operators(services: Services, pin_cost: int | None) -> None:
    """The ledger and the operator service (needed even before ServiceTitan is set up)."""
    from posplus_tui.ledger import open_ledger
    from posplus_tui.services.operators import OperatorService

    ledger = open_ledger(services.settings.database_url)
    services.ledger = ledger
    services._closers.append(ledger.dispose)
    kwargs: dict[str, Any] = {"station": services.station, "clock": services.clock.now}
    if pin_cost is not None:
        kwargs["pin_cost"] = pin_cost
    services.operators = OperatorService(ledger, **kwargs)


def build_run(
    settings: Settings,
    *,
    config_path: Any = None,
    secrets: SecretStore | None = None,
    clock: Clock | None = None,
    pin_cost: int | None = None,
) -> Services:
    """Services for ``posplus run``: the configured tenant, terminal and ledger."""
    from posplus_tui.services.setup import SetupService

    secrets = secrets or SecretStore(tenant=settings.tenant_id or "default")
    setup = SetupService(
        settings,
        secrets,
        client_factory=servicetitan_client_factory(settings.sandbox_url),
        terminal_tester=open_and_identify_terminal,
        config_path=config_path,
    )
    services = Services(
        mode="run", settings=settings, secrets=secrets, clock=clock or SystemClock(), setup=setup
    )
    _open_operators(services, pin_cost)
    return services


def build_demo(
    folder: Any,
    *,
    card_wait_ms: int = 1500,
    clock: Clock | None = None,
    pin_cost: int | None = None,
) -> Services:
    """Services for ``posplus demo``: SQLite in ``folder``, the sandbox in-process, ``sim://``."""
    from posplus_tui.secrets import MemoryKeyring
    from posplus_tui.services.setup import SetupService

    settings = Settings(
        environment="sandbox",
        tenant_id="",
        terminal_url=f"sim://?card_wait_ms={card_wait_ms}",
        database_url=f"sqlite:///{folder}/demo-ledger.sqlite3",
        station_name="Counter 1",
    )
    secrets = SecretStore(backend=MemoryKeyring(), environ={})
    setup = SetupService(settings, secrets, terminal_tester=open_and_identify_terminal)
    services = Services(
        mode=DEMO,
        settings=settings,
        secrets=secrets,
        clock=clock or SystemClock(),
        setup=setup,
        demo_operators=tuple((n, n, r, p) for n, r, p in DEMO_OPERATORS),
    )
    _open_operators(services, pin_cost)
    if services.operators.count_sync() == 0:
        for name, role, pin in DEMO_OPERATORS:
            services.operators.add_sync(name, role, pin)
    return services
