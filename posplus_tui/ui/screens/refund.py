"""Refund (full or partial) or void one of our payments: supervisor approval when needed, and a
confirmation that repeats the amount and the card before anything is sent."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Static

from posplus_tui.domain.money import Money
from posplus_tui.domain.roles import Action
from posplus_tui.redaction import card_data_in
from posplus_tui.ui.errors import explain
from posplus_tui.ui.literal import clean
from posplus_tui.ui.modals import Confirm
from posplus_tui.ui.payment_panel import LiveRequest
from posplus_tui.ui.screens.base import PosScreen
from posplus_tui.ui.widgets import FieldMessage, MoneyInput, ProblemPanel, field_row


class RefundScreen(LiveRequest, PosScreen[None]):
    """Give money back on one approved payment."""

    FORM = "#refund-form"
    LIVE = "#refund-live"
    PROBLEM = "#refund-problem"
    CSS_PATH = "payment.tcss"
    AREA = "Refund / void"
    PURPOSE = (
        "Refund all or part of a payment (up to what remains refundable), or void it before the "
        "terminal's batch closes. Both need a reason and a supervisor; a clerk's request asks "
        "for a supervisor's name and PIN. You confirm the amount and card before it is sent."
    )
    BINDINGS = [
        Binding("f2", "send", "Refund / void", priority=True),
        Binding("escape", "escape", "Cancel / back", priority=True),
        Binding("enter", "finish", "Back to invoice", show=False),
    ]

    def __init__(self, detail: Any, transaction: Any, mode: str = "refund") -> None:
        super().__init__()
        self.detail = detail
        self.txn = transaction
        self.mode = mode
        self.phase = "form"
        self.refundable: Money | None = None

    @property
    def card(self) -> str:
        t = self.txn
        return f"{t.brand} •••• {t.last4}" if t.last4 else "the original payment method"

    def body(self) -> ComposeResult:
        t = self.txn
        verb = "Refund" if self.mode == "refund" else "Void"
        with VerticalScroll(id="refund-body"):
            yield Static(
                clean(
                    f"{verb} · invoice {self.detail.number} · {self.detail.customer_name}\n"
                    f"{str(getattr(t.kind, 'value', t.kind)).capitalize()} of "
                    f"{t.created_at.astimezone().strftime('%m/%d/%y')} · {self.card} · "
                    f"approved {t.approved.format()}"
                ),
                id="refund-head",
                markup=False,
            )
            with Vertical(id="refund-form"):
                if self.mode == "refund":
                    yield Static("Checking what is left to refund…", id="refundable", markup=False)
                    yield field_row("Amount $", MoneyInput("", id="amount", what="what is left"))
                    yield FieldMessage(id="amount-message")
                else:
                    yield Static(
                        f"A void cancels the whole payment ({t.approved.format()}) before the "
                        "terminal's batch closes. After that, refund it instead.",
                        id="void-note",
                        markup=False,
                    )
                yield field_row(
                    "Reason", Input(id="reason", placeholder="why (required)", compact=True)
                )
                yield FieldMessage(id="reason-message")
                with Horizontal(classes="button-row"):
                    yield Button(f"{verb} (F2)", id="send", variant="warning", compact=True)
                    yield Button("Back (Esc)", id="back", compact=True)
            yield ProblemPanel(id="refund-problem")
            yield Vertical(id="refund-live")

    def on_mount(self) -> None:
        if self.mode == "refund":
            self.load_refundable()
            self.query_one("#amount", MoneyInput).focus()
        else:
            self.query_one("#reason", Input).focus()

    @work(group="refundable", exit_on_error=False)
    async def load_refundable(self) -> None:
        try:
            left = await self.services.payments.refundable(self.txn.ecr_ref)
        except Exception as exc:
            p = explain(exc)
            self.query_one("#refund-problem", ProblemPanel).show(p.title, p.fix)
            return
        self.refundable = left
        self.query_one("#refundable", Static).update(
            f"Left to refund on this payment: {left.format()}"
        )
        amount = self.query_one("#amount", MoneyInput)
        validator = amount.validators[0]
        validator.maximum = left  # type: ignore[attr-defined]
        validator.what = "what is left to refund"  # type: ignore[attr-defined]
        amount.value = left.to_api()

    @on(Input.Changed, "#amount")
    def _amount_changed(self) -> None:
        field = self.query_one("#amount", MoneyInput)
        message = self.query_one("#amount-message", FieldMessage)
        result = field.validate(field.value)
        if result is not None and not result.is_valid:
            message.error(" ".join(result.failure_descriptions))
        elif (amount := field.amount()) is not None:
            whole = self.refundable is not None and amount == self.refundable
            message.ok(f"{'Full' if whole else 'Partial'} refund of {amount.format()}.")

    # -- sending ---------------------------------------------------------------------------------

    @on(Input.Submitted)
    @on(Button.Pressed, "#send")
    def _send_now(self) -> None:
        if self.phase != "form":
            return
        amount: Money | None = None
        if self.mode == "refund":
            amount = self.query_one("#amount", MoneyInput).amount()
            if amount is None:
                self.query_one("#refund-problem", ProblemPanel).show(
                    "The amount is not right yet.", "Correct it as the line under it says."
                )
                return
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.query_one("#reason-message", FieldMessage).error(
                "Write why (e.g. “customer returned the part”): it goes in the audit log."
            )
            self.query_one("#reason", Input).focus()
            return
        if found := card_data_in(reason):
            self.query_one("#reason-message", FieldMessage).error(
                f"The reason looks like it holds {found}: card data is never stored. "
                "Write the reason without it."
            )
            self.query_one("#reason", Input).focus()
            return
        self.query_one("#reason-message", FieldMessage).clear()
        self.approve_confirm_send(amount, reason)

    @work(exclusive=True, group="refund", exit_on_error=False)
    async def approve_confirm_send(self, amount: Money | None, reason: str) -> None:
        operator = self.pos_app.operator
        action = Action.REFUND if self.mode == "refund" else Action.VOID
        shown = amount if amount is not None else self.txn.approved
        go, approval = await self.supervisor_approval(
            action,
            f"{operator.name} is a {operator.role.value}: a supervisor must approve this "
            f"{action.value} with their own name and PIN.",
            target=self.txn.ecr_ref,
            amount=shown,
            what=f"{self.card} · invoice {self.detail.number}",
        )
        if not go:
            return
        verb = "Refund" if self.mode == "refund" else "Void"
        question = (
            f"{verb} {shown.format()} to {self.card}?\n"
            f"Invoice {self.detail.number}, payment {self.txn.ecr_ref}. Reason: {reason}"
        )
        if not await self.app.push_screen_wait(
            Confirm(f"{verb} {shown.format()}?", question, yes=f"{verb} {shown.format()}")
        ):
            return
        payments = self.services.payments
        ref = self.txn.ecr_ref
        mode = self.mode

        def run(on_event: Any) -> Any:
            if mode == "refund":
                return payments.refund(
                    ref,
                    amount,
                    operator=operator,
                    approval=approval,
                    reason=reason,
                    on_event=on_event,
                )
            return payments.void(
                ref, operator=operator, approval=approval, reason=reason, on_event=on_event
            )

        self.launch(
            run,
            title=f"{verb} · {shown.format()} · {self.card}",
            what=verb,
            amount=shown,
            invoice_id=str(self.detail.id),
            invoice_number=self.detail.number,
        )

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_finish()
