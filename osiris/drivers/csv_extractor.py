"""`filesystem.csv_extractor`: read a CSV file into the step's DuckDB table.

Upstream's pandas-style options map onto DuckDB's `read_csv`: `skip_rows`, `columns`,
`limit`, `na_values`, `comment`, `compression`, `dtype` and `parse_dates: false`.
`chunk_size` and `skip_blank_lines` are accepted for upstream pipelines and change
nothing (DuckDB streams the file and skips blank lines itself).
"""

from __future__ import annotations

from typing import Any

from osiris.drivers.base import StepContext, StepResult, quote, table_name

# DuckDB reads these encodings without an extension; ASCII is a subset of UTF-8.
_ENCODINGS = {"ascii": "utf-8", "iso-8859-1": "latin-1"}
_COMPRESSION = {None: "auto", "infer": "auto", "gzip": "gzip", "none": "none"}
# pandas dtype names upstream pipelines use -> DuckDB types.
_DTYPES = {
    "int": "BIGINT",
    "int64": "BIGINT",
    "Int64": "BIGINT",
    "int32": "INTEGER",
    "Int32": "INTEGER",
    "float": "DOUBLE",
    "float64": "DOUBLE",
    "float32": "FLOAT",
    "str": "VARCHAR",
    "string": "VARCHAR",
    "object": "VARCHAR",
    "category": "VARCHAR",
    "bool": "BOOLEAN",
    "boolean": "BOOLEAN",
    "datetime64[ns]": "TIMESTAMP",
    "date": "DATE",
}
_NO_DATES = ["BOOLEAN", "BIGINT", "DOUBLE", "VARCHAR"]


class CsvExtractor:
    """Creates table `df_<step_id>` from `read_csv` of `base_path / config.path`."""

    def run(self, ctx: StepContext) -> StepResult:
        config = ctx.config
        source = ctx.base_path / config["path"]
        if not source.is_file():
            raise FileNotFoundError(f"input file not found: {config['path']}")
        options, values = _read_options(config)
        columns = config.get("columns")
        listed = ", ".join(quote(str(c)) for c in columns) if columns else "*"
        limit = f" LIMIT {int(config['limit'])}" if config.get("limit") is not None else ""
        table = table_name(ctx.step_id)
        ctx.connection.execute(
            f'CREATE OR REPLACE TABLE "{table}" AS '
            f"SELECT {listed} FROM read_csv(?{options}){limit}",
            [str(source), *values],
        )
        (rows,) = ctx.connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
        return StepResult(rows_in=rows, rows_out=rows, table=table)


def _read_options(config: dict[str, Any]) -> tuple[str, list[Any]]:
    encoding = config.get("encoding") or "utf-8"
    options: dict[str, Any] = {
        "delim": config.get("delimiter", ","),
        "header": config.get("header", True),
        "encoding": _ENCODINGS.get(encoding, encoding),
        "compression": _COMPRESSION[config.get("compression")],
    }
    if config.get("skip_rows"):
        options["skip"] = int(config["skip_rows"])
    if config.get("na_values"):
        options["nullstr"] = [str(v) for v in config["na_values"]]
    if config.get("comment"):
        options["comment"] = config["comment"]
    if config.get("dtype"):
        options["types"] = {str(c): _duck_type(str(c), str(t)) for c, t in config["dtype"].items()}
    if config.get("parse_dates") is False:
        options["auto_type_candidates"] = _NO_DATES
    text = "".join(f", {name} = ?" for name in options)
    return text, list(options.values())


def _duck_type(column: str, dtype: str) -> str:
    if dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(
        f"dtype '{dtype}' of column {column} is not one this reader knows "
        f"({', '.join(sorted(_DTYPES))})"
    )
