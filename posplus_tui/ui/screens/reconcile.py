"""Reconciliation: the live stream of postings to ServiceTitan, today's totals, and the
supervisor's actions on a posting that needs a person."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Label, Sparkline, Static

from posplus_tui.domain.roles import Action
from posplus_tui.redaction import card_data_in
from posplus_tui.ui.errors import explain
from posplus_tui.ui.literal import cells, clean
from posplus_tui.ui.modals import TextPrompt
from posplus_tui.ui.screens.base import HOME_DEPTH, PosScreen
from posplus_tui.ui.screens.reconcile_view import FILTERS, KIND_WORDS, summary_words, visible
from posplus_tui.ui.widgets import FieldMessage, ProblemPanel

#: Events kept on screen (the full history stays in the ledger).
KEEP = 500


def unsettled_words(rows: list[Any]) -> str:
    """The payments still waiting for the terminal's answer, in one or two sentences."""
    if not rows:
        return ""
    shown = ", ".join(
        f"{r.ecr_ref} {r.amount.format()}"
        + (f" (invoice {r.invoice_number})" if r.invoice_number else "")
        for r in rows[:3]
    )
    more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
    return (
        f"Needs a person: {len(rows)} payment(s) the terminal has not confirmed: {shown}{more}. "
        "Do not charge those cards again. c (Recover) asks the terminal now; the app also "
        "asks by itself while it runs."
    )


def recovery_words(report: Any) -> str:
    """What one recovery pass did: its headline, then one line per request."""
    if not report.outcomes:
        return "nothing to settle, every payment of this station is settled."
    return f"{report.headline()}\n{report.details()}"


def age_words(when: datetime, now: datetime) -> str:
    """``just now``, ``4 min ago`` or the local time: read against the injected clock."""
    seconds = (now - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    return when.astimezone().strftime("%H:%M")


class ReconcileSeen(Message):
    """A reconcile event, carried from the service's bus to the screen."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class UnsettledChanged(Message):
    """A payment of this station went unknown, or recovery (running by itself) settled some."""

    def __init__(self, report: Any = None) -> None:
        super().__init__()
        self.report = report


class ReconcileScreen(PosScreen[None]):
    """Every step of posting our payments to ServiceTitan, newest first."""

    CSS_PATH = "reconcile.tcss"
    AREA = "Reconcile"
    PURPOSE = (
        "Each payment is posted to ServiceTitan and checked there. Newest first; filter with "
        "a (all), n (needs attention) and m (mismatches). On a row: r retries, h records that "
        "it was posted by hand (with a note), o opens the invoice. Changing a posting needs a "
        "supervisor. c (Recover) asks the terminal about payments it never confirmed."
    )
    BINDINGS = [
        # Written on the screen, above the list ("a all · n needs attention · m mismatches").
        Binding("a", "filter('all')", "All", show=False),
        Binding("n", "filter('attention')", "Needs attention", show=False),
        Binding("m", "filter('mismatch')", "Mismatches", show=False),
        Binding("r", "retry", "Retry"),
        Binding("h", "by_hand", "Posted by hand"),
        Binding("o", "open_invoice", "Open invoice"),
        Binding("c", "recover", "Recover"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, filter_name: str = "all") -> None:
        super().__init__()
        self.filter_name = filter_name
        self.events: list[Any] = []
        self.shown: list[Any] = []
        self._unsubscribe: Any = None
        self._unfollow: Any = None
        self._unfollow_payments: Any = None
        #: What the last recovery settled, in words: kept on screen (events do not wipe it).
        self.recovered = ""

    def body(self) -> ComposeResult:
        with Vertical(id="reconcile-body"):
            yield Static("Today: loading…", id="summary-methods", markup=False)
            yield Static("", id="summary-states", markup=False)
            with Horizontal(id="spark-row"):
                yield Label("Payments per hour ", id="spark-label")
                yield Sparkline([0] * 24, id="per-hour")
            yield Static("", id="unsettled", markup=False)
            yield Static("", id="filter-line", markup=False)
            table: DataTable[str] = DataTable(id="events", cursor_type="row")
            table.add_columns("When", "Invoice", "Amount", "State", "What happened")
            yield table
            yield Static("", id="event-detail", markup=False)
            yield FieldMessage(id="reconcile-message")
            yield ProblemPanel(id="reconcile-problem")

    def on_mount(self) -> None:
        reconcile = self.services.reconcile
        if reconcile is None:
            self.query_one("#reconcile-problem", ProblemPanel).show(
                "ServiceTitan is not set up, so nothing is posted yet.",
                "Finish Setup (F8), then come back.",
            )
            return
        self._unsubscribe = reconcile.subscribe(lambda e: self.post_message(ReconcileSeen(e)))
        if self.services.recovery is not None:
            self._unfollow = self.services.recovery.subscribe(
                lambda report: self.post_message(UnsettledChanged(report))
            )
        if self.services.payments is not None:
            self._unfollow_payments = self.services.payments.subscribe(self._payment_event)
        self.load()

    def on_unmount(self) -> None:
        for unsubscribe in (self._unsubscribe, self._unfollow, self._unfollow_payments):
            if unsubscribe is not None:
                unsubscribe()

    def _payment_event(self, event: Any) -> None:
        if str(getattr(event, "kind", "")) in ("unknown", "recovered", "approved", "declined"):
            self.post_message(UnsettledChanged())

    def on_unsettled_changed(self, message: UnsettledChanged) -> None:
        if message.report is not None and message.report.outcomes:
            self.recovered = "The app asked the terminal by itself. " + recovery_words(
                message.report
            )
        self.show_unsettled()

    @work(exclusive=True, group="reconcile-unsettled", exit_on_error=False)
    async def show_unsettled(self) -> None:
        """Payments the terminal never confirmed need a person until Recover settles them."""
        line = self.query_one("#unsettled", Static)
        recovery = self.services.recovery
        if recovery is None:
            line.display = False
            return
        try:
            rows = await recovery.unsettled()
        except Exception as exc:
            rows, words = [], f"Could not read the unsettled payments ({explain(exc).title})."
        else:
            words = unsettled_words(rows)
        words = "\n".join(w for w in (words, self.recovered) if w)
        line.update(words)
        line.display = bool(words)

    @work(exclusive=True, group="reconcile-load", exit_on_error=False)
    async def load(self) -> None:
        try:
            history = await self.services.reconcile.history(KEEP)
        except Exception as exc:
            p = explain(exc)
            self.query_one("#reconcile-problem", ProblemPanel).show(p.title, p.fix)
            return
        known = {e.id for e in self.events if e.id is not None}
        self.events = history + [e for e in self.events if e.id is None or e.id not in known]
        self._show_events()
        self.show_unsettled()
        await self._load_summary()

    async def _load_summary(self) -> None:
        try:
            day = self.services.clock.now().astimezone().date()
            summary = await self.services.reconcile.summary(day)
        except Exception as exc:
            p = explain(exc)
            self.query_one("#summary-methods", Static).update(f"Today: unavailable ({p.title})")
            return
        words = summary_words(summary)
        self.query_one("#summary-methods", Static).update(words.methods)
        self.query_one("#summary-states", Static).update(words.states)
        self.query_one("#per-hour", Sparkline).data = list(summary.per_hour)

    @work(exclusive=True, group="reconcile-summary", exit_on_error=False)
    async def refresh_summary(self) -> None:
        await self._load_summary()

    def on_reconcile_seen(self, message: ReconcileSeen) -> None:
        self.events.append(message.event)
        del self.events[:-KEEP]
        self._show_events()
        self.refresh_summary()
        self.pos_app.refresh_status()

    def _show_events(self) -> None:
        self.shown = visible(self.events, self.filter_name)
        label, _ = FILTERS[self.filter_name]
        self.query_one("#filter-line", Static).update(
            f"Showing: {label} ({len(self.shown)}) — a all · n needs attention · m mismatches"
        )
        table = self.query_one("#events", DataTable)
        table.clear()
        now = self.services.clock.now()
        for e in self.shown:
            kind = str(getattr(e.kind, "value", e.kind))
            table.add_row(
                *cells(
                    age_words(e.time, now),
                    e.invoice_number or "—",
                    e.amount.format(),
                    KIND_WORDS.get(kind, kind),
                    e.message,
                )
            )
        self._describe_event()
        message = self.query_one("#reconcile-message", FieldMessage)
        if not self.shown:
            message.hint(
                "Nothing here." if self.filter_name == "all" else "Nothing needs a person. "
            )
        else:
            message.clear()

    @on(DataTable.RowHighlighted, "#events")
    def _describe_event(self) -> None:
        self.refresh_bindings()  # retry / posted by hand follow the highlighted row
        event = self._selected()
        detail = self.query_one("#event-detail", Static)
        if event is None:
            detail.update("")
            return
        kind = str(getattr(event.kind, "value", event.kind))
        detail.update(
            clean(
                f"{KIND_WORDS.get(kind, kind)} · payment {event.transaction_ref or '—'} · "
                f"{event.message}"
            )
        )

    # -- actions ---------------------------------------------------------------------------------

    def action_filter(self, name: str) -> None:
        self.filter_name = name
        self._show_events()

    def _selected(self) -> Any | None:
        table = self.query_one("#events", DataTable)
        if not self.shown or not 0 <= table.cursor_row < len(self.shown):
            return None
        return self.shown[table.cursor_row]

    def _selected_posting(self) -> Any | None:
        event = self._selected()
        if event is None or event.outbox_id is None:
            self.query_one("#reconcile-problem", ProblemPanel).show(
                "Pick a posting first.",
                "Use ↑↓ to highlight a row about a payment, then press the key again.",
                warning=True,
            )
            return None
        return event

    def _posting_now(self, outbox_id: int) -> str:
        """The latest step seen for one posting (rows are steps; the posting moves on)."""
        for e in reversed(self.events):
            if e.outbox_id == outbox_id:
                return str(getattr(e.kind, "value", e.kind))
        return ""

    def why_disabled(self, action: str) -> str:
        """Why retry / posted-by-hand cannot be done on the highlighted row ("" when it can):
        said before anyone is asked for a note or a PIN."""
        if action not in ("retry", "by_hand"):
            return ""
        event = self._selected()
        if event is None or event.outbox_id is None:
            return "Pick a row about a payment first (↑↓)."
        now = self._posting_now(event.outbox_id)
        ref = event.transaction_ref
        if now in ("verified", "resolved"):
            return f"Payment {ref} is already posted and checked in ServiceTitan: nothing to do."
        if now == "cancelled":
            return f"The posting of {ref} was cancelled: nothing to do."
        if action == "by_hand" and now in ("queued", "posting", "posted", "retry"):
            return (
                f"Payment {ref} is still being posted by the app; mark it only once it needs "
                "attention."
            )
        return ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("retry", "by_hand"):
            return None if self.why_disabled(action) else True
        return True

    def action_retry(self) -> None:
        event = self._selected_posting()
        if event is not None:
            self.retry(event)

    async def _approval(self, what: str, event: Any) -> tuple[bool, Any]:
        operator = self.pos_app.operator
        amount = getattr(event, "amount", None)
        return await self.supervisor_approval(
            Action.RESOLVE_POSTING,
            f"{operator.name} is a {operator.role.value}: {what} changes the books, so a "
            "supervisor approves it with their own name and PIN.",
            target=str(event.outbox_id),
            what=(f"{amount.format()} · " if amount is not None else "")
            + f"payment {event.transaction_ref} · invoice {event.invoice_number}",
        )

    @work(group="reconcile-action", exit_on_error=False)
    async def retry(self, event: Any) -> None:
        go, approval = await self._approval(f"retrying payment {event.transaction_ref}", event)
        if not go:
            return
        await self._act(
            lambda: self.services.reconcile.retry_now(
                event.outbox_id, operator=self.pos_app.operator, approval=approval
            ),
            f"Payment {event.transaction_ref} will be tried again now.",
        )

    def action_by_hand(self) -> None:
        event = self._selected_posting()
        if event is not None:
            self.by_hand(event)

    @work(group="reconcile-action", exit_on_error=False)
    async def by_hand(self, event: Any) -> None:
        note = await self.app.push_screen_wait(
            TextPrompt(
                "Posted by hand",
                f"Payment {event.transaction_ref} ({event.amount.format()}, invoice "
                f"{event.invoice_number}) was recorded in ServiceTitan by a person. Write where "
                "and how, for the audit log.",
                placeholder="e.g. entered by Ana in ServiceTitan, payment #12345",
            )
        )
        if note is None:
            return
        if found := card_data_in(note):
            self.query_one("#reconcile-problem", ProblemPanel).show(
                f"The note looks like it holds {found}: card data is never stored.",
                "Write the note again without it (a payment number from ServiceTitan is fine).",
            )
            return
        go, approval = await self._approval(
            f"marking payment {event.transaction_ref} as posted by hand", event
        )
        if not go:
            return
        await self._act(
            lambda: self.services.reconcile.mark_posted_by_hand(
                event.outbox_id, note, operator=self.pos_app.operator, approval=approval
            ),
            f"Payment {event.transaction_ref} marked as posted by hand.",
        )

    async def _act(self, action: Callable[[], Awaitable[object]], done: str) -> None:
        """Run a supervisor's action: a refusal shows in the problem panel, success in words."""
        problem = self.query_one("#reconcile-problem", ProblemPanel)
        try:
            await action()
        except Exception as exc:
            p = explain(exc)
            problem.show(p.title, p.fix)
            return
        problem.clear()
        self.query_one("#reconcile-message", FieldMessage).ok(done)

    def action_open_invoice(self) -> None:
        event = self._selected()
        if event is not None and event.transaction_ref:
            self.open_invoice(event)

    @work(group="reconcile-open", exit_on_error=False)
    async def open_invoice(self, event: Any) -> None:
        from posplus_tui.ui.screens.invoice import InvoiceScreen

        try:
            txn = await self.services.payments.get(event.transaction_ref)
        except Exception as exc:
            p = explain(exc)
            self.query_one("#reconcile-problem", ProblemPanel).show(p.title, p.fix)
            return
        if not txn.invoice_id:
            self.query_one("#reconcile-problem", ProblemPanel).show(
                "This row is not about an invoice.", "Pick a payment row.", warning=True
            )
            return
        self.app.push_screen(InvoiceScreen(int(txn.invoice_id), txn.invoice_number))

    def action_recover(self) -> None:
        self.recover()

    @work(exclusive=True, group="reconcile-recover", exit_on_error=False)
    async def recover(self) -> None:
        """Ask the terminal now about this station's unknown and interrupted payments."""
        problem = self.query_one("#reconcile-problem", ProblemPanel)
        message = self.query_one("#reconcile-message", FieldMessage)
        if self.services.recovery is None:
            problem.show(
                "Payments are not set up on this station, so there is nothing to recover.",
                "Finish Setup (F8) first.",
                warning=True,
            )
            return
        message.hint("Recover: asking the terminal about unsettled payments…")
        try:
            report = await self.services.recovery.run_now()
        except Exception as exc:
            p = explain(exc)
            message.clear()
            problem.show(p.title, p.fix)
            return
        problem.clear()
        message.clear()
        self.recovered = "Recover: " + recovery_words(report)
        self.show_unsettled()
        self.pos_app.refresh_status()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > HOME_DEPTH:
            self.app.pop_screen()

    @on(DataTable.RowSelected, "#events")
    def _row_selected(self) -> None:
        self.action_open_invoice()
