"""Moving rows between DuckDB and a database in bounded batches, through Arrow.

An extractor appends batches of fetched rows to its step's table (`TableLoader`); a
writer reads its upstream table back as Arrow record batches (`record_batches`). Memory
stays at about one batch, whatever the row count.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from osiris.core.data_plane import arrow_exchange
from osiris.drivers.base import quote

_BATCH_VIEW = "__osiris_batch"


# A decimal column whose scale the loader reads from its values (as text).
DECIMAL_FROM_VALUES = "DECIMAL"


@dataclass(frozen=True)
class Column:
    """A result column: its name, the DuckDB type to store it as, and how it arrives
    (`arrow`: the Arrow type of the fetched values; None lets Arrow infer it)."""

    name: str
    duck_type: str
    arrow: pa.DataType | None = None

    @property
    def load_type(self) -> str:
        return "VARCHAR" if self.duck_type == DECIMAL_FROM_VALUES else self.duck_type


def unique_names(names: Sequence[str]) -> list[str]:
    """`names` with repeats suffixed (`id`, `id_1`): a query may select two `id` columns."""
    seen: dict[str, int] = {}
    result = []
    taken = {n.lower() for n in names}
    for name in names:
        key = name.lower()
        if key in seen:
            seen[key] += 1
            candidate = f"{name}_{seen[key]}"
            while candidate.lower() in taken:
                seen[key] += 1
                candidate = f"{name}_{seen[key]}"
            taken.add(candidate.lower())
            result.append(candidate)
        else:
            seen[key] = 0
            result.append(name)
    return result


class TableLoader:
    """Creates `table` with `columns` and appends row batches to it, cast to their types;
    `finish` gives decimal columns their type once every value is in."""

    def __init__(self, connection: Any, table: str, columns: Sequence[Column]) -> None:
        arrow_exchange()
        self.connection = connection
        self.table = table
        self.columns = list(columns)
        self.rows = 0
        body = ", ".join(f"{quote(c.name)} {c.load_type}" for c in self.columns)
        connection.execute(f"CREATE OR REPLACE TABLE {quote(table)} ({body})")
        casts = ", ".join(f"CAST({quote(c.name)} AS {c.load_type})" for c in self.columns)
        self._insert = f"INSERT INTO {quote(table)} SELECT {casts} FROM {_BATCH_VIEW}"

    def append(self, batch: pa.Table | pa.RecordBatch) -> None:
        """Append one batch (columns in order, as `rows_to_arrow` makes them)."""
        self.connection.register(_BATCH_VIEW, batch)
        try:
            self.connection.execute(self._insert)
        finally:
            self.connection.unregister(_BATCH_VIEW)
        self.rows += batch.num_rows

    def finish(self) -> None:
        """Type the decimal columns: DECIMAL(38, <their scale>), or DOUBLE past 38 digits."""
        for column in self.columns:
            if column.duck_type == DECIMAL_FROM_VALUES:
                self._type_decimal(quote(column.name))

    def _type_decimal(self, name: str) -> None:
        import duckdb

        (scale,) = self.connection.execute(
            f"SELECT COALESCE(MAX(LENGTH(SPLIT_PART({name}, '.', 2))), 0) FROM {quote(self.table)}"
        ).fetchone()
        alter = f"ALTER TABLE {quote(self.table)} ALTER {name} TYPE"
        try:
            self.connection.execute(f"{alter} DECIMAL(38, {min(int(scale), 38)})")
        except duckdb.ConversionException:
            self.connection.execute(f"{alter} DOUBLE")


def rows_to_arrow(rows: Sequence[Sequence[Any]], columns: Sequence[Column]) -> pa.Table:
    """A batch of row tuples as an Arrow table of `columns`."""
    arrays = [
        pa.array(list(values), type=c.arrow)
        for c, values in zip(columns, zip(*rows, strict=True), strict=True)
    ]
    return pa.Table.from_arrays(arrays, names=[c.name for c in columns])


def record_batches(connection: Any, sql: str, batch_size: int) -> Iterator[pa.RecordBatch]:
    """The result of `sql` as Arrow record batches of at most `batch_size` rows."""
    arrow_exchange()
    yield from connection.sql(sql).to_arrow_reader(batch_size)
