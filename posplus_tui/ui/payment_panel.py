"""The live panel that follows a request at the terminal, and the result that replaces it.

Shared by Charge (and card on file), Refund/Void and the Payment screen (F4). The request runs on
the station's desk; the app hands its moves to the screens; elapsed time comes from the injected
clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Static

#: What each payment event kind reads like while the request is at the terminal.
WAITING_WORDS = {
    "intent_recorded": "Recorded safely. Sending to the terminal…",
    "sent": "Sent to the terminal…",
    "cancel_requested": "Cancel sent to the terminal — waiting for it to confirm…",
}

#: Terminal states in words for the person at the counter.
TERMINAL_HINTS = {
    "waiting for card": "Ask the customer to tap, insert or swipe their card.",
    "waiting for PIN": "The customer is typing their PIN.",
    "waiting for keyed entry": "Type the card number on the terminal's keypad (never here).",
    "authorising with the host": "The card network is deciding. Please wait.",
}


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

    def __init__(self, title: str, clock: Any, *, cancellable: bool = True) -> None:
        super().__init__(id="terminal-panel")
        self.title_text = title
        self.clock = clock
        self.cancellable = cancellable
        self.started = clock.monotonic()
        self._early: Any = None

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
        self.tick()
        if self._early is not None:  # an event that came before the panel was ready
            self.follow(self._early)

    def tick(self) -> None:
        seconds = max(0, int(self.clock.monotonic() - self.started))
        self.query_one("#tp-elapsed", Static).update(f"Elapsed: {seconds} s")

    def follow(self, event: Any) -> None:
        if self.query_one_optional("#tp-state") is None:  # not composed yet
            self._early = event
            return
        kind = str(getattr(event.kind, "value", event.kind))
        state_line = self.query_one("#tp-state", Static)
        hint = self.query_one("#tp-hint", Static)
        if kind == "terminal" and event.terminal_state:
            state_line.update(f"Terminal: {event.terminal_state}")
            hint.update(TERMINAL_HINTS.get(event.terminal_state, ""))
        elif kind in WAITING_WORDS:
            state_line.update(f"Terminal: {WAITING_WORDS[kind]}")
            if kind == "cancel_requested":
                self.query_one("#tp-cancel", Static).update("Cancelling…")
        elif kind == "unknown":
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


class LiveRequest:
    """Mixin for screens that send one request to the terminal: the form → live panel → outcome
    phases, Esc to cancel at the terminal, Enter to go back to the invoice. Needs ``#…-form``,
    ``#…-live`` and a ``ProblemPanel``, named by :attr:`FORM`, :attr:`LIVE` and :attr:`PROBLEM`.

    The request itself runs on the station's :class:`~posplus_tui.services.desk.PaymentDesk`,
    not in this screen: leaving the screen lets it finish (the status bar follows it, F4 comes
    back to it). The app calls :meth:`desk_moved` on every screen in the stack when it moves."""

    FORM = "#form"
    LIVE = "#live"
    PROBLEM = "#problem"
    phase = "form"
    result: Any = None
    flight: Any = None

    def action_send(self) -> None:
        """F2. It is a priority key, so it can overtake keys typed just before it that the
        focused field has not taken in yet: the send waits behind them, so it reads the whole
        field, as typed."""
        focused = getattr(self, "focused", None)
        if isinstance(focused, Input):
            focused.call_later(self._send_now)
        else:
            self._send_now()

    def _send_now(self) -> None:
        """Read the form and launch the request (each screen says how)."""
        raise NotImplementedError

    def launch(
        self,
        run: Callable[[Any], Any],
        *,
        title: str,
        what: str,
        amount: Any,
        invoice_id: str,
        invoice_number: str,
        cancellable: bool = True,
    ) -> bool:
        """Hand the request to the station's desk and show the live panel; ``False`` (with the
        reason in the problem panel) when the desk refuses it (another request is running)."""
        from posplus_tui.ui.errors import explain

        screen: Any = self
        try:
            flight = screen.services.desk.start(
                run,
                title=title,
                what=what,
                amount=amount,
                invoice_id=invoice_id,
                invoice_number=invoice_number,
            )
        except Exception as exc:
            p = explain(exc)
            screen.query_one(self.PROBLEM).show(p.title, p.fix)
            return False
        self.flight = flight
        self.start_live(title, cancellable=cancellable, started=flight.started)
        return True

    def start_live(
        self, title: str, *, cancellable: bool = True, started: float | None = None
    ) -> None:
        from textual.containers import Vertical as _V

        screen: Any = self
        screen.query_one(self.PROBLEM).clear()
        self.phase = "running"
        screen.query_one(self.FORM).display = False
        live = screen.query_one(self.LIVE, _V)
        live.remove_children()
        panel = TerminalPanel(title, screen.services.clock, cancellable=cancellable)
        if started is not None:
            panel.started = started
        live.mount(panel)
        screen.refresh_bindings()

    def desk_moved(self, flight: Any) -> None:
        """The desk's request moved on: follow it, or show how it ended."""
        from posplus_tui.ui.errors import explain

        if flight is not self.flight or self.phase != "running":
            return
        screen: Any = self
        if not flight.done:
            panel = screen.query_one_optional(TerminalPanel)
            if panel is not None and flight.last_event is not None:
                panel.follow(flight.last_event)
            return
        if flight.error is not None:
            p = explain(flight.error)
            self.back_to_form(p.title, p.fix)
            if screen.is_current:
                screen.services.desk.mark_seen(flight)
            return
        self.finished(flight.result)

    def back_to_form(self, title: str, fix: str) -> None:
        screen: Any = self
        self.phase = "form"
        screen.query_one(self.LIVE).remove_children()
        screen.query_one(self.FORM).display = True
        screen.query_one(self.PROBLEM).show(title, fix)
        screen.refresh_bindings()

    def finished(self, result: Any) -> None:
        screen: Any = self
        self.result = result
        self.phase = "done"
        live = screen.query_one(self.LIVE)
        live.remove_children()
        live.mount(OutcomePanel(outcome_of(result)))
        screen.pos_app.refresh_status()
        screen.refresh_bindings()
        screen.set_focus(None)  # the form is hidden: Enter now reaches the screen

    def leave_seen(self) -> None:
        """The clerk moves on from the result on this screen: it has been seen."""
        screen: Any = self
        if self.phase == "done" and self.flight is not None:
            screen.services.desk.mark_seen(self.flight)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "send":
            return self.phase == "form"
        if action == "finish":
            return self.phase == "done"
        return True

    def action_escape(self) -> None:
        screen: Any = self
        if self.phase == "running":
            screen.run_worker(self._cancel_at_terminal(), group="cancel", exit_on_error=False)
        elif self.phase == "done":
            self.action_finish()
        else:
            screen.app.pop_screen()

    async def _cancel_at_terminal(self) -> None:
        from posplus_tui.ui.errors import explain

        screen: Any = self
        try:
            sent = await screen.services.payments.cancel_current(operator=screen.pos_app.operator)
        except Exception as exc:
            p = explain(exc)
            screen.query_one(self.PROBLEM).show(p.title, p.fix)
            return
        if not sent:
            screen.notify("Nothing to cancel: the terminal has finished.")

    def action_finish(self) -> None:
        """Back to the invoice the request was for, with the next step when there is one (the
        rest of a partial approval)."""
        screen: Any = self
        if self.phase == "running":
            return
        flight = self.flight
        if flight is None or self.phase == "form":
            screen.app.pop_screen()
            return
        self.leave_seen()
        screen.pos_app.back_to_invoice(
            flight.invoice_id, flight.invoice_number, still_due=_rest_of(self.result)
        )


def _rest_of(result: Any) -> Any:
    """What a partial approval left to pay (``None`` for anything else)."""
    if result is not None and getattr(result, "is_partial", False):
        return result.still_due
    return None
