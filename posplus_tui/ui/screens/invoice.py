"""Invoice: who, what, how much is left, what was paid, and our transactions with their state."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from posplus_tui.domain.invoice import facts_of
from posplus_tui.domain.money import Money
from posplus_tui.domain.rules import RuleViolation, check_void
from posplus_tui.domain.transactions import TxnKind, TxnState
from posplus_tui.services.reconcile import EventKind
from posplus_tui.ui.errors import explain
from posplus_tui.ui.literal import cells, clean
from posplus_tui.ui.screens.base import PosScreen
from posplus_tui.ui.widgets import ProblemPanel

#: Posting steps after which the invoice in ServiceTitan (or our state) has something new to show.
_SETTLED_POSTINGS = frozenset(
    {
        EventKind.POSTED,
        EventKind.VERIFIED,
        EventKind.NEEDS_ATTENTION,
        EventKind.MISMATCH,
        EventKind.RESOLVED,
        EventKind.CANCELLED,
    }
)

#: Our transaction states in words.
STATE_WORDS = {
    "intent": "recorded, not sent",
    "at_terminal": "at the terminal",
    "unknown": "NOT CONFIRMED (checking)",
    "approved": "approved, posting…",
    "declined": "declined",
    "cancelled": "cancelled",
    "failed": "not taken",
    "not_found": "never reached the bank",
    "discarded": "discarded (never sent)",
    "posted": "posted to ServiceTitan",
    "post_failed": "NEEDS ATTENTION (posting failed)",
    "reconciled": "posted and checked",
    "partially_refunded": "partly refunded",
    "refunded": "refunded",
    "voided": "voided",
}

TENDER_WORDS = {
    "card": "card",
    "keyed": "keyed card",
    "card_on_file": "card on file",
    "ach": "ACH",
    "link": "payment link",
}


def value_of(x: Any) -> str:
    return str(getattr(x, "value", x))


def money_back_refusal(action: str, txn: Any, transactions: list[Any]) -> str:
    """Why ``action`` ("refund" or "void") cannot be done on ``txn``, in words ("" if it can):
    the same rules the payment service applies, asked before anything else."""
    verb = "refund" if action == "refund" else "void"
    if value_of(txn.kind) not in ("sale", "deposit"):
        return (
            f"{txn.ecr_ref} is a {value_of(txn.kind)}, not a payment: there is nothing to {verb}."
        )
    state = value_of(txn.state)
    if not txn.is_approved:
        words = STATE_WORDS.get(state, state)
        return f"{txn.ecr_ref} is {words}, not an approved payment: nothing to {verb}."
    if action == "refund":
        if state == "refunded":
            return f"{txn.ecr_ref} is already refunded in full."
        if state == "voided":
            return f"{txn.ecr_ref} was voided: nothing was kept to refund."
        return ""
    children = [
        (TxnKind(value_of(t.kind)), TxnState(value_of(t.state)), t.amount)
        for t in transactions
        if t.parent_id == txn.id
    ]
    try:
        check_void(TxnState(state), batch_closed=txn.batch_closed, children=children)
    except RuleViolation as exc:
        return f"No void: {exc.message} {exc.fix}"
    return ""


class InvoiceScreen(PosScreen[None]):
    """One invoice and everything the counter can do with it."""

    CSS_PATH = "invoice.tcss"
    AREA = "Invoice"
    PURPOSE = (
        "Check the customer, the items and the balance, then take a payment: the balance, a "
        "deposit, a card on file, a card typed on the terminal or a bank account (ACH). Our own "
        "transactions are listed with their state; pick one to refund or void it."
    )
    BINDINGS = [
        Binding("c", "charge", "Charge"),
        Binding("d", "deposit", "Deposit"),
        Binding("f", "card_on_file", "Card on file"),
        # Also a choice on the Charge screen ("c"): not drawn, so the footer fits 80 columns.
        Binding("k", "keyed", "Keyed card", show=False),
        Binding("a", "ach", "ACH", show=False),
        Binding("r", "refund", "Refund"),
        Binding("v", "void", "Void"),
        Binding("l", "links", "Pay by link", show=False),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, invoice_id: int, number: str = "") -> None:
        super().__init__()
        self.invoice_id = invoice_id
        self.number = number
        self.detail: Any = None
        self.transactions: list[Any] = []
        self._unsubscribe: Any = None
        #: What a partial approval left to pay: offered as the next charge.
        self.rest: Money | None = None
        self._shown_refs: list[str] = []

    def body(self) -> ComposeResult:
        with Vertical(id="invoice-body"):
            yield Static(f"Opening invoice {self.number}…", id="invoice-head", markup=False)
            yield Static("", id="invoice-totals", markup=False)
            yield Static("", id="invoice-next", markup=False)
            yield ProblemPanel(id="invoice-problem")
            with TabbedContent(id="invoice-tabs", initial="tab-ours"):
                with TabPane("Our transactions", id="tab-ours"):
                    yield DataTable(id="ours", cursor_type="row")
                    yield Static("", id="ours-detail", markup=False)
                with TabPane("Payments applied", id="tab-payments"):
                    pays: DataTable[str] = DataTable(id="payments", cursor_type="row")
                    pays.add_columns("Date", "Type", "Amount", "By", "Memo")
                    yield pays
                with TabPane("Items", id="tab-items"):
                    items: DataTable[str] = DataTable(id="items", cursor_type="row")
                    items.add_columns("Description", "Qty", "Price", "Total")
                    yield items

    def on_mount(self) -> None:
        self._show_next()
        self.wide = self.app.size.width >= 100
        ours = self.query_one("#ours", DataTable)
        ours.add_columns(*(["Ref"] if self.wide else []), "What", "Amount", "Card", "State")
        self.reload()
        # A payment taken here posts to ServiceTitan in the background: when one of ours lands
        # (or gets stuck), show the new balance and state instead of "posting…" forever.
        reconcile = self.services.reconcile
        self._unsubscribe = (
            reconcile.subscribe(lambda e: self.call_later(self._posting_moved, e))
            if reconcile is not None
            else None
        )

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _posting_moved(self, event: Any) -> None:
        if event.kind not in _SETTLED_POSTINGS or not self.is_current:
            return  # a screen coming back reloads anyway (on_screen_resume)
        ours = {t.ecr_ref for t in self.transactions}
        if event.transaction_ref in ours or event.invoice_number == self.number:
            self.reload()

    def on_screen_resume(self) -> None:
        if self.detail is not None:
            self.reload()

    def offer_rest(self, amount: Money | None) -> None:
        """After a partial approval: offer the rest as the next charge (``c``)."""
        self.rest = amount if amount is not None and amount.cents > 0 else None
        if self.is_mounted:
            self._show_next()

    def _show_next(self) -> None:
        """The next step after a partial approval; otherwise the two ways to pay that the
        80-column footer has no room for (k, a)."""
        line = self.query_one("#invoice-next", Static)
        rest = self._rest_now()
        line.set_class(rest is not None, "-next")
        if rest is not None:
            line.display = True
            line.update(f"Next step: charge the remaining {rest.format()} — press c.")
            return
        can_pay = self.detail is not None and self.detail.balance.cents > 0
        also = [
            words
            for method, words in (
                ("keyed", "k card typed on the terminal"),
                ("ach", "a bank account (ACH)"),
            )
            if self._offers(method)
        ]
        line.display = can_pay and bool(also)
        line.update("Also: " + " · ".join(also))

    def _rest_now(self) -> Money | None:
        """The rest still to offer: never more than the balance as it stands now."""
        if self.rest is None or self.detail is None:
            return self.rest
        if self.detail.balance.cents <= 0:
            return None
        return min(self.rest, self.detail.balance)

    def reload(self) -> None:
        self.load()

    @work(exclusive=True, group="invoice-load", exit_on_error=False)
    async def load(self) -> None:
        problem = self.query_one("#invoice-problem", ProblemPanel)
        try:
            detail = await self.services.lookup.open(self.invoice_id)
        except Exception as exc:
            p = explain(exc)
            problem.show(p.title, p.fix)
            self.query_one("#invoice-head", Static).update(
                f"Invoice {self.number}: could not be opened."
            )
            return
        try:
            txns = await self.services.payments.transactions_for_invoice(str(self.invoice_id))
        except Exception as exc:
            p = explain(exc)
            problem.show(p.title, p.fix)
            txns = []
        else:
            problem.clear()
        self.detail = detail
        self.transactions = sorted(txns, key=lambda t: t.created_at, reverse=True)
        self._show_detail()
        self.refresh_bindings()

    def _show_detail(self) -> None:
        d = self.detail
        phone = d.phones[0] if d.phones else "no phone"
        adj = f" · adjustment to {d.adjustment_to_id}" if d.adjustment_to_id else ""
        self.query_one("#invoice-head", Static).update(
            clean(
                f"Invoice {d.number} · Job {d.job_number or '—'} · API id {d.id}{adj}\n"
                f"{d.customer_name} · {phone}\n{d.address or 'no address on file'}"
            )
        )
        balance_words = (
            "PAID IN FULL"
            if d.balance.cents == 0
            else ("CREDIT" if d.balance.cents < 0 else f"Balance due {d.balance.format()}")
        )
        self.query_one("#invoice-totals", Static).update(
            f"Subtotal {d.sub_total.format()} · Tax {d.tax.format()} · Total {d.total.format()}"
            f" · {balance_words}"
        )
        ours = self.query_one("#ours", DataTable)
        keep = ours.cursor_row if ours.row_count else -1
        kept = self._shown_refs[keep] if 0 <= keep < len(self._shown_refs) else None
        ours.clear()
        before = self._shown_refs
        self._shown_refs = [t.ecr_ref for t in self.transactions]
        for t in self.transactions:
            kind = value_of(t.kind)
            tender = value_of(t.tender)
            what = kind if tender == "card" else f"{kind}, {TENDER_WORDS.get(tender, tender)}"
            amount = t.approved if t.is_approved else t.amount
            row = [
                what,
                amount.format(),
                f"{t.brand} ••••{t.last4}" if t.last4 else "—",
                STATE_WORDS.get(value_of(t.state), value_of(t.state)),
            ]
            ours.add_row(*cells(*([t.ecr_ref] if self.wide else []), *row), key=t.ecr_ref)
        # A reload keeps the clerk on the same transaction; a new one (just taken) comes first
        # and is where the cursor goes.
        if kept in self._shown_refs and set(self._shown_refs) <= set(before):
            ours.move_cursor(row=self._shown_refs.index(kept))
        self._describe_transaction()
        self._show_next()
        pays = self.query_one("#payments", DataTable)
        pays.clear()
        for p in d.payments:
            pays.add_row(
                *cells(
                    p.paid_on.strftime("%m/%d/%y") if p.paid_on else "—",
                    p.type_name,
                    p.amount.format(),
                    "this app" if p.ours else "other",
                    (p.memo or "")[:30] + ("" if p.active else " (inactive)"),
                )
            )
        items = self.query_one("#items", DataTable)
        items.clear()
        for item in d.items:
            items.add_row(
                *cells(
                    clean(item.description)[:40],
                    item.quantity,
                    item.price.format(),
                    item.total.format(),
                )
            )

    # -- what can be done -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows what can be done now: no charge on a paid invoice, no refund or void
        before we have taken a payment on it."""
        if action in ("card_on_file", "keyed", "ach") and not self._offers(action):
            return False  # the terminal's protocol cannot take it: not offered at all
        if action == "card_on_file":
            return self.detail is not None
        if action in ("charge", "deposit", "keyed", "ach"):
            return self.detail is not None and self.detail.balance.cents > 0
        if action in ("refund", "void"):
            if self.detail is None or not self.transactions:
                return False
            return None if self.why_disabled(action) else True
        return True

    def _offers(self, method: str) -> bool:
        """What the terminal's protocol can take (its capability flags, through the service)."""
        payments = self.services.payments
        return payments is None or payments.offers(method)

    def why_disabled(self, action: str) -> str:
        """Why a refund or void of the highlighted transaction cannot be done: said before
        anyone is asked for a reason, a PIN or a confirmation ("" when it can)."""
        if action not in ("refund", "void"):
            return ""
        txn = self._selected_transaction()
        if txn is None:
            return "Pick one of our transactions first (↑↓ in “Our transactions”)."
        return money_back_refusal(action, txn, self.transactions)

    def _selected_transaction(self) -> Any | None:
        table = self.query_one("#ours", DataTable)
        if not self.transactions or table.cursor_row < 0:
            return None
        if table.cursor_row >= len(self.transactions):
            return None
        return self.transactions[table.cursor_row]

    def _pay(self, method: str, amount: Money | None = None) -> None:
        from posplus_tui.ui.screens.charge import ChargeScreen

        if self.detail is None or self.detail.balance.cents <= 0:
            self.query_one("#invoice-problem", ProblemPanel).show(
                "There is nothing left to pay on this invoice.",
                "Check the invoice number with the customer.",
                warning=True,
            )
            return
        self.app.push_screen(ChargeScreen(self.detail, method=method, amount=amount))

    def action_charge(self) -> None:
        """The balance; after a partial approval, the rest of what was asked."""
        rest = self._rest_now()
        self.rest = None
        self._show_next()
        self._pay("card", amount=rest)

    def action_deposit(self) -> None:
        self._pay("deposit")

    def action_card_on_file(self) -> None:
        from posplus_tui.ui.screens.cards import CardsScreen

        if self.detail is not None:
            self.app.push_screen(CardsScreen(self.detail))

    def action_keyed(self) -> None:
        self._pay("keyed")

    def action_ach(self) -> None:
        self._pay("ach")

    def _money_back(self, mode: str) -> None:
        from posplus_tui.ui.screens.refund import RefundScreen

        txn = self._selected_transaction()
        problem = self.query_one("#invoice-problem", ProblemPanel)
        self.query_one("#invoice-tabs", TabbedContent).active = "tab-ours"
        why = self.why_disabled(mode)
        if txn is None or why:
            problem.show(
                why, "Pick another payment from the list, or refund instead.", warning=True
            )
            return
        problem.clear()
        self.app.push_screen(RefundScreen(self.detail, txn, mode=mode))

    def action_refund(self) -> None:
        self._money_back("refund")

    def action_void(self) -> None:
        self._money_back("void")

    def action_links(self) -> None:
        from posplus_tui.ui.screens.links import LinksScreen

        if self.detail is None:
            return
        why_not = self.services.links_why_not()
        if why_not:
            self.query_one("#invoice-problem", ProblemPanel).show(
                why_not, "Meanwhile, charge it at the terminal (c)."
            )
            return
        self.app.push_screen(LinksScreen(self.detail))

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(DataTable.RowHighlighted, "#ours")
    def _describe_transaction(self) -> None:
        self.refresh_bindings()  # refund / void follow the highlighted transaction
        txn = self._selected_transaction()
        detail = self.query_one("#ours-detail", Static)
        if txn is None:
            detail.update("No payments taken here yet." if not self.transactions else "")
            return
        auth = f" · auth {txn.auth_code}" if txn.auth_code else ""
        note = f" · {txn.message}" if txn.message and not txn.is_approved else ""
        detail.update(clean(f"Ref {txn.ecr_ref}{auth}{note}"))

    @on(TabbedContent.TabActivated)
    def _tab(self) -> None:
        self.refresh_bindings()


__all__ = ["STATE_WORDS", "InvoiceScreen", "Money", "facts_of"]
