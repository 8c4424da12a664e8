"""Card on file: the customer's saved cards; charge one, or revoke one."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from posplus_tui.ui.errors import explain
from posplus_tui.ui.literal import cells, clean
from posplus_tui.ui.modals import Confirm
from posplus_tui.ui.screens.base import PosScreen
from posplus_tui.ui.widgets import FieldMessage, ProblemPanel


def expiry_words(expiry: str) -> str:
    return f"{expiry[:2]}/{expiry[2:]}" if len(expiry) == 4 else "—"


class CardsScreen(PosScreen[None]):
    """Saved cards of the invoice's customer (brand, last 4 and expiry only: never a number)."""

    CSS_PATH = "cards.tcss"
    AREA = "Card on file"
    PURPOSE = (
        "The customer's saved cards. Charge the invoice to one of them (no card present), or "
        "revoke a card the customer no longer wants kept. Only the brand, the last 4 digits and "
        "the expiry are shown; the terminal keeps the card itself."
    )
    BINDINGS = [
        Binding("c", "charge", "Charge this card"),
        Binding("x", "revoke", "Revoke card"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, detail: Any) -> None:
        super().__init__()
        self.detail = detail
        self.cards: list[Any] = []

    def body(self) -> ComposeResult:
        d = self.detail
        with Vertical(id="cards-body"):
            yield Static(
                clean(
                    f"Saved cards · {d.customer_name} · invoice {d.number} · "
                    f"balance {d.balance.format()}"
                ),
                id="cards-head",
                markup=False,
            )
            table: DataTable[str] = DataTable(id="cards", cursor_type="row")
            table.add_columns("Card", "Expires", "Saved", "State")
            yield table
            yield FieldMessage(id="cards-message")
            yield ProblemPanel(id="cards-problem")

    def on_mount(self) -> None:
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    @work(exclusive=True, group="cards", exit_on_error=False)
    async def load(self) -> None:
        try:
            cards = await self.services.payments.list_cards(str(self.detail.customer_id or ""))
        except Exception as exc:
            p = explain(exc)
            self.query_one("#cards-problem", ProblemPanel).show(p.title, p.fix)
            return
        self.cards = [c for c in cards if not c.revoked]
        table = self.query_one("#cards", DataTable)
        table.clear()
        for c in self.cards:
            table.add_row(
                *cells(
                    f"{c.brand or 'Card'} •••• {c.last4}",
                    expiry_words(c.expiry),
                    c.created_at.strftime("%m/%d/%y"),
                    "active",
                ),
                key=str(c.id),
            )
        message = self.query_one("#cards-message", FieldMessage)
        if not self.cards:
            message.hint(
                "No saved cards for this customer. Tick “Save card for next time” when charging "
                "a card at the terminal to keep one."
            )
        else:
            message.hint("c charges the highlighted card; x revokes it.")
        table.focus()
        self.refresh_bindings()

    def _selected(self) -> Any | None:
        table = self.query_one("#cards", DataTable)
        if not self.cards or not 0 <= table.cursor_row < len(self.cards):
            return None
        return self.cards[table.cursor_row]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("charge", "revoke"):
            return True if self.cards else None
        return True

    def action_charge(self) -> None:
        from posplus_tui.ui.screens.charge import ChargeScreen

        card = self._selected()
        if card is None:
            return
        if self.detail.balance.cents <= 0:
            self.query_one("#cards-problem", ProblemPanel).show(
                "There is nothing left to pay on this invoice.", "Go back and check the invoice."
            )
            return
        self.app.push_screen(ChargeScreen(self.detail, method="card_on_file", card_id=card.id))

    def action_revoke(self) -> None:
        card = self._selected()
        if card is not None:
            self.revoke(card)

    @work(exclusive=True, group="cards-revoke", exit_on_error=False)
    async def revoke(self, card: Any) -> None:
        label = f"{card.brand or 'Card'} •••• {card.last4}"
        if not await self.app.push_screen_wait(
            Confirm(
                f"Revoke {label}?",
                f"{label} (expires {expiry_words(card.expiry)}) will no longer be offered for "
                f"{self.detail.customer_name}. Payments already taken are not affected.",
                yes="Revoke",
            )
        ):
            return
        try:
            await self.services.payments.revoke_card(card.id, operator=self.pos_app.operator)
        except Exception as exc:
            p = explain(exc)
            self.query_one("#cards-problem", ProblemPanel).show(p.title, p.fix)
            return
        self.query_one("#cards-message", FieldMessage).ok(f"{label} revoked.")
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()
