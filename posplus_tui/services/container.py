"""Every service the app uses, built once by the CLI and handed to the UI.

Screens never build services: they read them from :class:`Services`. ``wiring.build_demo`` wires
the embedded default (SQLite in a data folder, the ServiceTitan sandbox in-process, the ``sim://``
terminal, demo operators); ``wiring.build_run`` wires the configured tenant and terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from posplus_tui.config import Settings
from posplus_tui.domain.invoice import InvoiceFacts, facts_of
from posplus_tui.domain.outbox import OUTBOX_ATTENTION_STATES, OUTBOX_OPEN_STATES
from posplus_tui.secrets import SecretStore
from posplus_tui.services.clock import Clock, SystemClock
from posplus_tui.services.desk import PaymentDesk
from posplus_tui.services.supervision import Supervisor

if TYPE_CHECKING:  # imported when built: the app's first frame does not wait for them
    from posplus_tui.ledger import Ledger
    from posplus_tui.services.audit import AuditService
    from posplus_tui.services.diagnostics import TerminalDiagnostics
    from posplus_tui.services.links import LinkService
    from posplus_tui.services.links.demo import DemoLinks
    from posplus_tui.services.links.live import LiveLinks
    from posplus_tui.services.lookup import LookupService
    from posplus_tui.services.operators import OperatorService
    from posplus_tui.services.payments import PaymentService
    from posplus_tui.services.reconcile.service import ReconcileService
    from posplus_tui.services.recovery import RecoveryLoop
    from posplus_tui.services.setup import SetupService
    from posplus_tui.services.sync import SyncService
    from posplus_tui.servicetitan import ServiceTitanClient
    from posplus_tui.servicetitan.sandbox import Sandbox


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
    #: Payment links (demo: the Stripe, SMTP and Twilio sandboxes, started on first use).
    demo_links: DemoLinks | None = None
    #: ``posplus run``: built from Setup's settings and secrets on first use.
    live_links: LiveLinks | None = None
    links: LinkService | None = None
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

    def links_why_not(self) -> str:
        """Why this station cannot make payment links, in words ("" when it can)."""
        if self.links is not None or self.demo_links is not None:
            return ""
        if self.live_links is None:
            return (
                "Payment links need ServiceTitan and the terminal set up first. "
                "An admin finishes Setup."
            )
        return self.live_links.why_not()

    def link_service(self) -> LinkService | None:
        """Payment links, started on first use; the poller then runs under the supervisor.
        ``None`` when they are not set up (:meth:`links_why_not` says why)."""
        if self.links is None:
            source = self.demo_links or self.live_links
            started = source.start() if source is not None else None
            if started is None or source is None:
                return None
            self.links = started
            self._closers.append(source.aclose)
            self.wire_links(started)
            self.supervisor.keep_running(
                "links", "Following payment links", started.run, stop=started.stop
            )
        return self.links

    def wire_links(self, links: LinkService) -> None:
        """Links follow the invoice: deactivated when it is paid another way (a terminal
        payment here, or a payment ServiceTitan's sync shows)."""
        lookup = self.lookup
        if lookup is not None:

            async def read(invoice_id: str) -> InvoiceFacts:
                return facts_of(await lookup.open(int(invoice_id)))

            links.follow_invoices(read)
        if self.payments is not None:
            self._closers.append(links.watch_payments(self.payments))
        if self.sync is not None:
            self._closers.append(self.sync.on_invoices(links.invoices_seen))

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
            missing = [
                "terminal auth key (keyring)"
                if "auth key" in self.not_ready
                else "client secret / app key (keyring)"
            ]
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
        if self.live_links is not None and self.live_links.service is None:
            # Payment links not started yet: they use the new settings at once.
            self.live_links.settings, self.live_links.secrets = settings, secrets
        if self.mode == DEMO or self.payments is not None:
            return "Restart posplus to use the new settings."
        from posplus_tui.services.reconcile.factory import client_from_settings
        from posplus_tui.services.wiring import wire_payments

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
        from posplus_tui.services.terminal_access import missing_terminal_secret

        missing_key = await asyncio.to_thread(
            missing_terminal_secret, settings.terminal_url, secrets
        )
        if missing_key:
            self.not_ready = missing_key
            return missing_key
        wire_payments(self, client, settings.terminal_url)
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
