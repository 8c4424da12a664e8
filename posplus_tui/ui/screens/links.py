"""Payment links of one invoice: create one (amount defaults to what is left; a deposit is fine),
send it by e-mail or text or show it as a QR code, and watch each link's state live.
Supervisors deactivate an open link or refund a paid one (partial allowed)."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, RadioButton, RadioSet, Static

from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.ui.errors import explain
from posplus_tui.ui.literal import clean
from posplus_tui.ui.modals import Confirm, TextPrompt
from posplus_tui.ui.screens.base import PosScreen
from posplus_tui.ui.screens.invoice import facts_of
from posplus_tui.ui.widgets import FieldMessage, MoneyInput, ProblemPanel, field_row

CHANNEL_WORDS = {"email": "e-mail", "sms": "text", "qr": "QR code"}
STATE_WORDS = {
    "intent": "creating…",
    "unknown": "checking…",
    "failed": "not created",
    "created": "created, not sent",
    "sent": "open (sent)",
    "paid": "PAID",
    "expired": "expired",
    "deactivated": "deactivated",
    "partially_refunded": "paid, part refunded",
    "refunded": "refunded",
}


class QrScreen(ModalScreen[None]):
    """The link as a QR code, for a customer standing at the counter."""

    BINDINGS = [Binding("escape,enter", "close", "Close")]
    DEFAULT_CSS = """
    QrScreen { align: center middle; }
    #qr-box { width: auto; height: auto; background: $surface; padding: 0 1; }
    #qr-code { width: auto; color: white; background: black; }
    """

    def __init__(self, code: str, caption: str) -> None:
        super().__init__()
        self.code = code
        self.caption = caption

    def compose(self) -> ComposeResult:
        with Vertical(id="qr-box"):
            yield Static(self.code, id="qr-code", markup=False)
            yield Static(clean(self.caption), id="qr-caption", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)


class LinksScreen(PosScreen[None]):
    AREA = "Payment links"
    PURPOSE = (
        "Send the customer a link to pay this invoice on a secure page (e-mail, text, or a QR "
        "code at the counter). The payment posts to ServiceTitan by itself once they pay."
    )
    BINDINGS = [
        Binding("f2", "create", "Create & send", priority=True),
        Binding("q", "qr", "QR of selected"),
        Binding("x", "deactivate", "Deactivate"),
        Binding("r", "refund", "Refund"),
        Binding("escape", "back", "Back", priority=True),
    ]
    DEFAULT_CSS = """
    #links-body { height: 1fr; padding: 0 1; }
    #links-head { text-style: bold; }
    #links-form { height: auto; }
    #channel { height: auto; width: 1fr; border: none; layout: horizontal; padding: 0; }
    #links-table { height: 1fr; min-height: 4; }
    """

    def __init__(self, detail: Any) -> None:
        super().__init__()
        self.detail = detail
        self.links: list[Any] = []
        self._unsubscribe: Any = None

    @property
    def service(self) -> Any:
        return self.services.link_service()

    def body(self) -> ComposeResult:
        d = self.detail
        with VerticalScroll(id="links-body"):
            yield Static(
                clean(
                    f"Payment link · invoice {d.number} · {d.customer_name} · "
                    f"balance {d.balance.format()}"
                ),
                id="links-head",
                markup=False,
            )
            with Vertical(id="links-form"):
                yield field_row("Amount $", MoneyInput("", id="link-amount", what="what is left"))
                yield FieldMessage(id="amount-message")
                with RadioSet(id="channel", compact=True):
                    yield RadioButton("QR code", value=True, id="ch-qr", compact=True)
                    yield RadioButton("E-mail", id="ch-email", compact=True)
                    yield RadioButton("Text", id="ch-sms", compact=True)
                yield field_row(
                    "To", Input(id="link-to", placeholder="e-mail or mobile number", compact=True)
                )
                yield FieldMessage(id="to-message")
                with Horizontal(classes="button-row"):
                    yield Button("Create & send (F2)", id="create", variant="primary", compact=True)
            yield ProblemPanel(id="links-problem")
            yield DataTable(id="links-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one("#links-table", DataTable)
        table.add_columns("Ref", "Amount", "State", "Sent to", "Note")
        if self.service is None:
            self.query_one("#links-problem", ProblemPanel).show(
                self.services.links_why_not() or "Payment links are not set up on this station.",
                "Ask an admin to set them up.",
            )
            return
        self._unsubscribe = self.service.subscribe(self._changed)
        self.load()
        self.query_one("#link-amount", MoneyInput).focus()

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _changed(self) -> None:
        self.load()

    @work(group="links-load", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        service = self.service
        invoice = facts_of(self.detail)
        try:
            self.links = await service.links_for_invoice(invoice.invoice_id)
            available = await self.services.payments.available(invoice)
        except Exception as exc:
            p = explain(exc)
            self.query_one("#links-problem", ProblemPanel).show(p.title, p.fix)
            return
        amount = self.query_one("#link-amount", MoneyInput)
        if not amount.value:
            amount.value = available.to_api()
        self.query_one("#amount-message", FieldMessage).ok(
            f"Left to collect: {available.format()} (less is a deposit)."
        )
        table = self.query_one("#links-table", DataTable)
        row = table.cursor_row
        table.clear()
        for link in self.links:
            to = link.recipient or ("shown at the counter" if link.channel == "qr" else "")
            table.add_row(
                link.reference,
                link.amount.format(),
                STATE_WORDS.get(link.state.value, link.state.value),
                clean(to),
                clean(link.message),
                key=str(link.id),
            )
        if self.links:
            table.move_cursor(row=min(max(row, 0), len(self.links) - 1))

    def _selected(self) -> Any | None:
        table = self.query_one("#links-table", DataTable)
        if not self.links or table.cursor_row < 0 or table.cursor_row >= len(self.links):
            return None
        return self.links[table.cursor_row]

    def _channel(self) -> str:
        pressed = self.query_one("#channel", RadioSet).pressed_button
        return (pressed.id or "ch-qr").removeprefix("ch-") if pressed else "qr"

    # -- create -----------------------------------------------------------------------------------

    @on(Button.Pressed, "#create")
    @on(Input.Submitted)
    def action_create(self) -> None:
        problem = self.query_one("#links-problem", ProblemPanel)
        amount = self.query_one("#link-amount", MoneyInput).amount()
        if amount is None:
            problem.show("The amount is not right yet.", "Correct it as the line under it says.")
            return
        channel = self._channel()
        to = self.query_one("#link-to", Input).value
        message = self.query_one("#to-message", FieldMessage)
        try:
            self.service.check_recipient(channel, to)
        except Exception as exc:
            p = explain(exc)
            message.error(p.title)
            self.query_one("#link-to", Input).focus()
            return
        message.clear()
        problem.clear()
        self.create(amount, channel, to)

    @work(group="links-create", exclusive=True, exit_on_error=False)
    async def create(self, amount: Money, channel: str, to: str) -> None:
        try:
            link = await self.service.create(
                facts_of(self.detail),
                amount,
                operator=self.pos_app.operator,
                channel=channel,
                to=to,
            )
        except Exception as exc:
            p = explain(exc)
            self.query_one("#links-problem", ProblemPanel).show(p.title, p.fix)
            self.load()
            return
        self.load()
        if channel == "qr":
            self._show_qr(link)

    def _show_qr(self, link: Any) -> None:
        self.app.push_screen(
            QrScreen(
                self.service.qr(link),
                f"{link.amount.format()} · invoice {link.invoice_number} · scan to pay · Esc closes",
            )
        )

    def action_qr(self) -> None:
        link = self._selected()
        if link is not None and link.is_open:
            self._show_qr(link)

    # -- supervisor actions -----------------------------------------------------------------------

    def action_deactivate(self) -> None:
        link = self._selected()
        if link is None or not link.is_open:
            self.query_one("#links-problem", ProblemPanel).show(
                "Pick an open link to deactivate.", "Use ↑/↓ in the list.", warning=True
            )
            return
        self.deactivate(link)

    @work(group="refund", exclusive=True, exit_on_error=False)
    async def deactivate(self, link: Any) -> None:
        operator = self.pos_app.operator
        go, approval = await self.supervisor_approval(
            Action.VOID,
            "Deactivating a link needs a supervisor's name and PIN.",
            target=link.reference,
            amount=link.amount,
            what=f"payment link {link.reference} · invoice {link.invoice_number}",
        )
        if not go:
            return
        if not await self.app.push_screen_wait(
            Confirm("Deactivate?", f"Switch off link {link.reference} ({link.amount.format()})?")
        ):
            return
        try:
            await self.service.deactivate(link.id, operator=operator, approval=approval)
        except Exception as exc:
            p = explain(exc)
            self.query_one("#links-problem", ProblemPanel).show(p.title, p.fix)
        self.load()

    def action_refund(self) -> None:
        link = self._selected()
        if link is None or link.transaction_id is None:
            self.query_one("#links-problem", ProblemPanel).show(
                "Pick a paid link to refund.", "Use ↑/↓ in the list.", warning=True
            )
            return
        self.refund(link)

    @work(group="refund", exclusive=True, exit_on_error=False)
    async def refund(self, link: Any) -> None:
        operator = self.pos_app.operator
        left = await self.service.refundable(link.id)
        typed = await self.app.push_screen_wait(
            TextPrompt("Refund amount", f"Up to {left.format()} can be refunded.", left.to_api())
        )
        if not typed:
            return
        try:
            amount = Money.parse(typed)
        except Exception as exc:
            p = explain(exc)
            self.query_one("#links-problem", ProblemPanel).show(p.title, p.fix)
            return
        go, approval = await self.supervisor_approval(
            Action.REFUND,
            "A refund needs a supervisor's name and PIN.",
            target=link.reference,
            amount=amount,
            what=f"payment link {link.reference} · invoice {link.invoice_number}",
        )
        if not go:
            return
        try:
            await self.service.refund(
                link.id, amount, operator=operator, approval=approval, reason="link refund"
            )
        except Exception as exc:
            p = explain(exc)
            self.query_one("#links-problem", ProblemPanel).show(p.title, p.fix)
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()
