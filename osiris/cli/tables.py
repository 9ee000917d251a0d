"""The listing commands' borderless tables, drawn without rich's Table when every cell fits.

rich's `Table` measures, wraps and pads every cell through several renderables, which costs
`osiris runs list` about as much as the rest of the command (~30 ms for 20 runs, plus
importing `rich.table`). A listing almost always fits the terminal: `ColumnsTable` then
yields, segment for segment, what that `Table` would print (`tests/cli/test_tables.py`
compares the two), and hands anything else (a column to wrap, a control character, an
ASCII-only terminal) to the `Table` itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.style import Style
    from rich.table import Table

# The rich Table the direct drawing reproduces: box.SIMPLE_HEAD, no edge, padding (0, 1).
_GAP = 3  # right padding, the box's blank vertical, left padding
_RULE = "─"  # SIMPLE_HEAD's head row (its horizontal and its cross)


class ColumnsTable:
    """A borderless table of plain-text cells: a header, a rule, one line per row.

    `styles[c][r]` is the style of row r's cell in column c ("" for none); `ids` are
    the columns that are never wrapped nor cut (each at least as wide as its widest cell).
    """

    def __init__(
        self,
        headers: Sequence[str],
        cells: Sequence[Sequence[str]],
        styles: Sequence[Sequence[str]],
        ids: Iterable[str] = (),
    ) -> None:
        self.headers = list(headers)
        self.cells = [list(column) for column in cells]
        self.styles = [list(column) for column in styles]
        self.ids = set(ids)

    def rich_table(self) -> Table:
        """The same table as a rich `Table`, which wraps and folds cells that do not fit."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for header, cells in zip(self.headers, self.cells, strict=True):
            if header in self.ids:
                widest = max(map(len, [header, *cells]))
                table.add_column(Text(header), no_wrap=True, overflow="fold", min_width=widest)
            else:
                table.add_column(Text(header), overflow="fold")
        for texts, styles in zip(
            zip(*self.cells, strict=True), zip(*self.styles, strict=True), strict=True
        ):
            table.add_row(*(Text(t, style=s) for t, s in zip(texts, styles, strict=True)))
        return table

    def _widths(self) -> list[int] | None:
        """Each column's width (without padding) as rich's Table measures a column that fits;
        None when a cell is not a single line of printable text."""
        from rich.cells import cell_len

        widths = []
        for header, cells in zip(self.headers, self.cells, strict=True):
            texts = [header, *cells]
            if not all(text.isprintable() for text in texts):
                return None  # tabs, newlines, control codes: rich's Text handles them
            width = max(map(cell_len, texts))
            if header in self.ids:
                width = max(width, *map(len, texts))  # the column's min_width
            widths.append(width)
        return widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        widths = self._widths() if self.headers else None
        if widths is None or not _fits(widths, options):
            yield self.rich_table()
        else:
            yield from self._segments(console, widths)

    def _segments(self, console: Console, widths: list[int]) -> RenderResult:
        from rich.cells import cell_len
        from rich.segment import Segment

        get_style = console.get_style
        header_style = get_style("table.header") + get_style("")
        # A data cell's padding keeps its Padding's style; the divider takes the border's.
        pad_style = get_style("none")
        border_style = get_style("none") + get_style("")
        divider = Segment(" ", border_style)
        new_line = Segment.line()
        last = len(widths) - 1

        def row(texts: Sequence[str], styles: Sequence[Style | None], pad: Segment) -> RenderResult:
            for index, (text, style, width) in enumerate(zip(texts, styles, widths, strict=True)):
                if index:
                    yield pad
                yield Segment(text + " " * (width - cell_len(text)), style)
                if index < last:
                    yield pad
                    yield divider
            yield new_line

        header_pad = Segment(" ", header_style)
        yield from row(self.headers, [header_style] * len(widths), header_pad)
        yield Segment(_RULE * (sum(widths) + _GAP * last), border_style)
        yield new_line
        data_pad = Segment(" ", pad_style)
        cached: dict[str, Style | None] = {"": None}  # rich gives an unstyled Text no style
        for index in range(len(self.cells[0])):
            texts = [column[index] for column in self.cells]
            styles = []
            for column in self.styles:
                name = column[index]
                if name not in cached:
                    cached[name] = get_style(name)
                styles.append(cached[name])
            yield from row(texts, styles, data_pad)


def _fits(widths: list[int], options: ConsoleOptions) -> bool:
    """True when rich's Table would give every column its widest cell, in the same box."""
    return (
        min(widths) > 0
        and sum(widths) + _GAP * (len(widths) - 1) <= options.max_width
        and not options.ascii_only  # rich would draw the rule in ASCII
        and not options.legacy_windows  # and substitute the box
    )
