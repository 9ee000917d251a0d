"""`ColumnsTable` prints exactly what rich's `Table` prints, drawing it directly when it fits."""

from __future__ import annotations

import io
import random

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.table import Table

from osiris.cli.runs import columns_table
from osiris.cli.tables import ColumnsTable

CONSOLES = {
    "piped": {},
    "truecolor": {"force_terminal": True, "color_system": "truecolor"},
    "standard": {"force_terminal": True, "color_system": "standard"},
    "256": {"force_terminal": True, "color_system": "256"},
    "no-color": {"force_terminal": True, "color_system": "truecolor", "no_color": True},
}
# Plain text of every width: wide (日, 😀), combining (U+0301), markup-like ([, :smile:).
PIECES = ["a", "Z", "0", "-", "_", " ", "é", "日", "→", "[b]", ":smile:", "\u0301", "😀"]
STATUSES = ["success", "failed", "unknown", "-", "", "running"]


def console(width: int, file: io.StringIO | None = None, **options: object) -> Console:
    return Console(
        file=file or io.StringIO(), width=width, soft_wrap=True, highlight=False, **options
    )


def printed(renderable: object, width: int, **options: object) -> str:
    out = console(width, **options)
    out.print(renderable)
    return out.file.getvalue()


def random_columns(rng: random.Random, pieces: list[str]) -> dict[str, list[str]]:
    rows = rng.randint(0, 8)
    names = rng.sample(
        ["run id", "pipeline", "status", "started", "tags", "path"], rng.randint(1, 6)
    )
    return {
        name: [
            rng.choice(STATUSES)
            if name == "status"
            else "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
            for _ in range(rows)
        ]
        for name in names
    }


def drawn_directly(table: ColumnsTable, width: int) -> bool:
    out = console(width)
    return not any(isinstance(r, Table) for r in table.__rich_console__(out, out.options))


@pytest.mark.parametrize("seed", range(2))
def test_the_direct_drawing_prints_what_the_rich_table_prints(seed: int) -> None:
    rng = random.Random(seed)
    direct = 0
    for _ in range(50):
        columns = random_columns(rng, PIECES)
        width = rng.choice([30, 60, 100, 200])
        ids = rng.choice([(), ("run id",), ("run id", "path")])
        table = columns_table(columns, width, optional=(), ids=ids)
        direct += drawn_directly(table, width)
        for name, options in CONSOLES.items():
            assert printed(table, width, **options) == printed(
                table.rich_table(), width, **options
            ), (name, width, columns)
    assert direct > 15  # many of them fit, so the direct drawing was compared


def test_a_fitting_table_is_drawn_directly_with_its_styles() -> None:
    table = columns_table(
        {"run id": ["r-1", "r-22"], "status": ["success", "weird"], "tags": ["a", ""]},
        80,
        optional=(),
    )
    assert drawn_directly(table, 80)
    out = console(80, force_terminal=True, color_system="standard")
    segments = list(out.render(table, out.options))
    assert Segment("success", out.get_style("green")) in segments
    assert Segment("weird  ", out.get_style("yellow")) in segments
    assert printed(table, 80).splitlines() == [
        "run id   status    tags",
        "───────────────────────",
        "r-1      success   a   ",
        "r-22     weird         ",
    ]


@pytest.mark.parametrize(
    ("columns", "width", "options"),
    [
        ({"run id": ["r-1"], "path": ["a/" * 40]}, 40, {}),  # too wide: rich wraps
        ({"run id": ["r-1"], "path": ["tab\there"]}, 80, {}),  # a tab
        ({"run id": ["r-1"], "path": ["two\nlines"]}, 80, {}),  # a newline
        ({"run id": ["r-1"], "path": ["bell\x07"]}, 80, {}),  # a control character
    ],
    ids=["too-wide", "tab", "newline", "control"],
)
def test_anything_else_is_left_to_the_rich_table(
    columns: dict[str, list[str]], width: int, options: dict[str, object]
) -> None:
    table = columns_table(columns, width, optional=())
    assert not drawn_directly(table, width)
    assert printed(table, width, **options) == printed(table.rich_table(), width, **options)


def test_an_ascii_terminal_gets_the_rich_tables_ascii_rule() -> None:
    class AsciiFile(io.StringIO):
        encoding = "ascii"

    table = columns_table({"run id": ["r-1"], "status": ["failed"]}, 80, optional=())
    out = console(80, file=AsciiFile())
    out.print(table)
    assert out.file.getvalue().splitlines()[1] == "-------+-------"


def test_run_ids_are_never_cut_even_when_nothing_fits() -> None:
    run_id = "run-000001_01J9Z8KQ8R0000000000000001"
    table = columns_table({"run id": [run_id], "pipeline": ["orders"]}, 30, optional=())
    assert run_id in printed(table, 30)
