"""The live panel that follows a request at the terminal, and the result that replaces it.

Shared by Charge, Refund/Void and Card on file. The service's progress events arrive as Textual
messages (posted, so a callback from anywhere is safe); elapsed time comes from the injected clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from posplus_tui.services.container import Clock
from posplus_tui.services.events import PaymentEvent, PaymentEventKind
from posplus_tui.ui.widgets import ProblemPanel

if TYPE_CHECKING:  # the mixin is typed as the screen it is mixed into
    from posplus_tui.ui.screens.base import PosScreen

    _Screen = PosScreen[Any]
else:
    _Screen = object

#: What each payment event kind reads like while the request is at the terminal.
WAITING_WORDS = {
    PaymentEventKind.INTENT_RECORDED: "Recorded safely. Sending to the terminal…",
    PaymentEventKind.SENT: "Sent to the terminal…",
    PaymentEventKind.CANCEL_REQUESTED: "Cancel sent to the terminal — waiting for it to confirm…",
}

#: Terminal states in words for the person at the counter.
TERMINAL_HINTS = {
    "waiting for card": "Ask the customer to tap, insert or swipe their card.",
    "waiting for PIN": "The customer is typing their PIN.",
    "waiting for keyed entry": "Type the card number on the terminal's keypad (never here).",
    "authorising with the host": "The card network is deciding. Please wait.",
}


class PaymentProgress(Message):
    """One event from the payment service, carried to the screen that started the request."""

    def __init__(self, event: PaymentEvent) -> None:
        super().__init__()
        self.event = event


def progress_poster(post: Callable[[Message], object]) -> Callable[[PaymentEvent], None]:
    """A service ``on_event`` callback that turns each event into a :class:`PaymentProgress`."""

    def on_event(event: PaymentEvent) -> None:
        post(PaymentProgress(event))

    return on_event


@dataclass(frozen=True)
class Outcome:
    """A finished request in words: a heading (APPROVED …), the details and the next step."""

    heading: str
    details: str
    next_step: str
    tone: str  # "success" | "error" | "warning"


def outcome_of(result: Any) -> Outcome:
    """Read a ``PaymentResult`` into words; the state is always written, never colour alone."""
    txn = result.transaction
    state = str(getattr(txn.state, "value", txn.state))
    card = f"{txn.brand} •••• {txn.last4}" if txn.last4 else ""
    kind = str(getattr(txn.kind, "value", txn.kind))
    what = {"refund": "REFUND", "void": "VOID"}.get(kind, "PAYMENT")
    if result.approved:
        if getattr(result, "is_partial", False):
            return Outcome(
                f"PARTIALLY APPROVED — {result.approved_amount.format()} of {txn.amount.format()}",
                result.message,
                f"{result.still_due.format()} is still due: press Enter, then take another "
                "payment for it.",
                "warning",
            )
        details = f"{result.approved_amount.format()}"
        if card:
            details += f" · {card}"
        if txn.auth_code:
            details += f" · auth code {txn.auth_code}"
        return Outcome(
            f"{what} APPROVED",
            details,
            "Press Enter to go back to the invoice. ServiceTitan is updated in the background "
            "(see Reconcile, F6).",
            "success",
        )
    if state == "declined":
        return Outcome(
            f"{what} DECLINED",
            result.message,
            "Nothing was charged. Ask for another card or another way to pay; press Enter to "
            "go back.",
            "error",
        )
    if state == "cancelled":
        return Outcome(
            f"{what} CANCELLED",
            result.message,
            "Nothing was charged. Press Enter to go back; you can start again.",
            "warning",
        )
    if state in ("unknown", "at_terminal"):
        return Outcome(
            "NOT CONFIRMED — DO NOT CHARGE AGAIN",
            result.message,
            "The app will ask the terminal what happened and show the result on the invoice. "
            "Do not run the card again.",
            "error",
        )
    return Outcome(
        f"{what} NOT TAKEN",
        result.message,
        "Nothing was charged. Check the terminal, then press Enter and try again.",
        "error",
    )


class TerminalPanel(Vertical):
    """While a request is at the terminal: what it is doing, how long it has been, how to cancel."""

    DEFAULT_CSS = """
    TerminalPanel {
        height: auto;
        border: round $accent;
        padding: 0 1;
    }
    TerminalPanel #tp-title { text-style: bold; }
    TerminalPanel #tp-state { text-style: bold; }
    """

    def __init__(self, title: str, clock: Clock, *, cancellable: bool = True) -> None:
        super().__init__(id="terminal-panel")
        self.title_text = title
        self.clock = clock
        self.cancellable = cancellable
        self.started = clock.monotonic()

    def compose(self) -> ComposeResult:
        yield Static(self.title_text, id="tp-title", markup=False)
        yield Static("Terminal: getting ready…", id="tp-state", markup=False)
        yield Static("", id="tp-hint", markup=False)
        yield Static("Elapsed: 0 s", id="tp-elapsed", markup=False)
        yield Static(
            "Esc: cancel at the terminal" if self.cancellable else "Please wait.",
            id="tp-cancel",
            markup=False,
        )

    def on_mount(self) -> None:
        self.set_interval(0.5, self.tick)

    def tick(self) -> None:
        seconds = max(0, int(self.clock.monotonic() - self.started))
        self.query_one("#tp-elapsed", Static).update(f"Elapsed: {seconds} s")

    def follow(self, event: PaymentEvent) -> None:
        kind = event.kind
        state_line = self.query_one("#tp-state", Static)
        hint = self.query_one("#tp-hint", Static)
        if kind is PaymentEventKind.TERMINAL and event.terminal_state:
            state_line.update(f"Terminal: {event.terminal_state}")
            hint.update(TERMINAL_HINTS.get(event.terminal_state, ""))
        elif kind in WAITING_WORDS:
            state_line.update(f"Terminal: {WAITING_WORDS[kind]}")
            if kind is PaymentEventKind.CANCEL_REQUESTED:
                self.query_one("#tp-cancel", Static).update("Cancelling…")
        elif kind is PaymentEventKind.UNKNOWN:
            state_line.update("Terminal: no clear answer — asking it what happened…")


class OutcomePanel(Vertical):
    """The result, in words, with the next step."""

    DEFAULT_CSS = """
    OutcomePanel {
        height: auto;
        border: heavy $success;
        padding: 0 1;
    }
    OutcomePanel.-error { border: heavy $error; }
    OutcomePanel.-warning { border: heavy $warning; }
    OutcomePanel #op-heading { text-style: bold; }
    """

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(id="outcome-panel", classes=f"-{outcome.tone}")
        self.outcome = outcome

    def compose(self) -> ComposeResult:
        yield Static(self.outcome.heading, id="op-heading", markup=False)
        yield Static(self.outcome.details, id="op-details", markup=False)
        yield Static(f"Next step: {self.outcome.next_step}", id="op-next", markup=False)


class LiveRequest(_Screen):
    """Mixin for screens that send one request to the terminal: the form → live panel → outcome
    phases, Esc to cancel at the terminal, Enter to go back. Needs ``#…-form``, ``#…-live`` and a
    ``ProblemPanel``, named by :attr:`FORM`, :attr:`LIVE` and :attr:`PROBLEM`."""

    FORM = "#form"
    LIVE = "#live"
    PROBLEM = "#problem"
    phase = "form"
    result: Any = None

    def start_live(self, title: str, *, cancellable: bool = True) -> None:
        from textual.containers import Vertical as _V

        self.query_one(self.PROBLEM, ProblemPanel).clear()
        self.phase = "running"
        self.query_one(self.FORM).display = False
        live = self.query_one(self.LIVE, _V)
        live.remove_children()
        live.mount(TerminalPanel(title, self.services.clock, cancellable=cancellable))
        self.refresh_bindings()

    def back_to_form(self, title: str, fix: str) -> None:
        self.phase = "form"
        self.query_one(self.LIVE).remove_children()
        self.query_one(self.FORM).display = True
        self.query_one(self.PROBLEM, ProblemPanel).show(title, fix)
        self.refresh_bindings()

    def finished(self, result: Any) -> None:
        self.result = result
        self.phase = "done"
        live = self.query_one(self.LIVE)
        live.remove_children()
        live.mount(OutcomePanel(outcome_of(result)))
        self.pos_app.refresh_status()
        self.refresh_bindings()
        self.set_focus(None)  # the form is hidden: Enter now reaches the screen

    def on_payment_progress(self, message: PaymentProgress) -> None:
        panel = self.query_one_optional(TerminalPanel)
        if panel is not None:
            panel.follow(message.event)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "send":
            return self.phase == "form"
        if action == "finish":
            return self.phase == "done"
        return True

    def action_escape(self) -> None:
        if self.phase == "running":
            self.run_worker(self._cancel_at_terminal(), group="cancel", exit_on_error=False)
        else:
            self.app.pop_screen()

    async def _cancel_at_terminal(self) -> None:
        from posplus_tui.ui.errors import explain

        try:
            sent = await self.services.payments.cancel_current(operator=self.pos_app.operator)
        except Exception as exc:
            p = explain(exc)
            self.query_one(self.PROBLEM, ProblemPanel).show(p.title, p.fix)
            return
        if not sent:
            self.notify("Nothing to cancel: the terminal has finished.")

    def action_finish(self) -> None:
        if self.phase != "running":
            self.app.pop_screen()
