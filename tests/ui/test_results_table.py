"""Lookup's results table draws plain cells directly; it must look exactly as the stock path."""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from posplus_tui.ui.results_table import ResultsTable

ROWS = [
    ("40336", "40336", "Maria Garcia", "03/02/26", "$1,250.00", "$0.00", "paid"),
    ("INV-812138", "—", "acme property mgmt #1", "11/12/25", "$99.00", "$99.00", "open"),
    ("7", "", "Smith [old acct]", "", "$0.01", "-$5.00", "credit (adj.)"),
]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ResultsTable(id="t", cursor_type="row", zebra_stripes=True)


def per_character(lines: list) -> list[list[tuple[str, object]]]:
    return [[(ch, seg.style) for seg in line for ch in seg.text] for line in lines]


async def test_plain_cells_render_as_the_stock_data_table_does(monkeypatch) -> None:
    app = TableApp()
    async with app.run_test(size=(120, 10)) as pilot:
        table = app.query_one(ResultsTable)
        for label in ("Invoice", "Job", "Customer", "Date", "Total", "Balance", "Status"):
            table.add_column(label, key=label)
        table.add_rows([[Text(c, end="") for c in row] for row in ROWS])
        await pilot.pause()
        await pilot.pause()
        base = table.rich_style
        stock_path = DataTable._render_cell
        stock_calls: list[int] = []

        def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
            stock_calls.append(1)
            return stock_path(*args, **kwargs)

        checked = 0
        for row in range(len(ROWS)):
            for col in range(len(table.columns)):
                width = table.ordered_columns[col].get_render_width(table)
                for cursor, hover in ((False, False), (True, False), (False, True)):
                    monkeypatch.setattr(DataTable, "_render_cell", counted)
                    ours = table._render_cell(row, col, base, width, cursor, hover)
                    monkeypatch.setattr(DataTable, "_render_cell", stock_path)
                    table._cell_render_cache.clear()
                    stock = stock_path(table, row, col, base, width, cursor, hover)
                    table._cell_render_cache.clear()
                    assert per_character(ours) == per_character(stock), (row, col, cursor)
                    checked += 1
        assert checked == len(ROWS) * 7 * 3
        assert not stock_calls  # every body cell took the direct path


async def test_replace_rows_sizes_the_table_at_once() -> None:
    """``replace_rows`` sizes the table when it fills it (DataTable waits for the next idle
    moment); it leans on DataTable internals, so a Textual upgrade that moves them fails here."""
    app = TableApp()
    async with app.run_test(size=(120, 10)) as pilot:
        table = app.query_one(ResultsTable)
        for label in ("Invoice", "Job", "Customer", "Date", "Total", "Balance", "Status"):
            table.add_column(label, key=label)
        await pilot.pause()
        table.replace_rows([[Text(c, end="") for c in row] for row in ROWS])
        # No pause: the size is already right, before any idle message is processed.
        assert table.row_count == len(ROWS)
        assert table.virtual_size.height == table.header_height + len(ROWS)
        widest = max(len(row[2]) for row in ROWS)
        assert table.columns["Customer"].content_width == widest
        table.replace_rows([[Text(c, end="") for c in ROWS[0]]])
        assert table.virtual_size.height == table.header_height + 1
        # the columns fit the rows shown now, not the widest ever shown
        assert table.columns["Customer"].content_width == len(ROWS[0][2])


def test_the_private_textual_api_it_leans_on_is_still_there() -> None:
    """A Textual upgrade that renames or reshapes any private member ``results_table.py`` uses
    fails here, by name, before a clerk sees a broken table."""
    import inspect

    from posplus_tui.ui.results_table import PRIVATE_API

    table = ResultsTable()
    missing = [name for name, _ in PRIVATE_API if not hasattr(table, name)]
    assert missing == [], f"Textual's DataTable lost {missing}: revisit ui/results_table.py"
    render = inspect.signature(DataTable._render_cell)
    assert list(render.parameters) == [
        "self", "row_index", "column_index", "base_style", "width", "cursor", "hover",
    ]  # fmt: skip
    styles = inspect.signature(DataTable._get_styles_to_render_cell)
    assert len(styles.parameters) == 10  # self and nine flags
    assert list(inspect.signature(DataTable._update_dimensions).parameters) == [
        "self",
        "new_rows",
    ]
    assert isinstance(table._update_count, int)
    assert isinstance(table._require_update_dimensions, bool)
    assert isinstance(table._new_rows, set)
    for name, _ in PRIVATE_API:  # nothing private outside that list
        assert name.startswith("_")
    source = inspect.getsource(__import__("posplus_tui.ui.results_table", fromlist=["x"]))
    used = set(re.findall(r"(?:self|super\(\))\.(_[a-z]\w*)", source))
    assert used <= {name for name, _ in PRIVATE_API}, used - {n for n, _ in PRIVATE_API}
