"""Payment (F4): the request at the terminal, for a clerk who moved on while it ran and came back.

It shows the same live panel as the screen that started the request, then the result in words;
Enter goes to the invoice. Nothing is started here."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from posplus_tui.ui.errors import explain
from posplus_tui.ui.payment_panel import LiveRequest
from posplus_tui.ui.screens.base import PosScreen
from posplus_tui.ui.widgets import ProblemPanel


class PaymentScreen(LiveRequest, PosScreen[None]):
    """The station's request in flight (or its result, until the clerk has seen it)."""

    FORM = "#pay-form"
    LIVE = "#pay-live"
    PROBLEM = "#pay-problem"
    CSS_PATH = "payment.tcss"
    AREA = "Payment"
    PURPOSE = (
        "The payment, refund or void at the terminal, wherever you went while it ran: its "
        "live state, then the result and the next step. F4 opens it from any screen; Enter "
        "goes to the invoice; Esc (while it runs) cancels at the terminal."
    )
    BINDINGS = [
        Binding("escape", "escape", "Cancel / back", priority=True),
        Binding("enter", "finish", "Back to invoice"),
    ]

    def body(self) -> ComposeResult:
        flight = self.services.desk.current
        head = (
            f"{flight.what} · invoice {flight.invoice_number}"
            if flight is not None
            else "No payment at the terminal."
        )
        with VerticalScroll(id="pay-body"):
            yield Static(head, id="pay-head", markup=False)
            yield Vertical(id="pay-form")
            yield ProblemPanel(id="pay-problem")
            yield Vertical(id="pay-live")

    def on_mount(self) -> None:
        self.query_one("#pay-form").display = False
        flight = self.services.desk.current
        if flight is None:
            return
        self.flight = flight
        if not flight.done:
            self.start_live(flight.title, started=flight.started)
            if flight.last_event is not None:
                self.desk_moved(flight)
        elif flight.error is not None:
            p = explain(flight.error)
            self.phase = "done"
            self.query_one(self.PROBLEM, ProblemPanel).show(p.title, p.fix)
            self.services.desk.mark_seen(flight)
        else:
            self.finished(flight.result)
            self.services.desk.mark_seen(flight)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "finish":
            return self.phase == "done" and self.flight is not None
        return super().check_action(action, parameters)

    def action_escape(self) -> None:
        if self.phase == "running":
            super().action_escape()
        else:
            self.app.pop_screen()
