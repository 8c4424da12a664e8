"""The Terminal screen's service: test, last transaction, batch close, the terminal's words."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from posplus_tui.redaction import redact
from posplus_tui.services.events import PaymentEvent, PaymentEventKind
from posplus_tui.services.frame_log import FrameLog
from posplus_tui.services.supervision import Supervisor

if TYPE_CHECKING:  # imported when built: the app's first frame does not wait for them
    from drivers import Terminal
    from posplus_tui.services.operators import Approval, OperatorInfo
    from posplus_tui.services.payments import BatchSummary, PaymentService
    from posplus_tui.services.txn_views import TransactionView


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
