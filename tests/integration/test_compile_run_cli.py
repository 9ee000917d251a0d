"""`osiris compile` and `osiris run` on the demo project, through the real entry point.

Each test works in a fresh copy of examples/orders and checks what a user would see:
exit codes, one-line errors, and the files written (or, for refusals and dry runs, that
nothing at all was written).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.demo import DEMO_PIPELINE, DEMO_SLUG, CliResult, copy_demo_project, osiris
from tests.helpers.tree import assert_same_tree, snapshot

INCREMENTAL = ("--run-id-format", "incremental")
PROD_CSV = "country,orders,total\nDE,2,430.9\nIT,1,220.1\nUS,2,430.75\n"
RECORD_KEYS = {
    "run_id",
    "pipeline_slug",
    "profile",
    "manifest_hash",
    "manifest_short",
    "run_ts",
    "started_at",
    "finished_at",
    "status",
    "duration_ms",
    "rows_in",
    "rows_out",
    "run_logs_path",
    "aiop_path",
    "build_manifest_path",
    "tags",
    "branch",
    "user",
    "git_commit",
    "fs_mode",
    "source",
    "legacy_session_id",
}
BROKEN_OML = """\
oml_version: "0.1.0"
name: broken
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: aggregate
    component: duckdb.processor
    mode: transform
    config: {query: "SELECT no_such_column FROM input_df"}
  - id: write-broken
    component: filesystem.csv_writer
    mode: write
    config: {path: output/broken.csv}
"""
# Writes the demo's output file again, but '€' has no latin-1 byte: the writer fails after
# DuckDB wrote its temp file, which must vanish and leave the old output untouched.
UNENCODABLE_OML = """\
oml_version: "0.1.0"
name: unencodable
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: euro
    component: duckdb.processor
    mode: transform
    config: {query: "SELECT country, '€' AS currency FROM input_df"}
  - id: write-euro
    component: filesystem.csv_writer
    mode: write
    config: {path: output/orders_by_country.csv, encoding: latin-1}
"""
SECRETIVE_OML = """\
oml_version: "0.1.0"
name: secretive
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: filter
    component: duckdb.processor
    mode: transform
    config:
      query: "SELECT order_id FROM input_df WHERE 'password=hunter2' <> customer
        AND customer <> '${DEMO_TOKEN}'"
  - id: write-ids
    component: filesystem.csv_writer
    mode: write
    config: {path: output/ids.csv}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = copy_demo_project(tmp_path / "orders")
    # `run FILE` resolves FILE against the working folder, as a user typing it would.
    monkeypatch.chdir(root)
    return root


def compile_demo(project: Path, *extra: str) -> CliResult:
    result = osiris("--project", str(project), "compile", DEMO_PIPELINE, *extra)
    assert result.code == 0, result.err
    return result


def run(project: Path, *args: str, env: dict[str, str] | None = None) -> CliResult:
    return osiris("--project", str(project), "run", *args, env=env)


def run_json(project: Path, *args: str, code: int = 0) -> dict[str, Any]:
    result = run(project, *args, "--json")
    assert result.code == code, result.out + result.err
    return result.json()


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def index_records(project: Path) -> list[dict[str, Any]]:
    return jsonl(project / ".osiris/index/runs.jsonl")


def pointer_manifest(project: Path, name: str = "last_compile.txt") -> str:
    return (project / ".osiris/index" / name).read_text("utf-8").splitlines()[0]


def assert_one_line_error(result: CliResult, expected: str) -> None:
    """Exit 2, nothing on stdout, and one error line that starts with `expected`."""
    assert (result.code, result.out) == (2, "")
    assert result.err.startswith(f"error: {expected}") and result.err.count("\n") == 1


# -- compile ---------------------------------------------------------------------------------


def test_compile_twice_rewrites_nothing_and_another_copy_gets_the_same_bytes(
    project: Path, tmp_path: Path
) -> None:
    first = compile_demo(project, "-p", "prod")
    assert first.out.splitlines()[0] == "compiled orders-by-country [profile prod]"
    build = snapshot(project / "build")
    second = compile_demo(project, "-p", "prod")
    assert second.out.splitlines()[0] == "compiled orders-by-country [profile prod] (unchanged)"
    assert_same_tree(build, snapshot(project / "build"), modes=True, mtimes=True)

    elsewhere = copy_demo_project(tmp_path / "elsewhere" / "orders")
    oml = str(elsewhere / DEMO_PIPELINE)  # absolute: a relative one would name cwd's copy
    compiled = osiris("--project", str(elsewhere), "compile", oml, "-p", "prod")
    assert compiled.code == 0, compiled.err
    assert_same_tree(build, snapshot(elsewhere / "build"), modes=True)


# -- the four sources ------------------------------------------------------------------------


def test_run_an_oml_file_compiles_it_then_runs_the_build(project: Path) -> None:
    data = run_json(project, DEMO_PIPELINE, "-p", "prod", *INCREMENTAL)
    assert (data["run_id"], data["status"], data["error"]) == ("run-000001", "success", None)
    assert data["build_manifest_path"] == pointer_manifest(project)
    assert (project / data["build_manifest_path"]).is_file()
    assert (data["rows_in"], data["rows_out"]) == (12, 3)
    assert (project / "output/orders_by_country.csv").read_text("utf-8") == PROD_CSV


def test_run_text_output_names_the_run_and_its_folders(project: Path) -> None:
    result = run(project, DEMO_PIPELINE, *INCREMENTAL, "--quiet")
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0] == "success run run-000001 of orders-by-country (profile dev)"
    (record,) = index_records(project)
    assert lines[1].split() == ["run", "logs", record["run_logs_path"]]
    assert lines[2].split() == ["aiop", record["aiop_path"]]


def test_run_a_manifest_path_runs_that_build(project: Path) -> None:
    compiled = json.loads(compile_demo(project, "-p", "prod", "--json").out)
    compile_demo(project, "-p", "dev")  # the pointers now name another build
    data = run_json(project, str(project / compiled["manifest_path"]), *INCREMENTAL)
    assert (data["profile"], data["build_manifest_path"]) == ("prod", compiled["manifest_path"])
    assert data["status"] == "success"


def test_run_a_manifest_for_another_profile_is_refused_and_writes_nothing(project: Path) -> None:
    manifest = json.loads(compile_demo(project, "-p", "prod", "--json").out)["manifest_path"]
    before = snapshot(project)
    result = run(project, manifest, "-p", "dev")
    assert_one_line_error(
        result,
        f"{manifest}: this build was compiled for profile 'prod', not 'dev' "
        "(hint: compile it for 'dev' first, or drop --profile)",
    )
    assert_same_tree(before, snapshot(project), modes=True, mtimes=True)


def test_run_last_compile_runs_the_build_last_compiled(project: Path) -> None:
    compile_demo(project, "-p", "dev")
    compile_demo(project, "-p", "prod")
    data = run_json(project, "--last-compile", *INCREMENTAL)
    assert (data["profile"], data["run_id"]) == ("prod", "run-000001")
    assert data["build_manifest_path"] == pointer_manifest(project)
    assert (project / "output/orders_by_country.csv").read_text("utf-8") == PROD_CSV


def test_run_pipeline_takes_the_latest_build_of_the_requested_profile(project: Path) -> None:
    dev = json.loads(compile_demo(project, "-p", "dev", "--json").out)
    compile_demo(project, "-p", "prod")  # latest/<slug>.txt now names the prod build
    data = run_json(project, "--pipeline", DEMO_SLUG, "-p", "dev", *INCREMENTAL)
    assert (data["profile"], data["build_manifest_path"]) == ("dev", dev["manifest_path"])
    data = run_json(project, "--pipeline", DEMO_SLUG, "-p", "prod", *INCREMENTAL)
    assert data["build_manifest_path"] == pointer_manifest(project, f"latest/{DEMO_SLUG}.txt")
    assert [r["run_id"] for r in index_records(project)] == ["run-000001", "run-000002"]


def test_run_pipeline_without_a_build_for_the_profile_exits_2(project: Path) -> None:
    compile_demo(project, "-p", "dev")
    result = run(project, "--pipeline", DEMO_SLUG, "-p", "staging")
    assert_one_line_error(
        result,
        "no build of pipeline 'orders-by-country' for profile 'staging' "
        "(hint: compile it first: osiris compile pipelines/<file>.yaml -p staging)",
    )
    assert not (project / "run_logs").exists()


# -- failures --------------------------------------------------------------------------------


def test_a_failing_sql_step_is_recorded_everywhere_and_writes_no_output(project: Path) -> None:
    (project / "pipelines/broken.yaml").write_text(BROKEN_OML, "utf-8")
    data = run_json(project, "pipelines/broken.yaml", *INCREMENTAL, code=1)
    assert data["status"] == "failed"
    assert data["error"].startswith("step aggregate failed: BinderException: ")
    assert "no_such_column" in data["error"]

    # Index: one record, failed, with its error, in both files, the same as printed.
    index = project / ".osiris/index"
    assert jsonl(index / "runs.jsonl") == [data]
    assert jsonl(index / "by_pipeline/broken.jsonl") == jsonl(index / "runs.jsonl")

    # Run logs: the failed step, the skipped one, and the run framed by run_start/run_end.
    run_dir = project / data["run_logs_path"]
    events = jsonl(run_dir / "events.jsonl")
    assert [(e["event"], e.get("step_id")) for e in events] == [
        ("run_start", None),
        ("step_start", "extract-orders"),
        ("step_complete", "extract-orders"),
        ("step_start", "aggregate"),
        ("step_error", "aggregate"),
        ("step_skipped", "write-broken"),
        ("run_error", None),
        ("run_end", None),
    ]
    assert events[-1]["status"] == "failed"
    status = json.loads((run_dir / "status.json").read_text("utf-8"))
    assert (status["ok"], status["exit_code"], status["steps_completed"]) == (False, 1, 1)
    assert status["reason"] == data["error"]

    # AIOP pack: status, per-step results and the error, in the summary and the annex.
    pack = project / data["aiop_path"]
    summary = json.loads((pack / "summary.json").read_text("utf-8"))
    assert summary["status"] == "failed"
    assert [(s["step_id"], s["status"]) for s in summary["steps"]] == [
        ("extract-orders", "success"),
        ("aggregate", "failed"),
        ("write-broken", "skipped"),
    ]
    assert summary["errors"][0]["step_id"] == "aggregate"
    assert "no_such_column" in summary["errors"][0]["error"]
    errors = jsonl(pack / "annex/errors.ndjson")
    assert [e["event"] for e in errors] == ["step_error", "run_error"]
    assert "# Run run-000001: failed" in (pack / "run-card.md").read_text("utf-8")

    # The writer never ran: no CSV, no temp file, not even the output folder.
    assert not (project / "output").exists()


def test_a_failing_writer_leaves_the_previous_output_and_no_temp_file(project: Path) -> None:
    run_json(project, DEMO_PIPELINE, "-p", "prod")
    output = snapshot(project / "output")
    (project / "pipelines/unencodable.yaml").write_text(UNENCODABLE_OML, "utf-8")
    data = run_json(project, "pipelines/unencodable.yaml", code=1)
    assert data["error"].startswith("step write-euro failed: UnicodeEncodeError: ")
    assert_same_tree(output, snapshot(project / "output"), modes=True, mtimes=True)
    assert (project / "output/orders_by_country.csv").read_text("utf-8") == PROD_CSV


@pytest.mark.parametrize(
    "source",
    [[DEMO_PIPELINE], ["--last-compile"], ["--pipeline", DEMO_SLUG]],
    ids=["oml", "last-compile", "pipeline"],
)
def test_an_unknown_profile_exits_2_and_writes_nothing(project: Path, source: list[str]) -> None:
    compile_demo(project, "-p", "dev")
    before = snapshot(project)
    result = run(project, *source, "-p", "qa")
    assert_one_line_error(
        result,
        f"{project / 'osiris.yaml'}: Unknown profile 'qa'. Allowed profiles: dev, staging, "
        "prod (filesystem.profiles.values).",
    )
    assert_same_tree(before, snapshot(project), modes=True, mtimes=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [],
            "give exactly one of FILE, --last-compile or --pipeline SLUG "
            "(hint: osiris run pipelines/x.yaml, --last-compile, or --pipeline x)",
        ),
        (
            [DEMO_PIPELINE, "--last-compile"],
            "give exactly one of FILE, --last-compile or --pipeline SLUG (got FILE, "
            "--last-compile) (hint: osiris run pipelines/x.yaml, --last-compile, or --pipeline x)",
        ),
        (
            ["--last-compile", "--param", "min_amount=5"],
            "--param only applies when running an OML file (a build has its params compiled "
            "in) (hint: compile with --param, or run the OML file)",
        ),
        (["pipelines/nope.yaml"], "pipelines/nope.yaml: no such pipeline file (hint: looked"),
        (
            ["--last-compile"],
            ".osiris/index/last_compile.txt: nothing has been compiled yet "
            "(hint: run `osiris compile pipelines/<file>.yaml` first)",
        ),
    ],
    ids=["no-source", "two-sources", "param-with-build", "missing-file", "nothing-compiled"],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    project: Path, args: list[str], message: str
) -> None:
    before = snapshot(project)
    result = run(project, *args)
    assert_one_line_error(result, message)
    assert "Traceback" not in result.err
    assert_same_tree(before, snapshot(project), modes=True, mtimes=True)


# -- dry run ---------------------------------------------------------------------------------


def test_dry_run_on_a_fresh_project_writes_nothing(project: Path) -> None:
    before = snapshot(project)
    result = run(project, DEMO_PIPELINE, "--dry-run", *INCREMENTAL)
    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0] == "Dry run: nothing was written."
    assert " ".join(lines[-1].split()) == "steps extract-orders -> aggregate -> write-summary"
    assert_same_tree(before, snapshot(project), modes=True, mtimes=True)
    assert not (project / ".osiris").exists()  # not even the run-id counter


def test_dry_run_predicts_the_next_run_without_touching_the_counter(project: Path) -> None:
    compile_demo(project, "-p", "prod")
    run_json(project, "--last-compile", *INCREMENTAL)
    before = snapshot(project)
    preview = run_json(project, "--last-compile", "--dry-run", *INCREMENTAL)
    assert_same_tree(before, snapshot(project), modes=True, mtimes=True)
    assert set(preview) == {
        "dry_run",
        "run_id",
        "pipeline_slug",
        "profile",
        "manifest_hash",
        "build_manifest_path",
        "run_logs_path",
        "aiop_path",
        "steps",
        "fs_mode",
    }
    assert (preview["dry_run"], preview["run_id"], preview["fs_mode"]) == (
        True,
        "run-000002",
        "contract",
    )
    data = run_json(project, "--last-compile", *INCREMENTAL)
    for key in ("run_id", "aiop_path", "build_manifest_path", "manifest_hash", "profile"):
        assert data[key] == preview[key]


# -- options ---------------------------------------------------------------------------------


def test_json_prints_the_index_record_plus_error(project: Path) -> None:
    data = run_json(project, DEMO_PIPELINE, *INCREMENTAL)
    assert set(data) == RECORD_KEYS | {"error"}
    assert data["error"] is None
    assert index_records(project) == [data]
    for key in ("run_logs_path", "aiop_path", "build_manifest_path"):
        assert not Path(data[key]).is_absolute() and (project / data[key]).exists()
    assert data["started_at"].endswith("Z") and data["finished_at"].endswith("Z")


def test_tags_are_recorded_in_index_events_and_summary_never_in_paths(project: Path) -> None:
    data = run_json(project, DEMO_PIPELINE, "--tags", "nightly, demo,nightly", *INCREMENTAL)
    assert data["tags"] == ["demo", "nightly"]
    assert index_records(project)[0]["tags"] == ["demo", "nightly"]
    start = jsonl(project / data["run_logs_path"] / "events.jsonl")[0]
    assert (start["event"], start["tags"]) == ("run_start", ["demo", "nightly"])
    summary = json.loads((project / data["aiop_path"] / "summary.json").read_text("utf-8"))
    assert summary["tags"] == ["demo", "nightly"]
    assert "nightly" not in data["run_logs_path"] + data["aiop_path"]


def test_out_copies_the_run_logs(project: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "copies"
    data = run_json(project, DEMO_PIPELINE, "--out", str(out_dir), *INCREMENTAL)
    run_dir = project / data["run_logs_path"]
    assert data["copied_to"] == str(out_dir / run_dir.name)
    assert_same_tree(snapshot(run_dir), snapshot(out_dir / run_dir.name), modes=True)
    assert sorted(p.name for p in out_dir.iterdir()) == [run_dir.name]


def test_verbose_writes_debug_log_with_secrets_masked(project: Path) -> None:
    (project / "pipelines/secretive.yaml").write_text(SECRETIVE_OML, "utf-8")
    env = {"DEMO_TOKEN": "tok-s3cr3t"}
    plain = run(project, "pipelines/secretive.yaml", "--json", env=env)
    assert plain.code == 0, plain.err
    assert not (project / plain.json()["run_logs_path"] / "debug.log").exists()

    verbose = run(project, "pipelines/secretive.yaml", "--verbose", "--json", env=env)
    assert verbose.code == 0, verbose.err
    data = verbose.json()
    debug = (project / data["run_logs_path"] / "debug.log").read_text("utf-8")
    (filter_line,) = [line for line in debug.splitlines() if "step filter config:" in line]
    assert "'password=***MASKED***'" in filter_line
    assert "'${DEMO_TOKEN}'" in filter_line  # the reference, never its value
    for folder in (project / data["run_logs_path"], project / data["aiop_path"]):
        for path in (p for p in folder.rglob("*") if p.is_file()):
            text = path.read_text("utf-8")
            assert "hunter2" not in text and "tok-s3cr3t" not in text, path


def test_a_failing_step_never_shows_a_resolved_env_value(project: Path) -> None:
    broken = BROKEN_OML.replace("SELECT no_such_column", "SELECT ${DEMO_SECRET_COLUMN}")
    (project / "pipelines/broken.yaml").write_text(broken, "utf-8")
    env = {"DEMO_SECRET_COLUMN": "hunter2_column"}
    result = run(project, "pipelines/broken.yaml", *INCREMENTAL, "--json", env=env)
    assert result.code == 1
    assert "hunter2_column" not in result.out
    assert "***MASKED***" in result.json()["error"]
    run_dir = project / result.json()["run_logs_path"]
    step_error = [e for e in jsonl(run_dir / "events.jsonl") if e["event"] == "step_error"]
    assert "***MASKED***" in step_error[0]["error"]
    for path in [*run_dir.rglob("*"), *(project / "aiop").rglob("*")]:
        if path.is_file():
            assert b"hunter2_column" not in path.read_bytes(), path


def test_a_run_failing_at_its_first_step_still_has_every_log_file(project: Path) -> None:
    missing = BROKEN_OML.replace("data/orders.csv", "data/missing.csv")
    (project / "pipelines/first-fails.yaml").write_text(missing, "utf-8")
    result = run(project, "pipelines/first-fails.yaml", *INCREMENTAL, "--json")
    assert result.code == 1
    run_dir = project / result.json()["run_logs_path"]
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "artifacts",
        "cfg",
        "events.jsonl",
        "manifest.yaml",
        "metrics.jsonl",
        "osiris.log",
        "status.json",
    ]
    # Every step's cfg, as upstream keeps them; the failed step's cleaned config.
    assert sorted(p.name for p in (run_dir / "cfg").iterdir()) == [
        "aggregate.json",
        "extract-orders.json",
        "write-broken.json",
    ]
    cleaned = json.loads((run_dir / "artifacts/extract-orders/cleaned_config.json").read_text())
    assert cleaned["path"] == "data/missing.csv"
    assert (run_dir / "metrics.jsonl").read_bytes() == b""


# -- progress, one-off runs and errors in listings -------------------------------------------


def test_each_step_is_shown_as_it_starts_and_ends_and_logged_the_same(project: Path) -> None:
    result = run(project, DEMO_PIPELINE, *INCREMENTAL)
    assert result.code == 0, result.err
    lines = result.err.splitlines()
    assert [line.split(" (")[0].split(":")[0] for line in lines] == [
        "step extract-orders started",
        "step extract-orders done",
        "step aggregate started",
        "step aggregate done",
        "step write-summary started",
        "step write-summary done",
    ]
    assert lines[0] == "step extract-orders started (filesystem.csv_extractor, extract)"
    assert lines[1].startswith("step extract-orders done: 12 rows in, 12 rows out, ")
    assert lines[1].endswith(" ms")
    log = next((project / "run_logs").rglob("osiris.log")).read_text("utf-8")
    for line in lines:
        assert log.count(f" {line}\n") == 1


@pytest.mark.parametrize("flag", ["--quiet", "-q", "--json"])
def test_quiet_and_json_runs_print_no_step_lines(project: Path, flag: str) -> None:
    result = run(project, DEMO_PIPELINE, *INCREMENTAL, flag)
    assert (result.code, result.err) == (0, "")
    log = next((project / "run_logs").rglob("osiris.log")).read_text("utf-8")
    assert "step aggregate done: " in log  # the log keeps them all the same


def test_a_failed_step_line_names_the_step_and_the_error(project: Path) -> None:
    (project / "pipelines/broken.yaml").write_text(BROKEN_OML, "utf-8")
    result = run(project, "pipelines/broken.yaml", *INCREMENTAL)
    assert result.code == 1
    failed = [line for line in result.err.splitlines() if "failed" in line]
    assert failed == [next(line for line in failed if line.startswith("step aggregate failed: "))]
    assert "BinderException" in failed[0]


def test_a_run_with_params_keeps_the_latest_pointers_unless_asked(project: Path) -> None:
    compile_demo(project)
    latest = pointer_manifest(project, f"latest/{DEMO_SLUG}.txt")
    last = pointer_manifest(project)
    one_off = run_json(project, DEMO_PIPELINE, "--param", "min_amount=300", *INCREMENTAL)
    assert one_off["build_manifest_path"] != last  # its own build ...
    assert (project / one_off["build_manifest_path"]).is_file()
    assert pointer_manifest(project, f"latest/{DEMO_SLUG}.txt") == latest  # ... not the latest
    assert pointer_manifest(project) == last
    again = run_json(project, "--last-compile", *INCREMENTAL)
    assert again["build_manifest_path"] == last

    chosen = run_json(
        project, DEMO_PIPELINE, "--param", "min_amount=300", "--set-latest", *INCREMENTAL
    )
    assert pointer_manifest(project) == chosen["build_manifest_path"]
    assert pointer_manifest(project, f"latest/{DEMO_SLUG}.txt") == chosen["build_manifest_path"]


def test_runs_list_shows_a_short_error_and_json_the_whole_one(project: Path) -> None:
    (project / "pipelines/broken.yaml").write_text(BROKEN_OML, "utf-8")
    failed = run_json(project, "pipelines/broken.yaml", *INCREMENTAL, code=1)
    run_json(project, DEMO_PIPELINE, *INCREMENTAL)
    listed = osiris("--project", str(project), "runs", "list", env={"COLUMNS": "200"})
    header, _, *rows = listed.out.splitlines()
    assert header.split()[-1] == "error"
    broken = next(row for row in rows if " broken " in row)
    assert broken.endswith("step aggregate failed…")  # cut at a word, 40 characters at most
    assert "…" not in next(row for row in rows if DEMO_SLUG in row)
    as_json = osiris("--project", str(project), "runs", "list", "--json").json()
    assert [r["error"] for r in as_json] == [None, failed["error"]]
    shown = osiris("--project", str(project), "runs", "show", "broken/run-000001")
    assert f"error          {failed['error']}" in shown.out


def test_tags_are_one_model_in_run_list_show_json_and_pipelines_tag(project: Path) -> None:
    def cli(*args: str) -> CliResult:
        return osiris("--project", str(project), *args, env={"COLUMNS": "200"})

    ran = run_json(project, DEMO_PIPELINE, "--tags", "Nightly, demo,,nightly", *INCREMENTAL)
    assert ran["tags"] == ["demo", "nightly"]  # lower-case, unique, sorted
    assert cli("run", DEMO_PIPELINE, "--tags", "a b").err.startswith("error: tag 'a b'")

    tagged = cli("pipelines", "tag", DEMO_SLUG, "--add", "RELEASE", "--remove", "Demo", "--json")
    assert tagged.code == 0, tagged.err
    assert tagged.json()[0]["tags"] == ["nightly", "release"]

    as_json = cli("runs", "list", "--tag", "NIGHTLY", "--json").json()
    assert [r["tags"] for r in as_json] == [["nightly", "release"]]
    table = cli("runs", "list", "--tag", "release").out.splitlines()
    assert table[2].rstrip().endswith("nightly, release")
    shown = cli("runs", "show", f"{DEMO_SLUG}/run-000001")
    assert "  tags           nightly, release" in shown.out
    assert cli("runs", "show", "run-000001", "--json").json()["tags"] == ["nightly", "release"]
