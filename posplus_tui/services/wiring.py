"""Building the services: ``build_demo`` (the embedded default), ``build_run`` (the configured
tenant and terminal), and the payment services Setup's go-live adds without a restart.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from posplus_tui.config import Settings
from posplus_tui.secrets import SecretStore
from posplus_tui.services.clock import Clock, SystemClock
from posplus_tui.services.container import DEMO, Services
from posplus_tui.services.diagnostics import TerminalDiagnostics
from posplus_tui.services.frame_log import FrameLog

if TYPE_CHECKING:  # imported when built: the app's first frame does not wait for them
    from pathlib import Path

    import httpx

    from drivers import TerminalInfo
    from posplus_tui.services.operators import OperatorService
    from posplus_tui.services.setup import ConnectionForm
    from posplus_tui.servicetitan import ServiceTitanClient


async def open_and_identify_terminal(
    url: str, *, secrets: SecretStore | None = None, authkey: str | None = None
) -> TerminalInfo:
    """Open the terminal at ``url``, ask who it is, close it: Setup's and Terminal's test button.
    A SPIn terminal's auth key: ``authkey`` (typed, not saved yet) or the one in ``secrets``."""
    from posplus_tui.services.terminal_access import open_configured_terminal

    terminal = open_configured_terminal(url, secrets, authkey=authkey)
    try:
        return await terminal.initialize()
    finally:
        await terminal.close()


def servicetitan_client_factory(
    sandbox_url: str = "", transport: httpx.AsyncBaseTransport | None = None
) -> Callable[[ConnectionForm], ServiceTitanClient]:
    """A factory turning Setup's connection form into a ServiceTitan client."""
    from posplus_tui.services.setup import SetupProblem

    def make(form: ConnectionForm) -> ServiceTitanClient:
        from posplus_tui.servicetitan import ServiceTitanClient

        kwargs: dict[str, Any] = {}
        if transport is not None:
            kwargs["transport"] = transport
        if form.environment == "sandbox":
            typed = getattr(form, "sandbox_url", "") or sandbox_url
            if not typed:
                raise SetupProblem(
                    "The sandbox's address is missing.",
                    "Type it in “Sandbox address”: 'posplus sandbox serve' prints it, "
                    "e.g. http://127.0.0.1:8765.",
                )
            kwargs["base_url"] = typed
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


def _open_operators(services: Services, pin_cost: int | None) -> OperatorService:
    """The ledger and the operator service (needed even before ServiceTitan is set up)."""
    from posplus_tui.ledger import open_ledger
    from posplus_tui.services.operators import OperatorService

    ledger = open_ledger(services.settings.database_url)
    services.ledger = ledger
    services._closers.append(ledger.dispose)
    _sign_the_chain(services)
    kwargs: dict[str, Any] = {"station": services.station, "clock": services.clock.now}
    if pin_cost is not None:
        kwargs["pin_cost"] = pin_cost
    operators = services.operators = OperatorService(ledger, **kwargs)
    if services.setup is not None:
        from posplus_tui.services.audit import AuditService

        services.setup.audit = AuditService(ledger, station=services.station)
        services.setup.operators = operators
    return operators


def _sign_the_chain(services: Services) -> None:
    """Sign the audit chain with the key from the secret store (made for a new chain)."""
    from posplus_tui.ledger import audit as chain
    from posplus_tui.services.audit import audit_key

    assert services.ledger is not None
    engine = services.ledger.engine
    empty = chain.head(engine)[0] == 0
    chain.set_key(engine, audit_key(services.secrets, create=empty))


def wire_payments(
    services: Services, client: ServiceTitanClient, terminal_url: str, **worker_options: Any
) -> None:
    """The terminal, the payment engine, lookup, reconcile and sync over one client and ledger."""
    from posplus_tui.services.lookup import LookupService
    from posplus_tui.services.payments import PaymentService
    from posplus_tui.services.reconcile.factory import build_bundle
    from posplus_tui.services.recovery import RecoveryLoop

    ledger, operators = services.ledger, services.operators
    if ledger is None or operators is None:
        raise RuntimeError("the ledger and operators are opened before the payment services")
    frames = FrameLog()
    from posplus_tui.services.terminal_access import open_configured_terminal

    terminal = open_configured_terminal(terminal_url, services.secrets, trace=frames.record)
    services._closers.append(terminal.close)
    payments = PaymentService(
        ledger,
        terminal,
        operators,
        station=services.station,
        clock=services.clock.now,
    )
    bundle = build_bundle(services.settings, ledger, client, operators=operators, **worker_options)
    services._closers.append(bundle.aclose)
    services.client = client
    services.payments = payments
    services.lookup = bundle.lookup
    services.lookup_local = LookupService(ledger.engine, client, use_api=False)
    services.reconcile = bundle.reconcile
    services.sync = bundle.sync
    services.terminal = TerminalDiagnostics(
        terminal_url, terminal, payments, frames, services.supervisor
    )
    services._closers.append(services.terminal.aclose)
    services.recovery = RecoveryLoop(payments)
    services._closers.append(services.recovery.aclose)
    if services.mode != DEMO:
        from posplus_tui.services.links.live import LiveLinks

        services.live_links = LiveLinks(
            ledger, operators, services.settings, services.secrets, clock=services.clock.now
        )


def build_run(
    settings: Settings,
    *,
    config_path: Path | None = None,
    secrets: SecretStore | None = None,
    clock: Clock | None = None,
    pin_cost: int | None = None,
    problems: dict[str, str] | None = None,
) -> Services:
    """Services for ``posplus run``: the configured tenant, terminal and ledger. When ServiceTitan
    or the terminal is not set up yet, or a setting was refused (``problems``: key → sentence),
    only Setup's services are built (the app opens Setup, at the refused field)."""
    from posplus_tui.services.reconcile.factory import client_from_settings
    from posplus_tui.services.setup import SetupService

    secrets = secrets or SecretStore(tenant=settings.tenant_id or "default")
    setup = SetupService(
        settings,
        secrets,
        client_factory=servicetitan_client_factory(settings.sandbox_url),
        terminal_tester=open_and_identify_terminal,
        config_path=config_path,
        problems=dict(problems or {}),
    )
    services = Services(
        mode="run", settings=settings, secrets=secrets, clock=clock or SystemClock(), setup=setup
    )
    _open_operators(services, pin_cost)
    if problems:
        services.not_ready = "A setting must be fixed in Setup: " + ", ".join(sorted(problems))
        return services
    if settings.missing_for_run():
        services.not_ready = "Setup is not finished."
        return services
    try:
        client = client_from_settings(settings, secrets)
    except Exception as exc:  # NotConfigured (a secret missing) or no keyring: Setup says which
        services.not_ready = str(exc)
        return services
    from posplus_tui.services.terminal_access import missing_terminal_secret

    missing_key = missing_terminal_secret(settings.terminal_url, secrets)
    if missing_key:
        services.not_ready = missing_key
        return services
    wire_payments(services, client, settings.terminal_url)
    return services


def build_demo(
    folder: str | Path,
    *,
    card_wait_ms: int = 1500,
    clock: Clock | None = None,
    pin_cost: int | None = None,
    sync_on_start: bool = True,
    sandbox_size: str = "demo",
    terminal: str = "poslink",
    **worker_options: Any,
) -> Services:
    """Services for ``posplus demo``: SQLite in ``folder``, the sandbox in-process, and the
    ``terminal`` simulator: ``poslink`` (``sim://``) or ``spin`` (SPIn over loopback HTTP)."""
    from pathlib import Path

    from posplus_tui.secrets import MemoryKeyring
    from posplus_tui.services.demo_terminal import start_demo_terminal
    from posplus_tui.services.setup import SetupService
    from posplus_tui.servicetitan.sandbox import IN_PROCESS_BASE_URL, Sandbox

    folder = Path(folder)
    sandbox = Sandbox(seed=1, size=sandbox_size)  # type: ignore[arg-type]
    demo_terminal = start_demo_terminal(terminal, card_wait_ms)
    creds = sandbox.credentials
    settings = Settings(
        environment="sandbox",
        tenant_id=str(creds.tenant_id),
        client_id=creds.client_id,
        reconciliation_username="DLee",
        payment_type_name="POS+",
        terminal_url=demo_terminal.url,
        database_url=f"sqlite:///{folder / 'demo-ledger.sqlite3'}",
        station_name="Counter 1",
        sandbox_url=IN_PROCESS_BASE_URL,
    )
    secrets = SecretStore(backend=MemoryKeyring(), environ={}, tenant=settings.tenant_id)
    secrets.set("client_secret", creds.client_secret)
    secrets.set("app_key", creds.app_key)
    secrets.set("audit_key", "demo-audit-key: practice money only")  # the demo's is no secret
    if demo_terminal.authkey:
        secrets.set("terminal_authkey", demo_terminal.authkey)
    setup = SetupService(
        settings,
        secrets,
        client_factory=servicetitan_client_factory(IN_PROCESS_BASE_URL, sandbox.transport()),
        terminal_tester=open_and_identify_terminal,
        config_path=folder / "demo-config.toml",
    )
    services = Services(
        mode=DEMO,
        settings=settings,
        secrets=secrets,
        clock=clock or SystemClock(),
        setup=setup,
        demo_operators=tuple((n, n, r, p) for n, r, p in DEMO_OPERATORS),
        sync_on_start=sync_on_start,
    )
    services.sandbox = sandbox
    if demo_terminal.stop is not None:
        services._closers.append(demo_terminal.stop)
    operators = _open_operators(services, pin_cost)
    if operators.count_sync() == 0:
        # The demo's admin is the first operator of an empty ledger; it adds the others.
        admin = next(operators.add_sync(n, r, p) for n, r, p in DEMO_OPERATORS if r == "admin")
        for name, role, pin in DEMO_OPERATORS:
            if role != "admin":
                operators.add_sync(name, role, pin, by=admin)
    wire_payments(services, sandbox.client(), settings.terminal_url, **worker_options)
    from posplus_tui.services.links.demo import DemoLinks

    assert services.ledger is not None
    # The links keep real time (the sandbox refuses an expiry in the past), even when a test
    # holds the app's clock still for its snapshots.
    services.demo_links = DemoLinks(services.ledger, operators, station=services.station)
    return services
