"""Upstream-style pipelines on the real MariaDB and PostgreSQL, through the CLI.

Connections come from osiris_connections.yaml with `${VAR}`s; the steps use upstream's
components, keys and DuckDB inputs unchanged. Checked: the rows that arrive, that no secret
reaches a build, a log, an AIOP or `--json`, and that every kind of database failure ends
the run `failed` with the server's own words, the step id, and nothing half-written.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.damage import VALUES, replaced
from tests.helpers.databases import MysqlDatabase, PostgresSchema
from tests.helpers.demo import CliResult, answered_or_refused, osiris, osiris_process
from tests.helpers.upstream import FIXTURES, copy_upstream

MOVIES = [
    "CREATE TABLE directors (director_id INT PRIMARY KEY, name VARCHAR(64), "
    "nationality VARCHAR(32))",
    "CREATE TABLE movies (movie_id INT PRIMARY KEY, title VARCHAR(128), release_year INT, "
    "director_id INT, genre VARCHAR(32), runtime_minutes INT, budget_usd DECIMAL(14, 2), "
    "box_office_usd DECIMAL(14, 2))",
    "INSERT INTO directors VALUES (1, 'Věra Chytilová', 'Czech'), (2, 'Agnès Varda', "
    "'French'), (3, 'Nobody', NULL)",
    "INSERT INTO movies VALUES (1, 'Daisies', 1966, 1, 'comedy', 76, 100000, 300000), "
    "(2, 'Cléo', 1962, 2, 'drama', 90, 200000, 1000000), "
    "(3, 'Vagabond', 1985, 2, 'drama', 105, 300000, 900000), "
    "(4, 'Untitled', 2020, NULL, NULL, NULL, NULL, NULL)",
]
# The shape of upstream's docs/examples (MySQL -> DuckDB -> Supabase), written anew.
DIRECTOR_STATS = """\
oml_version: "0.1.0"
name: director-stats
steps:
- id: extract-movies
  component: mysql.extractor
  mode: read
  config:
    connection: "@mysql.db_movies"
    query: |
      SELECT m.movie_id, m.title, m.director_id, m.genre, m.budget_usd,
             m.box_office_usd, d.name as director_name
      FROM movies m JOIN directors d ON m.director_id = d.director_id
      WHERE m.director_id IS NOT NULL
- id: compute-director-stats
  component: duckdb.processor
  mode: transform
  needs: [ "extract-movies" ]
  config:
    query: |
      SELECT director_id, director_name, COUNT(*) as movie_count,
             SUM(box_office_usd) as total_box_office_usd
      FROM input_df GROUP BY director_id, director_name ORDER BY director_id
- id: write-director-stats
  component: supabase.writer
  mode: write
  needs: [ "compute-director-stats" ]
  config:
    connection: "@supabase.main"
    table: "director_stats"
    create_if_missing: true
    write_mode: "replace"
    primary_key: [ "director_id" ]
"""
CONNECTIONS = """\
version: 1
connections:
  mysql:
    db_movies:
      default: true
      host: ${{MOVIES_HOST}}
      port: 3306
      database: {database}
      user: ${{MOVIES_USER}}
      password: ${{MOVIES_PASSWORD}}
  supabase:
    main:
      default: true
      host: 127.0.0.1
      port: 5432
      database: test
      user: root
      schema: {schema}
  postgres:
    warehouse:
      host: 127.0.0.1
      database: test
      user: root
      schema: {schema}
"""


@pytest.fixture
def movies(mysql_database: MysqlDatabase) -> dict[str, str]:
    """The movies database with a user of its own whose password is a secret to guard."""
    import mysql.connector

    user, password = f"u{uuid.uuid4().hex[:10]}", f"Pw-{uuid.uuid4().hex}"
    conn = mysql.connector.connect(**mysql_database.settings)
    cursor = conn.cursor()
    for statement in MOVIES:
        cursor.execute(statement)
    cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    cursor.execute(f"GRANT SELECT ON `{mysql_database.name}`.* TO '{user}'@'%'")
    conn.commit()
    try:
        yield {
            "database": mysql_database.name,
            "MOVIES_HOST": "127.0.0.1",
            "MOVIES_USER": user,
            "MOVIES_PASSWORD": password,
        }
    finally:
        cursor.execute(f"DROP USER '{user}'@'%'")
        conn.close()


@pytest.fixture
def project(tmp_path: Path, movies: dict[str, str], postgres_schema: PostgresSchema) -> Path:
    root = tmp_path / "proj"
    (root / "pipelines").mkdir(parents=True)
    (root / "osiris.yaml").write_text("{}\n")
    connections = CONNECTIONS.format(database=movies["database"], schema=postgres_schema.name)
    (root / "osiris_connections.yaml").write_text(connections)
    # The host and user from .env, the password only from the environment.
    (root / ".env").write_text(f"MOVIES_HOST=127.0.0.1\nMOVIES_USER={movies['MOVIES_USER']}\n")
    (root / "pipelines" / "director_stats.yaml").write_text(DIRECTOR_STATS)
    return root


def cli(root: Path, *args: str, password: str | None) -> CliResult:
    env = {"MOVIES_PASSWORD": password} if password is not None else {}
    return osiris("--project", str(root), *args, env=env)


def pg_rows(schema: PostgresSchema, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(schema.dsn) as conn:
        return conn.execute(sql.replace("{s}", f'"{schema.name}"')).fetchall()


def parsed_csv(text: str) -> list[list[Any]]:
    rows = [line.split(",") for line in text.splitlines()]
    return [rows[0], *([c, int(n), Decimal(t)] for c, n, t in rows[1:])]


def every_file_text(root: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace")
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".env"
    )


def test_an_upstream_pipeline_runs_unchanged_and_no_secret_leaves_the_connection(
    project: Path, movies: dict[str, str], postgres_schema: PostgresSchema
) -> None:
    password = movies["MOVIES_PASSWORD"]
    ran = cli(project, "run", "pipelines/director_stats.yaml", "--json", password=password)
    assert ran.code == 0, ran.err
    record = ran.json()
    assert (record["status"], record["rows_in"], record["rows_out"]) == ("success", 3, 2)
    rows = pg_rows(postgres_schema, "SELECT * FROM {s}.director_stats ORDER BY director_id")
    assert [(r[0], r[1], r[2], float(r[3])) for r in rows] == [
        (1, "Věra Chytilová", 1, 300000.0),
        (2, "Agnès Varda", 2, 1900000.0),
    ]
    # The build keeps the reference; the run folder its cfg and a masked cleaned config.
    build = project / Path(record["build_manifest_path"]).parent
    cfg = json.loads((build / "cfg" / "extract-movies.json").read_text())
    assert cfg["config"]["connection"] == "@mysql.db_movies"
    run_dir = project / record["run_logs_path"]
    cleaned = json.loads((run_dir / "artifacts/extract-movies/cleaned_config.json").read_text())
    assert cleaned["resolved_connection"] == {
        "host": "127.0.0.1",
        "port": 3306,
        "database": movies["database"],
        "user": movies["MOVIES_USER"],
        "password": "***MASKED***",
    }
    assert (run_dir / "cfg" / "write-director-stats.json").is_file()
    assert password not in every_file_text(project) + ran.out + ran.err
    # Run again: replace leaves exactly the incoming rows.
    assert cli(project, "run", "--last-compile", password=password).code == 0
    assert len(pg_rows(postgres_schema, "SELECT * FROM {s}.director_stats")) == 2


def test_the_pipeline_runs_as_a_process_of_its_own(
    project: Path, movies: dict[str, str], postgres_schema: PostgresSchema
) -> None:
    # As users run it: in pytest's process other tests have loaded modules (the duckdb
    # package among them) that a fresh `osiris run` must load for itself.
    env = {"MOVIES_PASSWORD": movies["MOVIES_PASSWORD"]}
    ran = osiris_process("run", "pipelines/director_stats.yaml", "--json", cwd=project, env=env)
    assert ran.code == 0, ran.err
    record = json.loads(ran.out)
    assert (record["status"], record["rows_in"], record["rows_out"]) == ("success", 3, 2)
    rows = pg_rows(
        postgres_schema, "SELECT director_id, movie_count FROM {s}.director_stats ORDER BY 1"
    )
    assert [tuple(r) for r in rows] == [(1, 1), (2, 2)]


BAD_EXTRACTS = [
    ("wrong password", {}, "1045 (28000): Access denied for user"),
    ("syntax error", {"query": "SELEC title FROM movies"}, "1064 (42000): You have an error"),
    ("missing table", {"query": "SELECT * FROM films"}, "1146 (42S02): Table '{db}.films'"),
]


@pytest.mark.parametrize(
    ("case", "change", "message"), BAD_EXTRACTS, ids=[c[0] for c in BAD_EXTRACTS]
)
def test_a_failing_extract_is_a_failed_run_with_the_servers_message(
    project: Path, movies: dict[str, str], case: str, change: dict[str, str], message: str
) -> None:
    pipeline = project / "pipelines" / "director_stats.yaml"
    text = pipeline.read_text()
    if "query" in change:
        start = text.index("    query: |")
        end = text.index("- id: compute-director-stats")
        text = text[:start] + f'    query: "{change["query"]}"\n' + text[end:]
    pipeline.write_text(text)
    password = "not-the-password" if case == "wrong password" else movies["MOVIES_PASSWORD"]
    ran = cli(project, "run", "pipelines/director_stats.yaml", "--json", password=password)
    assert ran.code == 1, ran.err
    record = ran.json()
    expected = message.format(db=movies["database"])
    assert record["status"] == "failed"
    assert record["error"].startswith("step extract-movies failed: ")
    assert expected in record["error"] and "\n" not in record["error"]
    shown = cli(project, "runs", "show", record["run_id"], "--json", password=None).json()
    assert shown["error"] == record["error"]
    aiop = every_file_text(project / record["aiop_path"])
    assert expected in aiop
    assert password not in every_file_text(project) + ran.out


def test_an_unreachable_host_is_a_failed_run(project: Path, movies: dict[str, str]) -> None:
    connections = project / "osiris_connections.yaml"
    connections.write_text(connections.read_text().replace("port: 3306", "port: 1", 1))
    ran = cli(project, "run", "pipelines/director_stats.yaml", "--json", password="x")
    assert ran.code == 1
    assert "2003" in ran.json()["error"] and "127.0.0.1:1" in ran.json()["error"]


def test_a_type_mismatch_on_write_rolls_back(
    project: Path, movies: dict[str, str], postgres_schema: PostgresSchema
) -> None:
    import psycopg

    with psycopg.connect(postgres_schema.dsn, autocommit=True) as conn:
        conn.execute(
            f'CREATE TABLE "{postgres_schema.name}".director_stats (director_id INT PRIMARY KEY, '
            "director_name INT, movie_count INT, total_box_office_usd NUMERIC)"
        )
        conn.execute(f'INSERT INTO "{postgres_schema.name}".director_stats VALUES (7, 7, 7, 7)')
    ran = cli(
        project,
        "run",
        "pipelines/director_stats.yaml",
        "--json",
        password=movies["MOVIES_PASSWORD"],
    )
    assert ran.code == 1
    error = ran.json()["error"]
    assert error.startswith("step write-director-stats failed: ")
    assert "invalid input syntax for type integer" in error
    assert pg_rows(postgres_schema, "SELECT * FROM {s}.director_stats") == [(7, 7, 7, 7)]


def test_a_missing_variable_is_exit_2_before_anything_is_written(project: Path) -> None:
    ran = cli(project, "run", "pipelines/director_stats.yaml", password=None)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err.splitlines() == [
        f"error: {project}/osiris_connections.yaml: connections.mysql.db_movies.password: "
        "environment variable MOVIES_PASSWORD is not set (hint: export MOVIES_PASSWORD=... "
        "or add it to .env beside osiris_connections.yaml)"
    ]
    assert not (project / "run_logs").exists()


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("@mysql.db_film", "no connection 'db_film' in family 'mysql' of osiris_connections.yaml"),
        (
            "@postgres.warehouse",
            "mysql.extractor takes a mysql connection, not @postgres.warehouse",
        ),
    ],
)
def test_a_wrong_reference_is_a_compile_error(project: Path, reference: str, message: str):
    pipeline = project / "pipelines" / "director_stats.yaml"
    pipeline.write_text(pipeline.read_text().replace("@mysql.db_movies", reference))
    ran = cli(project, "compile", "pipelines/director_stats.yaml", password=None)
    assert ran.code == 2
    assert message in ran.err and "steps[0] (extract-movies): config.connection" in ran.err


def test_connections_list_masks_and_doctor_reports(project: Path, movies: dict[str, str]):
    listed = cli(project, "connections", "list", "--json", password=movies["MOVIES_PASSWORD"])
    assert listed.code == 0
    shown = {c["connection"]: c for c in listed.json()["connections"]}
    assert shown["@mysql.db_movies"]["settings"]["password"] == "***MASKED***"
    assert shown["@mysql.db_movies"]["unset_variables"] == []
    doctor = cli(project, "connections", "doctor", "--json", password=movies["MOVIES_PASSWORD"])
    assert doctor.code == 0, doctor.out
    assert {d["connection"]: d["ok"] for d in doctor.json()} == {
        "@mysql.db_movies": True,
        "@supabase.main": True,
        "@postgres.warehouse": True,
    }
    bad = cli(project, "connections", "doctor", "@mysql", "--json", password="wrong")
    assert bad.code == 1
    (result,) = bad.json()
    assert "Access denied" in result["error"] and "wrong" not in result["error"]


def test_a_build_upstream_compiled_runs_with_manifest_and_matches_its_output(
    tmp_path: Path, mysql_database: MysqlDatabase
) -> None:
    import mysql.connector

    conn = mysql.connector.connect(**mysql_database.settings)
    cursor = conn.cursor()
    seed = (FIXTURES / "v057-seed.sql").read_text("utf-8")
    lines = [line for line in seed.splitlines() if not line.startswith("--")]
    for statement in "\n".join(lines).split(";\n"):
        if statement.strip():
            cursor.execute(statement)
    conn.commit()
    conn.close()
    root = copy_upstream("v057", tmp_path / "shop")
    upstream_csv = (root / "output/orders_report_eu.csv").read_bytes()
    (root / "output/orders_report_eu.csv").unlink()
    manifest = next((root / "build/pipelines/dev/orders-report-eu").glob("*/manifest.yaml"))
    env = {
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_USER": "root",
        "MYSQL_DATABASE": mysql_database.name,
    }
    ran = osiris("--project", str(root), "run", "--manifest", str(manifest), "--json", env=env)
    assert ran.code == 0, ran.err
    assert ran.json()["manifest_hash"] == manifest.parent.name.split("-", 1)[1]
    # The same rows; MySQL DECIMALs stay exact here (308.60), upstream made floats (308.6).
    ours = (root / "output/orders_report_eu.csv").read_text("utf-8")
    assert parsed_csv(ours) == parsed_csv(upstream_csv.decode("utf-8"))
    assert ours.splitlines()[:3] == ["country,n,total", "CZ,4,317.85", "DE,2,308.60"]
    # An OML file given as --manifest is refused with what to run instead.
    oml = root / "pipelines" / "Orders_Report-EU.yaml"
    refused = osiris("--project", str(root), "run", "--manifest", str(oml), env=env)
    assert refused.code == 2
    assert "is an OML pipeline, not a compiled manifest" in refused.err


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(pick=st.integers(0, 200), value=VALUES)
def test_a_damaged_connection_fails_the_run_or_is_refused_and_never_leaks_the_password(
    project: Path, movies: dict[str, str], pick: int, value: Any
) -> None:
    # A hand-edited osiris_connections.yaml: one value of any shape anywhere, or a key gone.
    connections = project / "osiris_connections.yaml"
    original = project / "connections.original"  # the examples share the project
    if not original.exists():
        original.write_text(connections.read_text())
    connections.write_text(replaced(original.read_text(), pick, value))
    password = movies["MOVIES_PASSWORD"]
    ran = cli(project, "run", "pipelines/director_stats.yaml", "--json", password=password)
    answered_or_refused(ran)
    assert password not in ran.out + ran.err
