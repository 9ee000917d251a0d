"""CLI start-up stays light, and every registered command is wired to a working `--help`.

`--version` and `--help` must not pay for DuckDB, the compiler, the runner or the drivers:
each probe runs the real `main()` in a fresh interpreter and records, at exit, every module
that was imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from osiris import __version__
from osiris.cli.main import COMMANDS, LazyGroup, cli
from osiris.core.run_index import RunIndexWriter, RunRecord
from tests.helpers.demo import osiris, osiris_env

PROBE = """\
import atexit, json, sys

def dump():
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        json.dump(sorted(sys.modules), handle)

atexit.register(dump)
from osiris.cli.main import main
main(sys.argv[2:])
"""
HEAVY = ("duckdb", "_duckdb", "osiris.core.runner", "osiris.core.compiler", "osiris.drivers")


def imported_by(args: list[str], tmp_path: Path) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run `osiris ARGS` in a fresh interpreter; return the process and its imported modules."""
    modules_file = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(modules_file), *args],
        cwd=tmp_path,
        env=osiris_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done, set(json.loads(modules_file.read_text("utf-8")))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--version"], f"osiris, version {__version__}"),
        (["--help"], "Osiris: data pipelines under the Filesystem Contract v1."),
        (["run", "--help"], "Usage: osiris run [OPTIONS] [FILE]"),
        (["compile", "--help"], "Usage: osiris compile [OPTIONS] FILE"),
    ],
    ids=["version", "help", "run-help", "compile-help"],
)
def test_light_commands_import_no_engine(args: list[str], expected: str, tmp_path: Path) -> None:
    done, modules = imported_by(args, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert expected in done.stdout
    assert "osiris.cli.main" in modules  # the probe really ran the CLI
    assert heavy(modules) == []


def test_the_probe_sees_engine_imports(tmp_path: Path) -> None:
    # `run` loads its engine before looking for the project, so the probe must report it:
    # the empty lists above are not an artefact of the probe.
    done, modules = imported_by(["run", "--last-compile"], tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: ")
    assert "osiris.core.runner" in heavy(modules)


def test_a_run_of_a_compiled_build_loads_neither_pydantic_nor_the_compiler(tmp_path: Path) -> None:
    # Once osiris.yaml has been validated (the per-user cache keeps the result), a run of
    # the last compile pays for no validator, no compiler, no legacy writer and, with
    # incremental run ids, no ULID library: together ~120 ms of a small run's start-up.
    # DuckDB's engine is loaded without the package's Python layer (40-90 ms more).
    project = tmp_path / "project"
    assert osiris("init", str(project)).code == 0
    (project / "osiris.yaml").write_text("ids: {run_id_format: [incremental]}\n", "utf-8")
    assert osiris("--project", str(project), "compile", "pipelines/my_pipeline.yaml").code == 0
    # `compile` validated osiris.yaml (and the cache kept it)
    done, modules = imported_by(["--project", str(project), "run", "--last-compile"], project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("success run run-000001 of my-pipeline ")
    assert "osiris.core.runner" in modules  # the probe saw the run
    unused = {"osiris.core.compiler", "osiris.compat.legacy_writer", "osiris.compat.dual_write"}
    assert sorted(m for m in modules if m.split(".")[0] in {"pydantic", "ulid", "duckdb"}) == []
    assert "_duckdb" in modules
    assert sorted(modules & unused) == []


def test_every_command_is_registered_and_its_help_exits_0() -> None:
    assert isinstance(cli, LazyGroup)
    assert {"compile", "run"} <= set(COMMANDS)
    top = osiris("--help")
    assert top.code == 0
    for name, (_, _, short_help) in sorted(COMMANDS.items()):
        command = cli.get_command(click.Context(cli), name)
        assert isinstance(command, click.Command) and command.name == name
        assert short_help in top.out, name
        result = osiris(name, "--help")
        assert result.code == 0, f"osiris {name} --help: {result.err}"
        assert result.out.startswith(f"Usage: osiris {name} "), result.out


def test_runs_list_reads_without_pyyaml_once_osiris_yaml_is_cached(tmp_path: Path) -> None:
    # Reading commands pay neither the YAML parser (the parsed osiris.yaml is kept in the
    # per-user cache), nor rich's Table (a table that fits is drawn directly), nor the
    # temporary-file helpers only writers use.
    (tmp_path / "osiris.yaml").write_text("filesystem:\n  aiop_dir: aiop\n", encoding="utf-8")
    RunIndexWriter(tmp_path / ".osiris" / "index").append(
        RunRecord(run_id="run-000001", pipeline_slug="orders", status="success")
    )
    first, modules = imported_by(["runs", "list"], tmp_path)
    assert (first.returncode, first.stderr) == (0, "") and "run-000001" in first.stdout
    assert "yaml" in modules  # osiris.yaml parsed, and kept
    done, modules = imported_by(["runs", "list"], tmp_path)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", first.stdout)
    assert sorted(modules & {"yaml", "rich.table", "tempfile", "pydantic"}) == []
    assert heavy(modules) == []


def test_migrate_rollback_loads_neither_the_planner_nor_rich_nor_pydantic(tmp_path: Path) -> None:
    # A rollback renames folders back from its receipt: the planner, the legacy session
    # reader, rich (no progress bar off a terminal) and pydantic (it needs only the
    # project's folders from osiris.yaml) are imports it never uses.
    from osiris.compat.migrate import apply
    from tests.helpers.legacy import make_legacy_project
    from tests.helpers.migration import contract, project_state

    root = tmp_path / "project"
    make_legacy_project(root)
    (root / "osiris.yaml").write_text("filesystem:\n  profiles:\n    default: dev\n")
    before = project_state(root)
    assert apply(contract(root)).migration_id is not None
    args = ["--project", str(root), "migrate", "rollback", "--yes"]
    done, modules = imported_by(args, tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("Rolled back migration ")
    assert "osiris.compat.migrate.undo" in modules  # the probe saw the rollback run
    unused = ("osiris.compat.migrate.planner", "osiris.compat.legacy_reader")
    heavy = ("rich", "pydantic")
    assert sorted(m for m in modules if m.split(".")[0] in heavy or m in unused) == []
    after = project_state(root)
    assert {k: v for k, v in after.items() if not k.startswith(".osiris")} == {
        k: v for k, v in before.items() if not k.startswith(".osiris")
    }


def test_a_piped_run_prints_its_summary_without_rich(tmp_path: Path) -> None:
    # A run's summary and step lines are a few lines: off a terminal they are plain text,
    # and rich (a tenth of a small run's time to import) is never loaded.
    project = tmp_path / "project"
    assert osiris("init", str(project)).code == 0
    args = ["--project", str(project), "run", "pipelines/my_pipeline.yaml"]
    done, modules = imported_by(args, project)
    assert done.returncode == 0, done.stderr
    assert "osiris.core.runner" in modules  # the probe saw the run
    assert sorted(m for m in modules if m.split(".")[0] == "rich") == []
    first, *rest = done.stdout.splitlines()
    assert first.startswith("success run run-000001") and " of my-pipeline " in first
    assert "\x1b" not in done.stdout
    assert any(line.startswith("  run logs       run_logs/") for line in rest)
    assert "\x1b" not in done.stderr and "step " in done.stderr
