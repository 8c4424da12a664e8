"""Every service the app uses, built once by the CLI and handed to the UI.

Screens never build services: they read them from :class:`Services`. ``build_demo`` wires the
embedded default (SQLite in a data folder, the ServiceTitan sandbox in-process, the ``sim://``
terminal, demo operators); ``build_run`` wires the configured tenant and terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from posplus_tui.config import Settings
from posplus_tui.domain.outbox import OUTBOX_ATTENTION_STATES, OUTBOX_OPEN_STATES
from posplus_tui.redaction import redact
from posplus_tui.secrets import SecretStore
from posplus_tui.services.desk import PaymentDesk
from posplus_tui.services.events import PaymentEvent, PaymentEventKind
from posplus_tui.services.supervision import Supervisor

if TYPE_CHECKING:  # imported when built: the app's first frame does not wait for them
    from pathlib import Path

    import httpx

    from drivers import FrameTrace, Terminal, TerminalInfo
    from posplus_tui.ledger import Ledger
    from posplus_tui.services.audit import AuditService
    from posplus_tui.services.lookup import LookupService
    from posplus_tui.services.operators import Approval, OperatorInfo, OperatorService
    from posplus_tui.services.payments import BatchSummary, PaymentService
    from posplus_tui.services.reconcile.service import ReconcileService
    from posplus_tui.services.recovery import RecoveryLoop
    from posplus_tui.services.setup import ConnectionForm, SetupService
    from posplus_tui.services.sync import SyncService
    from posplus_tui.services.txn_store import TransactionView
    from posplus_tui.servicetitan import ServiceTitanClient
    from posplus_tui.servicetitan.sandbox import Sandbox


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
    #: Background work that stopped, in words ("Posting to ServiceTitan stopped: … retrying in
    #: 30 s"); the bar shows these before anything else.
    trouble: tuple[str, ...] = ()


class FrameLog:
    """The terminal's recent frames as text (the driver masks card data before we see it)."""

    def __init__(self, size: int = 400) -> None:
        self.lines: deque[str] = deque(maxlen=size)
        self._listeners: list[Callable[[str], object]] = []

    def record(self, trace: FrameTrace | str) -> None:
        """The driver's trace callback."""
        line = redact(trace.line() if hasattr(trace, "line") else str(trace))
        self.lines.append(line)
        for listener in list(self._listeners):
            with contextlib.suppress(Exception):  # a broken listener never breaks the terminal
                listener(line)

    def subscribe(self, listener: Callable[[str], object]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None


#: How often an idle terminal is asked whether it is still there (seconds).
TERMINAL_CHECK_EVERY = 30.0

K = PaymentEventKind
#: Payment events that say what the terminal is doing (the status bar's terminal words).
_TERMINAL_BUSY = frozenset({K.INTENT_RECORDED, K.SENT, K.TERMINAL, K.CANCEL_REQUESTED})
_TERMINAL_ANSWERED = frozenset({K.APPROVED, K.PARTIAL, K.DECLINED, K.CANCELLED, K.RECOVERED})
_TERMINAL_SILENT = frozenset({K.FAILED, K.UNKNOWN})


class TerminalDiagnostics:
    """What the Terminal screen needs: test/initialise, the last transaction, batch close and the
    live frame log, over the same terminal the payment engine uses.

    It also keeps the status bar honest: "ready" only means the terminal answered at its last
    check, and an idle terminal is checked every :data:`TERMINAL_CHECK_EVERY` seconds, so one
    switched off or unplugged shows "did not answer" within that time."""

    def __init__(
        self,
        url: str,
        terminal: Terminal,
        payments: PaymentService,
        frames: FrameLog,
        supervisor: Supervisor | None = None,
    ) -> None:
        self.url = url
        self.terminal = terminal
        self.payments = payments
        self.frames = frames
        self.state = "not tested yet"
        self.busy = False
        self.check_every = TERMINAL_CHECK_EVERY
        #: A technician's test waits longer than the periodic check, which holds the terminal
        #: (a sale started meanwhile is refused): a live terminal answers in about a second.
        self.check_timeout = 15.0
        self.quiet_check_timeout = 5.0
        self.checked_at: float | None = None  # time.monotonic() of the last answer or silence
        self._check: asyncio.Task[None] | None = None
        self.supervisor = supervisor or Supervisor()
        payments.subscribe(self._follow)

    def _follow(self, event: PaymentEvent) -> None:
        kind = event.kind
        if kind in _TERMINAL_BUSY:
            self.busy = True
            self.state = "busy with a payment"
        elif kind in _TERMINAL_ANSWERED:
            self.busy = False
            self.state = "ready"
            self.checked_at = time.monotonic()
        elif kind in _TERMINAL_SILENT:
            self.busy = False
            self.state = "did not answer last time"
            self.checked_at = time.monotonic()

    @property
    def display_url(self) -> str:
        return redact(self.url)

    async def test(self, timeout: float | None = None) -> str:
        """Initialise the terminal and say who it is; a failure is a ``ServiceError`` in words."""
        from posplus_tui.services.errors import TerminalBusy, TerminalUnavailable

        try:  # refused with TerminalBusy while a payment holds the terminal
            info = await self.payments.check_terminal(timeout or self.check_timeout)
        except TerminalBusy:
            raise
        except Exception as exc:
            self.state = "did not answer"
            self.checked_at = time.monotonic()
            words = "no answer" if isinstance(exc, TimeoutError) else redact(str(exc))
            raise TerminalUnavailable(
                f"The terminal did not answer ({words or type(exc).__name__}).",
                "Check it is switched on and on its home screen, and the cable or network "
                "address in Setup; then test again.",
            ) from exc
        self.state = "ready"
        self.checked_at = time.monotonic()
        return f"{info.model} · serial {info.serial_number} · firmware {info.firmware}"

    def check_if_due(self) -> asyncio.Task[None] | None:
        """Start a background check when the last one is older than ``check_every`` and no
        payment is running; the status bar shows its result at the next refresh."""
        if self.busy or (self._check is not None and not self._check.done()):
            return None
        if self.checked_at is not None and time.monotonic() - self.checked_at < self.check_every:
            return None
        self._check = self.supervisor.run_once(
            "terminal-check", "Checking the terminal", self._quiet_check()
        )
        return self._check

    async def _quiet_check(self) -> None:
        from posplus_tui.services.errors import TerminalBusy, TerminalUnavailable

        # The outcomes are in self.state; anything else is a fault the supervisor shows.
        with contextlib.suppress(TerminalBusy, TerminalUnavailable):
            await self.test(self.quiet_check_timeout)

    async def aclose(self) -> None:
        if self._check is not None and not self._check.done():
            self._check.cancel()
            with contextlib.suppress(BaseException):
                await self._check

    async def last_transaction(self) -> TransactionView | None:
        rows = await self.payments.list_transactions(limit=1)
        return rows[0] if rows else None

    async def batch_close(
        self, *, operator: OperatorInfo, approval: Approval | None = None
    ) -> BatchSummary:
        """Close the batch; the report then carries the audit chain's head, which is also
        appended to this station's anchor file (``audit_head``: sequence and hash)."""
        summary = await self.payments.batch_close(operator=operator, approval=approval)
        self.audit_head: tuple[int, str] | None = None
        ledger = getattr(self.payments, "_ledger", None)
        if ledger is not None:
            from posplus_tui.services.audit import AuditService

            with contextlib.suppress(Exception):
                self.audit_head = await AuditService(ledger).anchor()
        return summary


#: The environment names the banner knows; ``demo`` is the embedded default.
DEMO = "demo"

#: Outbox states still on their way to ServiceTitan (the status bar's "outbox depth").
OUTBOX_OPEN = OUTBOX_OPEN_STATES
OUTBOX_ATTENTION = OUTBOX_ATTENTION_STATES


@dataclass
class Services:
    """The app's services. Attributes other than settings/secrets are ``None`` when not configured."""

    mode: str  # "demo" or "run"
    settings: Settings
    secrets: SecretStore
    clock: Clock = field(default_factory=SystemClock)
    setup: SetupService | None = None
    operators: OperatorService | None = None
    payments: PaymentService | None = None
    lookup: LookupService | None = None
    #: Lookup over the local index only: results as you type without asking ServiceTitan.
    lookup_local: LookupService | None = None
    reconcile: ReconcileService | None = None
    #: Settles this station's unknown and interrupted payments while the app runs (and Recover).
    recovery: RecoveryLoop | None = None
    sync: SyncService | None = None
    terminal: TerminalDiagnostics | None = None
    ledger: Ledger | None = None
    client: ServiceTitanClient | None = None
    #: The in-process ServiceTitan sandbox (demo only; tests inject faults through it).
    sandbox: Sandbox | None = None
    #: Why payments cannot be taken (e.g. ServiceTitan not set up), in words; empty when ready.
    not_ready: str = ""
    #: Demo operators (username, display name, role, PIN) — only in demo mode, for the sign-in hint.
    demo_operators: tuple[tuple[str, str, str, str], ...] = ()
    #: Fill the local invoice index from ServiceTitan's export feed when the app starts.
    sync_on_start: bool = True
    #: ServiceTitan client options for :meth:`go_live` (tests pass an in-process transport).
    client_options: dict[str, Any] = field(default_factory=dict)
    #: The request at the terminal, held by the station: leaving a screen never stops it.
    desk: PaymentDesk = field(init=False)
    #: What :meth:`aclose` closes, last opened first (plain or async callables).
    _closers: list[Callable[[], object]] = field(default_factory=list)
    _st_checked: float = -1e9
    _st_words: str = "checking…"
    #: Runs the background work (reconcile, sync, terminal checks, recovery) and says on the
    #: status bar when any of it stopped.
    supervisor: Supervisor = field(default_factory=Supervisor)

    def __post_init__(self) -> None:
        self.desk = PaymentDesk(self.clock.monotonic)

    @property
    def environment(self) -> str:
        return DEMO if self.mode == DEMO else self.settings.environment

    @property
    def station(self) -> str:
        return self.settings.station_name

    def audit(self) -> AuditService:
        from posplus_tui.services.audit import AuditService

        assert self.ledger is not None, "the ledger is opened before anything is audited"
        return AuditService(self.ledger, station=self.station)

    def has_operators(self) -> bool:
        """Whether anyone can sign in (a fresh install has nobody yet)."""
        if self.operators is None:
            return False
        try:
            return bool(self.operators.count_sync())
        except Exception:
            return True  # when in doubt, nobody gets Setup without signing in

    def missing_setup(self) -> list[str]:
        """What Setup still needs before payments can be taken (empty in the demo)."""
        if self.mode == DEMO:
            return []
        if self.setup is not None and self.setup.problems:
            return sorted(self.setup.problems)
        missing = self.settings.missing_for_run()
        if not missing and self.not_ready:
            missing = ["client secret / app key (keyring)"]
        return missing

    async def status(self) -> StatusSnapshot:
        """The status bar's words, asked of each service; a failing service says so, never raises."""
        if self.terminal is not None:
            self.terminal.check_if_due()
        terminal = "not set up" if self.terminal is None else self.terminal.state
        servicetitan = await self._servicetitan_words()
        depth: int | None = None
        attention = 0
        if self.reconcile is not None:
            try:
                counts = await self.reconcile.counts()
            except Exception:
                counts = None
            if counts is not None:
                depth = sum(counts.get(k, 0) for k in OUTBOX_OPEN)
                attention = sum(counts.get(k, 0) for k in OUTBOX_ATTENTION)
        if self.payments is not None:
            # Payments the terminal never confirmed need a person until recovery settles them
            # (an intent about to be sent is not one of them).
            with contextlib.suppress(Exception):
                attention += sum(
                    1 for v in await self.payments.unsettled() if v.state.value != "intent"
                )
        trouble = tuple(self.supervisor.trouble())
        return StatusSnapshot(terminal, servicetitan, depth, attention, trouble)

    async def _servicetitan_words(self, every: float = 60.0) -> str:
        """Reachability, probed at most once a minute with the cheapest call there is."""
        if self.client is None:
            return "not set up"
        now = time.monotonic()
        if now - self._st_checked < every:
            return self._st_words
        self._st_checked = now
        try:
            await asyncio.wait_for(self.client.list_payment_types(), timeout=10)
        except Exception as exc:
            self._st_words = "unreachable" if not hasattr(exc, "fix") else "refused (see Setup)"
        else:
            self._st_words = "reachable"
        return self._st_words

    async def go_live(self, settings: Settings, secrets: SecretStore) -> str:
        """After Setup is saved on a station that could not take payments yet: build the
        payment services from the new settings and start them, without a restart. Returns ""
        when payments are ready, else why not in words (what is still missing). A station that
        already takes payments keeps running as it is: changing tenant or terminal under a
        running engine waits for a restart."""
        if self.mode == DEMO or self.payments is not None:
            return "Restart posplus to use the new settings."
        from posplus_tui.services.reconcile.factory import client_from_settings

        self.settings, self.secrets = settings, secrets
        missing = settings.missing_for_run()
        if missing:
            return "Still missing: " + ", ".join(missing) + "."
        try:  # reads the keyring, which may block (D-Bus, a locked wallet): off the event loop
            client = await asyncio.to_thread(
                client_from_settings, settings, secrets, **self.client_options
            )
        except Exception as exc:
            self.not_ready = str(exc)
            return self.not_ready
        _wire_payments(self, client, settings.terminal_url)
        self.not_ready = ""
        await self.start()
        return ""

    async def start(self) -> None:
        """Settle interrupted payments, then run the reconcile worker, the invoice-index sync and
        the terminal checks under the supervisor: each is restarted after a crash, and the
        status bar says so in words meanwhile."""
        if self.ledger is not None and self.mode != DEMO:
            with contextlib.suppress(Exception):  # the anchor is a second copy; never fatal
                await self.audit().anchor()
        if self.payments is not None:
            # Tried again in the background until it works: UNKNOWN payments wait for it.
            await self.supervisor.attempt(
                "recovery", "Settling interrupted payments", self.payments.recover
            )
        if self.recovery is not None:
            # And again while the app runs, whenever the terminal is idle.
            self.supervisor.keep_running(
                "recovery-loop", "Settling unknown payments", self.recovery.run
            )
        # Is the terminal there? Checked beside the rest, so the status bar has a fact to show.
        check = self.terminal.check_if_due() if self.terminal is not None else None
        if self.reconcile is not None:
            if self.payments is not None and not self.supervisor.task("reconcile"):
                self.reconcile.follow_payments(self.payments)
            self.supervisor.keep_running(
                "reconcile",
                "Posting to ServiceTitan",
                self.reconcile.run_forever,
                stop=self.reconcile.worker.stop,
            )
        if self.sync is not None and self.sync_on_start:
            # Fills the index at once, then follows the export feeds every 5 minutes, as
            # ServiceTitan asks (lookups fall back to ServiceTitan meanwhile).
            self.supervisor.keep_running(
                "sync", "Reading ServiceTitan's invoices", self.sync.run, stop=self.sync.stop
            )
        if check is not None:
            await check

    async def aclose(self) -> None:
        """Stop background work and close connections (a request still at the terminal is
        written down as UNKNOWN first, for the next start to settle)."""
        await self.desk.aclose()
        await self.supervisor.aclose()
        for closer in reversed(self._closers):
            try:
                result = closer()
                if hasattr(result, "__await__"):
                    await result
            except Exception:  # closing must not hide the reason the app is stopping
                continue
        self._closers.clear()


# -- building ---------------------------------------------------------------------------------------


async def open_and_identify_terminal(url: str) -> TerminalInfo:
    """Open the terminal at ``url``, ask who it is, close it: Setup's and Terminal's test button."""
    import drivers

    terminal = drivers.open_terminal(url)
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
    """Sign the audit chain with this station's key (see :func:`~posplus_tui.services.audit.
    sign_the_chain`: a key this station lacks stops the start with a sentence)."""
    from posplus_tui.services.audit import sign_the_chain

    assert services.ledger is not None
    sign_the_chain(services.ledger.engine, services.secrets)


def _wire_payments(
    services: Services, client: ServiceTitanClient, terminal_url: str, **worker_options: Any
) -> None:
    """The terminal, the payment engine, lookup, reconcile and sync over one client and ledger."""
    import drivers
    from posplus_tui.services.lookup import LookupService
    from posplus_tui.services.payments import PaymentService
    from posplus_tui.services.reconcile.factory import build_bundle
    from posplus_tui.services.recovery import RecoveryLoop

    ledger, operators = services.ledger, services.operators
    if ledger is None or operators is None:
        raise RuntimeError("the ledger and operators are opened before the payment services")
    frames = FrameLog()
    terminal = drivers.open_terminal(terminal_url, trace=frames.record)
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
    _wire_payments(services, client, settings.terminal_url)
    return services


def build_demo(
    folder: str | Path,
    *,
    card_wait_ms: int = 1500,
    clock: Clock | None = None,
    pin_cost: int | None = None,
    sync_on_start: bool = True,
    sandbox_size: str = "demo",
    **worker_options: Any,
) -> Services:
    """Services for ``posplus demo``: SQLite in ``folder``, the sandbox in-process, ``sim://``."""
    from pathlib import Path

    from posplus_tui.secrets import MemoryKeyring
    from posplus_tui.services.setup import SetupService
    from posplus_tui.servicetitan.sandbox import IN_PROCESS_BASE_URL, Sandbox

    folder = Path(folder)
    sandbox = Sandbox(seed=1, size=sandbox_size)  # type: ignore[arg-type]
    creds = sandbox.credentials
    settings = Settings(
        environment="sandbox",
        tenant_id=str(creds.tenant_id),
        client_id=creds.client_id,
        reconciliation_username="DLee",
        payment_type_name="POS+",
        terminal_url=f"sim://?card_wait_ms={card_wait_ms}",
        database_url=f"sqlite:///{folder / 'demo-ledger.sqlite3'}",
        station_name="Counter 1",
        sandbox_url=IN_PROCESS_BASE_URL,
    )
    secrets = SecretStore(backend=MemoryKeyring(), environ={}, tenant=settings.tenant_id)
    secrets.set("client_secret", creds.client_secret)
    secrets.set("app_key", creds.app_key)
    secrets.set("audit_key", "demo-audit-key: practice money only")  # the demo's is no secret
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
    operators = _open_operators(services, pin_cost)
    if operators.count_sync() == 0:
        # The demo's admin is the first operator of an empty ledger; it adds the others.
        admin = next(operators.add_sync(n, r, p) for n, r, p in DEMO_OPERATORS if r == "admin")
        for name, role, pin in DEMO_OPERATORS:
            if role != "admin":
                operators.add_sync(name, role, pin, by=admin)
    _wire_payments(services, sandbox.client(), settings.terminal_url, **worker_options)
    return services
