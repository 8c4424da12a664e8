"""Terminal (technicians): the connection, test / initialise, the last transaction, batch close
(supervisor) and a live log of every frame on the line (card data masked by the driver)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Label, Log, Static

from posplus_tui.domain.roles import Action
from posplus_tui.ui.errors import explain
from posplus_tui.ui.modals import Confirm
from posplus_tui.ui.screens.base import HOME_DEPTH, HomeScreen
from posplus_tui.ui.screens.invoice import STATE_WORDS
from posplus_tui.ui.widgets import FieldMessage, ProblemPanel


class FrameSeen(Message):
    def __init__(self, line: str) -> None:
        super().__init__()
        self.line = line


class TerminalScreen(HomeScreen[None]):
    """Diagnose the card terminal."""

    CSS_PATH = "terminal.tcss"
    AREA = "Terminal"
    OWN_AREA = "go_terminal"
    PURPOSE = (
        "For technicians: which terminal this counter uses, t to test (initialise) it, the last "
        "transaction it handled, b to close the batch (a supervisor approves), and the live log "
        "of every frame on the line — card data is masked."
    )
    BINDINGS = [
        Binding("t", "test", "Test terminal"),
        Binding("b", "batch_close", "Batch close"),
        Binding("l", "clear_log", "Clear log", show=False),  # in Help: the footer is full
        Binding("escape", "back", "Back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._unsubscribe: Any = None

    def body(self) -> ComposeResult:
        diag = self.services.terminal
        with Vertical(id="terminal-body"):
            yield Static(
                f"Terminal address: {diag.display_url if diag else 'not set up'}",
                id="terminal-url",
                markup=False,
            )
            yield Static(
                f"State: {diag.state if diag else 'not set up'}", id="terminal-state", markup=False
            )
            yield FieldMessage(id="terminal-result")
            yield Static("Last transaction: —", id="terminal-last", markup=False)
            yield ProblemPanel(id="terminal-problem")
            yield Label("Frames on the line (newest at the bottom):", classes="section-title")
            yield Log(id="frames", max_lines=400, auto_scroll=True)

    def on_mount(self) -> None:
        diag = self.services.terminal
        if diag is None:
            self.query_one("#terminal-problem", ProblemPanel).show(
                "No terminal is set up for this counter.",
                "Enter the terminal address in Setup (F8) and test it there.",
            )
            return
        log = self.query_one("#frames", Log)
        log.write_lines(list(diag.frames.lines))
        # Written before the log had a size, so it is not "at the end" yet: put it there once
        # laid out, and from then on it follows new frames (until someone scrolls up).
        self.call_after_refresh(log.scroll_end, animate=False, immediate=True)
        self._unsubscribe = diag.frames.subscribe(lambda line: self.post_message(FrameSeen(line)))
        self.load_last()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def on_frame_seen(self, message: FrameSeen) -> None:
        log = self.query_one("#frames", Log)
        near_end = log.max_scroll_y - log.scroll_y <= 2 and not log.is_vertical_scrollbar_grabbed
        log.write_lines(message.line.splitlines(), scroll_end=False)
        if near_end:
            log.scroll_end(animate=False, immediate=True)

    def _state(self) -> None:
        diag = self.services.terminal
        if diag is not None:
            self.query_one("#terminal-state", Static).update(f"State: {diag.state}")

    @work(group="terminal-last", exclusive=True, exit_on_error=False)
    async def load_last(self) -> None:
        try:
            txn = await self.services.terminal.last_transaction()
        except Exception as exc:
            p = explain(exc)
            self.query_one("#terminal-last", Static).update(
                f"Last transaction: unknown ({p.title})"
            )
            return
        if txn is None:
            text = "Last transaction: none yet"
        else:
            state = str(getattr(txn.state, "value", txn.state))
            kind = str(getattr(txn.kind, "value", txn.kind))
            card = f" · {txn.brand} •••• {txn.last4}" if txn.last4 else ""
            text = (
                f"Last transaction: {txn.ecr_ref} · {kind} · {txn.amount.format()}{card} · "
                f"{STATE_WORDS.get(state, state)} · invoice {txn.invoice_number or '—'}"
            )
        self.query_one("#terminal-last", Static).update(text)

    def action_test(self) -> None:
        if self.services.terminal is None:
            return
        self.query_one("#terminal-result", FieldMessage).hint("Asking the terminal who it is…")
        self.test_terminal()

    @work(group="terminal-test", exclusive=True, exit_on_error=False)
    async def test_terminal(self) -> None:
        box = self.query_one("#terminal-result", FieldMessage)
        try:
            words = await self.services.terminal.test()
        except Exception as exc:
            p = explain(exc)
            box.error(f"{p.title} Next step: {p.fix}")
        else:
            box.ok(f"The terminal answered: {words}")
        self._state()
        self.pos_app.refresh_status()

    def action_batch_close(self) -> None:
        if self.services.terminal is not None:
            self.batch_close()

    @work(group="terminal-batch", exclusive=True, exit_on_error=False)
    async def batch_close(self) -> None:
        operator = self.pos_app.operator
        problem = self.query_one("#terminal-problem", ProblemPanel)
        go, approval = await self.supervisor_approval(
            Action.BATCH_CLOSE,
            "Closing the batch settles today's card payments: after it, payments can no "
            "longer be voided, only refunded. A supervisor approves it.",
        )
        if not go:
            return
        if not await self.app.push_screen_wait(
            Confirm(
                "Close the batch?",
                "The terminal sends today's payments for settlement. Afterwards they can only "
                "be refunded, not voided.",
                yes="Close batch",
            )
        ):
            return
        box = self.query_one("#terminal-result", FieldMessage)
        box.hint("Closing the batch…")
        try:
            summary = await self.services.terminal.batch_close(operator=operator, approval=approval)
        except Exception as exc:
            p = explain(exc)
            box.clear()
            problem.show(p.title, p.fix)
            return
        problem.clear()
        head = getattr(self.services.terminal, "audit_head", None)
        anchor = (
            f" Audit chain #{head[0]} {head[1][:16]} (kept outside the ledger)." if head else ""
        )
        box.ok(f"{summary.describe()}{anchor}")
        self.load_last()

    def action_clear_log(self) -> None:
        self.query_one("#frames", Log).clear()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":  # a technician's home: nothing to go back to
            return not self.is_home
        return super().check_action(action, parameters)

    def action_back(self) -> None:
        if len(self.app.screen_stack) > HOME_DEPTH:
            self.app.pop_screen()
