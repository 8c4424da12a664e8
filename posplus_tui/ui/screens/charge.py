"""Charge: amount (checked as typed), method, save card; then the live terminal panel; then the
result in words with the next step."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, Select, Static

from posplus_tui.domain.money import Money
from posplus_tui.ui.errors import explain
from posplus_tui.ui.literal import clean
from posplus_tui.ui.payment_panel import LiveRequest
from posplus_tui.ui.screens.base import PosScreen
from posplus_tui.ui.screens.invoice import facts_of
from posplus_tui.ui.widgets import FieldMessage, MoneyInput, ProblemPanel, field_row

METHODS = [
    ("Card at the terminal (tap, insert, swipe)", "card"),
    ("Card typed on the terminal keypad", "keyed"),
    ("Card on file", "card_on_file"),
    ("Bank account (ACH)", "ach"),
]


def save_card_words(on: bool) -> str:
    """Short enough for the box at 80 columns, ticked or not."""
    if on:
        return "Save card: YES (customer agreed)"
    return "Save card: no (Space = yes)"


class ChargeScreen(LiveRequest, PosScreen[None]):
    """Take a payment against one invoice."""

    FORM = "#charge-form"
    LIVE = "#charge-live"
    PROBLEM = "#charge-problem"
    CSS_PATH = "payment.tcss"
    AREA = "Charge"
    PURPOSE = (
        "The amount starts at the balance; change it for a deposit. Choose how the customer "
        "pays, then F2 sends it to the terminal. While the terminal works, Esc cancels there. "
        "The result says what happened and what to do next."
    )
    BINDINGS = [
        Binding("f2", "send", "Send to terminal", priority=True),
        Binding("escape", "escape", "Cancel / back", priority=True),
        Binding("enter", "finish", "Back to invoice", show=False),
    ]

    def __init__(
        self,
        detail: Any,
        method: str = "card",
        card_id: int | None = None,
        amount: Money | None = None,
    ) -> None:
        super().__init__()
        self.card_id = card_id
        #: The amount to start from (the rest of a partial approval); the balance otherwise.
        self.start_amount = amount
        self.detail = detail
        self.method = "card" if method == "deposit" else method
        self.is_deposit = method == "deposit"
        self.phase = "form"  # form → running → done
        self.cards: list[Any] = []

    def _offers(self, method: str) -> bool:
        """What the terminal's protocol can take (its capability flags, through the service)."""
        payments = self.services.payments
        return payments is None or payments.offers(method)

    def body(self) -> ComposeResult:
        d = self.detail
        with VerticalScroll(id="charge-body"):
            yield Static(
                clean(f"Invoice {d.number} · {d.customer_name} · Balance due {d.balance.format()}"),
                id="charge-head",
                markup=False,
            )
            with Vertical(id="charge-form"):
                yield field_row(
                    "Amount $",
                    MoneyInput(
                        (self.start_amount or d.balance).to_api(),
                        maximum=d.balance,
                        what="the balance",
                        id="amount",
                    ),
                )
                yield FieldMessage(id="amount-message")
                yield field_row(
                    "How",
                    Select(
                        [m for m in METHODS if self._offers(m[1])],
                        value=self.method if self._offers(self.method) else "card",
                        allow_blank=False,
                        id="method",
                        compact=True,
                    ),
                )
                yield field_row(
                    "",
                    Checkbox(save_card_words(False), id="save-card"),
                    id="save-card-row",
                )
                yield field_row(
                    "Saved card",
                    Select([], id="card", prompt="loading the customer's cards…", compact=True),
                    id="card-row",
                )
                with Vertical(id="ach-fields"):
                    yield field_row(
                        "Routing number",
                        Input(id="routing", restrict=r"\d*", max_length=9, compact=True),
                    )
                    yield field_row(
                        "Account number",
                        Input(
                            id="account",
                            restrict=r"\d*",
                            max_length=17,
                            password=True,
                            compact=True,
                        ),
                    )
                    yield field_row(
                        "Account type",
                        Select(
                            [("Checking", "checking"), ("Savings", "savings")],
                            value="checking",
                            allow_blank=False,
                            id="account-type",
                            compact=True,
                        ),
                    )
                    yield field_row("Account holder", Input(id="holder", compact=True))
                with Horizontal(classes="button-row"):
                    yield Button(
                        "Send to terminal (F2)", id="send", variant="primary", compact=True
                    )
                    yield Button("Back (Esc)", id="back", compact=True)
            yield ProblemPanel(id="charge-problem")
            yield Vertical(id="charge-live")

    def on_mount(self) -> None:
        self._method_changed()
        self._validate_amount()
        amount = self.query_one("#amount", MoneyInput)
        amount.focus()
        if self.is_deposit:
            amount.value = ""  # the hint under it says what to type

    # -- the form --------------------------------------------------------------------------------

    @on(Input.Changed, "#amount")
    def _validate_amount(self) -> None:
        field = self.query_one("#amount", MoneyInput)
        message = self.query_one("#amount-message", FieldMessage)
        if self.is_deposit and not field.value.strip():
            message.hint(  # nothing typed yet is not an error
                f"Type the deposit: more than $0.00, at most {self.detail.balance.format()}."
            )
            return
        result = field.validate(field.value)
        if result is not None and not result.is_valid:
            message.error(" ".join(result.failure_descriptions))
            return
        amount = field.amount()
        if amount is None:
            return
        if amount < self.detail.balance:
            left = self.detail.balance - amount
            message.ok(f"Deposit of {amount.format()}; {left.format()} will still be due.")
        else:
            message.ok(f"The full balance, {amount.format()}.")

    @on(Select.Changed, "#method")
    def _method_changed(self) -> None:
        method = self.query_one("#method", Select).value
        self.method = str(method)
        self.query_one("#save-card-row").display = self.method in (
            "card",
            "keyed",
        ) and self._offers("card_on_file")
        self.query_one("#card-row").display = self.method == "card_on_file"
        self.query_one("#ach-fields").display = self.method == "ach"
        send = "Send ACH payment (F2)" if self.method == "ach" else "Send to terminal (F2)"
        self.query_one("#send", Button).label = send
        if self.method == "card_on_file":
            self.load_cards()

    @work(exclusive=True, group="charge-cards", exit_on_error=False)
    async def load_cards(self) -> None:
        select = self.query_one("#card", Select)
        try:
            self.cards = await self.services.payments.list_cards(str(self.detail.customer_id or ""))
        except Exception as exc:
            p = explain(exc)
            self.query_one("#charge-problem", ProblemPanel).show(p.title, p.fix)
            return
        active = [c for c in self.cards if not c.revoked]
        select.set_options([(c.label, c.id) for c in active])
        if active:
            ids = [c.id for c in active]
            select.value = self.card_id if self.card_id in ids else active[0].id
        else:
            select.prompt = "no saved cards for this customer"

    @on(Checkbox.Changed, "#save-card")
    def _save_card_changed(self, event: Checkbox.Changed) -> None:
        """The choice in words, not only by the colour of the box."""
        event.checkbox.label = save_card_words(event.value)

    def _problem(self, title: str, fix: str) -> None:
        self.query_one("#charge-problem", ProblemPanel).show(title, fix)

    # -- sending ---------------------------------------------------------------------------------

    @on(Input.Submitted, "#amount")
    @on(Button.Pressed, "#send")
    def _send_now(self) -> None:
        if self.phase != "form":
            return
        amount = self.query_one("#amount", MoneyInput).amount()
        if amount is None:
            self._problem(
                "The amount is not right yet.",
                "Correct it as the line under the amount says, then press F2.",
            )
            self.query_one("#amount", MoneyInput).focus()
            return
        request: dict[str, Any] = {"amount": amount}
        if self.method == "card_on_file":
            card = self.query_one("#card", Select).value
            if card is Select.NULL:
                self._problem(
                    "No saved card is chosen.",
                    "Pick a saved card, or choose “Card at the terminal”.",
                )
                return
            request["card_id"] = int(card)  # type: ignore[arg-type]
        elif self.method == "ach":
            request["routing"] = self.query_one("#routing", Input).value
            request["account"] = self.query_one("#account", Input).value
            request["account_type"] = str(self.query_one("#account-type", Select).value)
            request["holder"] = self.query_one("#holder", Input).value.strip()
        else:
            request["save_card"] = self.query_one("#save-card", Checkbox).value
        title = f"{self._method_words()} · {amount.format()} · invoice {self.detail.number}"
        self.launch(
            self._charge(request),
            title=title,
            what="Deposit" if amount < self.detail.balance else "Payment",
            amount=amount,
            invoice_id=str(self.detail.id),
            invoice_number=self.detail.number,
            cancellable=self.method != "ach",
        )

    def _method_words(self) -> str:
        return dict((v, k) for k, v in METHODS)[self.method].split(" (")[0]

    def _charge(self, request: dict[str, Any]) -> Callable[[Any], Awaitable[Any]]:
        """The service call, for the station's desk to run (it outlives this screen)."""
        payments = self.services.payments
        operator = self.pos_app.operator
        facts = facts_of(self.detail)
        amount: Money = request["amount"]
        method = self.method

        def run(on_event: Any) -> Awaitable[Any]:
            if method == "card_on_file":
                return payments.charge_card_on_file(
                    facts, request["card_id"], operator=operator, amount=amount, on_event=on_event
                )
            if method == "ach":
                return payments.charge_ach(
                    facts,
                    request["routing"],
                    request["account"],
                    operator=operator,
                    account_type=request["account_type"],
                    holder_name=request["holder"],
                    amount=amount,
                    on_event=on_event,
                )
            return payments.charge(
                facts,
                operator=operator,
                amount=amount,
                save_card=request.get("save_card", False),
                keyed=method == "keyed",
                on_event=on_event,
            )

        return run

    def on_key(self, event: events.Key) -> None:
        """A digit typed while no field has the focus (the first key after the screen opens,
        or after a click on a button) goes to the amount: never dropped on the way."""
        if self.phase != "form" or not event.is_printable or event.character is None:
            return
        if isinstance(self.focused, Input):
            return
        if event.character not in "0123456789.,$":
            return
        field = self.query_one("#amount", MoneyInput)
        event.stop()
        event.prevent_default()
        field.focus()
        field.post_message(events.Key(event.key, event.character))

    def finished(self, result: Any) -> None:
        """The header follows the money: what is due now that the terminal has approved."""
        super().finished(result)
        if getattr(result, "approved", False):
            d = self.detail
            due = d.balance - result.approved_amount
            self.query_one("#charge-head", Static).update(
                clean(
                    f"Invoice {d.number} · {d.customer_name} · Balance due now {due.format()}"
                    f" (was {d.balance.format()})"
                )
            )

    # -- keys ------------------------------------------------------------------------------------

    def action_escape(self) -> None:
        if self.phase == "running" and self.method == "ach":
            self.notify("An ACH payment cannot be cancelled once sent; please wait.")
            return
        super().action_escape()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_finish()
