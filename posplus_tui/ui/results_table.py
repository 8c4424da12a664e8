"""Lookup's results table: a DataTable that redraws fast, every key a clerk types.

The one module that touches Textual's private DataTable API (``_render_cell`` and the caches and
locations it reads, ``_update_dimensions``). Everything private it uses is listed in
:data:`PRIVATE_API`; ``tests/ui/test_results_table.py`` fails when Textual renames or reshapes any
of it, and checks the output is the stock output, segment for segment.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable

#: The private DataTable members used here: (name, what it must be).
PRIVATE_API: tuple[tuple[str, str], ...] = (
    ("_render_cell", "method(row_index, column_index, base_style, width, cursor, hover)"),
    ("_get_styles_to_render_cell", "method of 9 arguments"),
    ("_row_locations", "TwoWayDict of row keys"),
    ("_column_locations", "TwoWayDict of column keys"),
    ("_data", "dict of row key → column key → cell"),
    ("_cell_render_cache", "LRU cache keyed by tuples"),
    ("_update_count", "int"),
    ("_pseudo_class_state", "attribute of the widget"),
    ("_show_hover_cursor", "bool"),
    ("_require_update_dimensions", "bool"),
    ("_new_rows", "set of new row keys"),
    ("_update_dimensions", "method(new_rows)"),
)


class ResultsTable(DataTable[Text]):
    """The results: a DataTable that draws its plain one-line cells directly.

    Every letter typed can replace the whole table, and the stock cell path (a Rich render of
    padding around text, about 40 µs a cell) is most of the time a repaint takes. For a plain
    ``Text`` cell in a one-line row the same segments are built here; anything else (the header,
    styled text, a cell wider than its column) takes the stock path. The output is the same
    segment for segment (``tests/ui/test_results_table.py``)."""

    def replace_rows(self, rows: list[list[Text]]) -> None:
        """Clear and fill in one go, and size the table now rather than at the next idle
        moment (DataTable's default), so the very next frame shows the new rows instead of
        one frame with the old size and another with the new.

        The columns are made again, so their widths fit these rows: DataTable widens a column
        for every cell it is given and never narrows it, and one broad search ("s") would
        leave every later list spread out."""
        columns = [(column.label, column.key) for column in self.ordered_columns]
        self.clear(columns=True)
        for label, key in columns:
            self.add_column(label, key=key.value)
        self.add_rows(rows)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        stock = super()._render_cell
        if row_index < self.fixed_rows or column_index < self.fixed_columns:
            return stock(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return stock(row_index, column_index, base_style, width, cursor, hover)
        row = self.rows.get(row_key)
        cell = self._data.get(row_key, {}).get(column_key)
        pad = self.cell_padding
        inner = width - 2 * pad
        if (
            row is None
            or row.height != 1
            or type(cell) is not Text
            or cell.spans
            or cell.style
            or "\n" in cell.plain
            or cell_len(cell.plain) > inner
        ):
            return stock(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        lines = self._cell_render_cache.get(key)
        if lines is None:
            component_style, post_style = self._get_styles_to_render_cell(
                False,
                False,
                False,
                hover,
                cursor,
                self.show_cursor,
                self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css",
            )
            meta = Style.from_meta({"row": row_index, "column": column_index})
            style = base_style + meta + component_style + post_style
            text = cell.plain
            line = [Segment(" " * pad, style)] if pad else []
            if text:
                line.append(Segment(text, style))
            fill = inner - cell_len(text)
            if fill:
                line.append(Segment(" " * fill, style))
            if pad:
                line.append(Segment(" " * pad, style))
            lines = [line]
            self._cell_render_cache[key] = lines
        return lines
