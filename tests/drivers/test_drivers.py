"""The CSV extractor, DuckDB processor and CSV writer on a real in-memory DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from osiris.drivers.base import StepResult
from tests.helpers.projects import ORDERS, orders_csv
from tests.helpers.steps import run_step


def run(
    component: str,
    step_id: str,
    config: dict[str, Any],
    con: duckdb.DuckDBPyConnection,
    base: Path,
    needs: tuple[str, ...] = (),
) -> StepResult:
    return run_step(component, config, con, base, step_id, needs)


def extract(con: duckdb.DuckDBPyConnection, base: Path, step_id: str = "src", **config: Any):
    config.setdefault("path", "data/orders.csv")
    return run("filesystem.csv_extractor", step_id, config, con, base)


def write(con: duckdb.DuckDBPyConnection, base: Path, upstream: str = "src", **config: Any):
    config.setdefault("path", "out/orders.csv")
    return run("filesystem.csv_writer", "sink", config, con, base, (upstream,))


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text(orders_csv(), "utf-8")
    return tmp_path


def test_csv_round_trip(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    result = extract(con, base)
    assert (result.rows_in, result.rows_out, result.table) == (10, 10, "df_src")
    assert con.execute("SELECT * FROM df_src ORDER BY order_id").fetchall() == ORDERS
    written = write(con, base)
    assert (written.rows_in, written.rows_out) == (10, 10)
    assert written.outputs == [base / "out" / "orders.csv"]
    assert (base / "out" / "orders.csv").read_text("utf-8") == orders_csv()


def test_crlf_newlines(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    extract(con, base)
    write(con, base, newline="crlf")
    data = (base / "out" / "orders.csv").read_bytes()
    assert data == orders_csv().replace("\n", "\r\n").encode()


def test_header_false(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    (base / "data" / "bare.csv").write_text("1,CZ,5\n2,DE,6\n", "utf-8")
    assert extract(con, base, path="data/bare.csv", header=False).rows_out == 2
    assert con.execute("SELECT column1 FROM df_src ORDER BY 1").fetchall() == [("CZ",), ("DE",)]
    write(con, base, header=False)
    assert (base / "out" / "orders.csv").read_text("utf-8") == "1,CZ,5\n2,DE,6\n"


def test_semicolon_delimiter(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    (base / "data" / "semi.csv").write_text("id;name\n1;a,b\n", "utf-8")
    extract(con, base, path="data/semi.csv", delimiter=";")
    assert con.execute("SELECT name FROM df_src").fetchall() == [("a,b",)]
    write(con, base, delimiter=";")
    assert (base / "out" / "orders.csv").read_text("utf-8") == "id;name\n1;a,b\n"


def test_latin1_round_trip(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    (base / "data" / "l1.csv").write_bytes("city\nZürich\n".encode("latin-1"))
    extract(con, base, path="data/l1.csv", encoding="latin-1")
    assert con.execute("SELECT city FROM df_src").fetchall() == [("Zürich",)]
    write(con, base, encoding="latin-1")
    assert (base / "out" / "orders.csv").read_bytes() == "city\nZürich\n".encode("latin-1")


def test_missing_input_file(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"input file not found: data/none\.csv"):
        extract(con, base, path="data/none.csv")


def test_processor_sees_input_df_and_upstream_tables(
    con: duckdb.DuckDBPyConnection, base: Path
) -> None:
    extract(con, base, step_id="extract-orders")
    query = "SELECT country, SUM(amount) AS total FROM input_df GROUP BY country ORDER BY country;"
    result = run("duckdb.processor", "agg", {"query": query}, con, base, ("extract-orders",))
    assert (result.rows_in, result.rows_out, result.table) == (10, 4, "df_agg")
    assert con.execute("SELECT * FROM df_agg").fetchall()[0] == ("CZ", 360)
    views = con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    assert views == []  # input_df does not leak into later steps


def test_processor_with_two_upstreams(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    extract(con, base, step_id="a")
    extract(con, base, step_id="b")
    query = "SELECT COUNT(*) AS n FROM df_a JOIN df_b USING (order_id)"
    result = run("duckdb.processor", "j", {"query": query}, con, base, ("a", "b"))
    assert (result.rows_in, result.rows_out) == (20, 1)
    with pytest.raises(duckdb.CatalogException, match="input_df"):
        run("duckdb.processor", "k", {"query": "SELECT * FROM input_df"}, con, base, ("a", "b"))


def test_sql_error_raises(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    extract(con, base)
    with pytest.raises(duckdb.Error):
        run("duckdb.processor", "bad", {"query": "SELEC nonsense"}, con, base, ("src",))
    assert con.execute(
        "SELECT COUNT(*) FROM duckdb_tables() WHERE table_name = 'df_bad'"
    ).fetchone() == (0,)


def test_writer_leaves_no_partial_file_on_failure(
    con: duckdb.DuckDBPyConnection, base: Path
) -> None:
    con.execute("CREATE TABLE df_src AS SELECT 'price in €' AS label")
    target = base / "out" / "orders.csv"
    target.parent.mkdir()
    target.write_text("previous,content\n", "utf-8")
    with pytest.raises(UnicodeEncodeError):
        write(con, base, encoding="latin-1")
    assert target.read_text("utf-8") == "previous,content\n"
    assert [p.name for p in target.parent.iterdir()] == ["orders.csv"]


def test_writer_creates_parent_folders(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    extract(con, base)
    write(con, base, path="deep/er/x.csv")
    assert (base / "deep" / "er" / "x.csv").is_file()
    assert (base / "deep" / "er" / "x.csv").stat().st_mode & 0o777 == 0o644


def test_writer_needs_one_upstream(con: duckdb.DuckDBPyConnection, base: Path) -> None:
    with pytest.raises(ValueError, match="exactly one upstream step, got 0"):
        run("filesystem.csv_writer", "sink", {"path": "o.csv"}, con, base)
