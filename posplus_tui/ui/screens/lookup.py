"""Lookup (home): one search box, results as you type from the local index, nothing auto-picked."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from posplus_tui.ui.errors import explain
from posplus_tui.ui.literal import clean
from posplus_tui.ui.results_table import ResultsTable
from posplus_tui.ui.screens.base import HomeScreen
from posplus_tui.ui.widgets import FieldMessage

#: Below this width the API id moves from the table to the line under it.
WIDE = 100
#: Rows put in the table: more than a clerk can scan; the message asks to type more.
SHOWN = 40


def status_words(summary: Any) -> str:
    """An invoice's state in words (never colour alone)."""
    balance, total = summary.balance.cents, summary.total.cents
    if balance == 0:
        words = "paid"
    elif balance < 0:
        words = "credit"
    elif balance < total:
        words = "part paid"
    else:
        words = "open"
    return f"{words} (adj.)" if getattr(summary, "is_adjustment", False) else words


def short_date(iso: str) -> str:
    """``2026-03-02`` → ``03/02/26`` (fits 80 columns)."""
    if len(iso) >= 10 and iso[4] == "-":
        return f"{iso[5:7]}/{iso[8:10]}/{iso[2:4]}"
    return iso


class LookupScreen(HomeScreen[None]):
    """Find the invoice the customer wants to pay."""

    CSS_PATH = "lookup.tcss"
    AREA = "Lookup"
    OWN_AREA = "go_lookup"
    PURPOSE = (
        "Type an invoice number, job number, customer name, phone or API id: matches from the "
        "local copy appear as you type. Enter also asks ServiceTitan. When several invoices "
        "match, all are listed — pick the right one with the arrows and Enter."
    )
    BINDINGS = [
        Binding("enter", "open_invoice", "Open invoice", show=False),
        Binding("ctrl+f", "focus_search", "Search", show=False),
        # A priority binding, so the focus moves before the next key is routed: "↓⏎" typed in
        # one burst opens the highlighted invoice instead of searching again.
        Binding("down", "to_results", "Results", show=False, priority=True),
    ]

    def body(self) -> ComposeResult:
        with Vertical(id="lookup-body"):
            yield Input(
                id="search",
                placeholder="invoice no., job no., customer, phone or API id",
            )
            yield FieldMessage(id="lookup-message")
            table = ResultsTable(id="results", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static("", id="lookup-detail", markup=False)

    def on_mount(self) -> None:
        self.results: list[Any] = []
        self.shown_for = ""
        #: (invoice id, cells) of the rows in the table, to leave an unchanged table alone.
        self._rows_shown: list[tuple[int, tuple[str, ...]]] = []
        self.wide = self.app.size.width >= WIDE
        table = self.query_one("#results", DataTable)
        cols = ["Invoice", "Job"] + (["API id"] if self.wide else [])
        cols += ["Customer", "Date", "Total", "Balance", "Status"]
        for col in cols:
            table.add_column(col, key=col)
        self.query_one("#search", Input).focus()
        self._say_hint()
        # Balances move when a payment posts: a list on screen follows (its own clerk's
        # payments, and other stations' through the reconcile worker).
        reconcile = self.services.reconcile
        self._unsubscribe = (
            reconcile.subscribe(lambda _e: self.call_later(self._money_moved))
            if reconcile is not None
            else None
        )

    def on_unmount(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def on_screen_resume(self) -> None:
        """Back from an invoice or an area: the hands go to the search box, which still says
        what was typed (selected, so typing starts a new search), and the list shows the
        balances as they are now. (PosScreen's own resume handler runs too.)"""
        search = self.query_one("#search", Input)
        self.set_focus(search)
        search.select_all()
        self._money_moved()

    def _money_moved(self) -> None:
        text = self._current()
        if text and self.is_current:
            self.search_local(text)

    def on_key(self, event: events.Key) -> None:
        """A letter or digit typed while the results have the focus goes to the search box
        (where the clerk meant it), instead of nowhere."""
        search = self.query_one("#search", Input)
        if self.focused is search or not event.is_printable or event.character is None:
            return
        event.stop()
        event.prevent_default()
        # Focusing selects the old text; the key, queued behind the focus, then replaces it
        # (a new search, as after Ctrl+F), and the keys after it follow in order.
        self.set_focus(search)
        search.post_message(events.Key(event.key, event.character))

    def _say_hint(self) -> None:
        self.query_one("#lookup-message", FieldMessage).hint(
            "Start typing. Enter searches ServiceTitan too; ↓ goes to the results."
        )

    # -- searching -------------------------------------------------------------------------------

    @on(Input.Changed, "#search")
    def _typed(self, event: Input.Changed) -> None:
        text = event.value.strip()
        if not text:
            self._show([], "")
            self._say_hint()
            return
        self.search_local(text)

    @work(exclusive=True, group="lookup", exit_on_error=False)
    async def search_local(self, text: str) -> None:
        """Results as you type: the local index only (fast); stale answers are dropped."""
        try:
            found = await self.services.lookup_local.search(text, limit=SHOWN)
        except Exception as exc:
            if self._current() == text:
                self._show([], text)
                problem = explain(exc)
                self.query_one("#lookup-message", FieldMessage).error(
                    f"{problem.title} {problem.fix}"
                )
            return
        if self._current() == text:
            self._show(found, text, local=True)

    @on(Input.Submitted, "#search")
    def _submitted(self) -> None:
        text = self._current()
        if text:
            self.query_one("#lookup-message", FieldMessage).hint(
                f"Searching ServiceTitan for “{text}”…"
            )
            self.search_everywhere(text)

    @work(exclusive=True, group="lookup", exit_on_error=False)
    async def search_everywhere(self, text: str) -> None:
        """Enter: the index, then ServiceTitan for anything the index does not have."""
        try:
            found = await self.services.lookup.search(text)
        except Exception as exc:
            problem = explain(exc)
            self.query_one("#lookup-message", FieldMessage).error(f"{problem.title} {problem.fix}")
            return
        if self._current() != text:
            return
        self._show(found, text)
        if len(found) == 1:
            self._open(found[0])
        elif found:
            self.query_one("#results", DataTable).focus()

    def _current(self) -> str:
        return self.query_one("#search", Input).value.strip()

    def _show(self, found: list[Any], text: str, *, local: bool = False) -> None:
        self.results = found
        #: The search text the table now answers (opening refuses an older list; tests and
        #: benchmarks/ui.py read it from outside).
        self.shown_for = text
        table = self.query_one("#results", ResultsTable)
        rows = [self._row(s) for s in found[:SHOWN]]
        # The same rows for the same invoices (the next letter of a name often changes nothing
        # in the first rows): keep the table, and the row the clerk is on, as they are.
        shown = [(s.id, row) for s, row in zip(found, rows, strict=False)]
        if shown != self._rows_shown:
            self._rows_shown = shown
            table.replace_rows([[Text(clean(cell), end="") for cell in row] for row in rows])
        message = self.query_one("#lookup-message", FieldMessage)
        if not text:
            return
        if not found:
            where = "in the local copy" if local else "here or in ServiceTitan"
            more = " Press Enter to ask ServiceTitan." if local else ""
            message.error(f"No invoice matches “{text}” {where}.{more}")
        elif len(found) == 1:
            message.ok(f"1 invoice matches “{text}”. Enter opens it.")
        else:
            by_number = [s for s in found if s.matched_by in ("number", "job", "id")]
            if len(by_number) > 1:
                message.error(
                    f"{len(by_number)} invoices have the number “{text}” (numbers can "
                    "repeat). Check the customer and date, then pick one with ↑↓ and Enter. "
                    "Nothing is chosen for you."
                )
            elif len(found) > SHOWN:
                message.ok(
                    f"More than {SHOWN} invoices match “{text}”: the best {SHOWN} are listed "
                    "(open balances first, then the newest). "
                    "Type more of the name or number to narrow them."
                )
            else:
                message.ok(f"{len(found)} invoices match “{text}”. Pick one with ↑↓ and Enter.")
        self._describe_highlighted()

    def _row(self, s: Any) -> tuple[str, ...]:
        row = [s.number, s.job_number or "—"]
        if self.wide:
            row.append(str(s.id))
        row += [
            s.customer_name[:22],
            short_date(s.invoice_date),
            s.total.format(),
            s.balance.format(),
            status_words(s),
        ]
        return tuple(row)

    @on(DataTable.RowHighlighted, "#results")
    def _describe_highlighted(self) -> None:
        detail = self.query_one("#lookup-detail", Static)
        s = self._highlighted()
        if s is None:
            detail.update("")
            return
        detail.update(
            clean(
                f"Invoice {s.number} · API id {s.id} · {s.customer_name} · "
                f"{s.address or 'no address'}"
            )
        )

    def _highlighted(self) -> Any | None:
        table = self.query_one("#results", DataTable)
        if not self.results or table.row_count == 0:
            return None
        row = table.cursor_row
        if 0 <= row < len(self.results):
            return self.results[row]
        return None

    # -- opening -------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#results")
    def action_open_invoice(self) -> None:
        s = self._highlighted()
        text = self._current()
        if s is not None and text and self.shown_for != text:
            # The list still answers an older search: never open from it.
            self.query_one("#lookup-message", FieldMessage).error(
                f"The list is still for “{self.shown_for}”. Press Enter in the search box to "
                f"search for “{text}”."
            )
            self.action_focus_search()
            return
        if s is None:
            self.query_one("#lookup-message", FieldMessage).error(
                "Pick an invoice first: type in the search box, then ↓ and Enter."
            )
            return
        self._open(s)

    def _open(self, summary: Any) -> None:
        from posplus_tui.ui.screens.invoice import InvoiceScreen

        self.app.push_screen(InvoiceScreen(summary.id, summary.number))

    def action_focus_search(self) -> None:
        """Ctrl+F: back to the search box with its text selected, so typing starts over."""
        search = self.query_one("#search", Input)
        self.set_focus(search)
        search.select_all()

    def action_to_results(self) -> None:
        """↓ from the search box goes to the results; anywhere else it is an ordinary ↓."""
        if self.focused is not self.query_one("#search", Input) or not self.results:
            raise SkipAction()
        self.set_focus(self.query_one("#results", DataTable))
