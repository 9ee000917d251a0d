"""`osiris compile` through the real entry point: output, --json, --out and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from osiris.cli.main import main
from tests.helpers.projects import make_orders_project


def osiris(*args: str) -> tuple[int, str, str]:
    """Run `osiris ARGS` as the console script does; return (exit code, stdout, stderr)."""
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return code, out.getvalue().decode(), err.getvalue().decode()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("OSIRIS_PROFILE", "OSIRIS_PARAM_MIN_AMOUNT", "OSIRIS_FILESYSTEM_BASE"):
        monkeypatch.delenv(name, raising=False)
    return make_orders_project(tmp_path / "proj")


def compile_args(project: Path, *extra: str) -> list[str]:
    return ["--project", str(project), "compile", "pipelines/orders.yaml", *extra]


def test_compile_prints_build_hash_and_pointers(project: Path) -> None:
    code, out, err = osiris(*compile_args(project))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "compiled orders-by-country [profile dev]"
    digest = lines[2].split()[-1]
    assert lines[1] == f"  build:     build/pipelines/dev/orders-by-country/{digest[:7]}-{digest}"
    assert lines[3] == (
        "  pointers:  .osiris/index/latest/orders-by-country.txt, .osiris/index/last_compile.txt"
    )
    code, out, _ = osiris(*compile_args(project))
    assert code == 0 and out.splitlines()[0].endswith("(unchanged)")


def test_compile_json(project: Path) -> None:
    code, out, _ = osiris(*compile_args(project, "-p", "prod", "--param", "min_amount=5", "--json"))
    assert code == 0
    data = json.loads(out)
    digest = data["manifest_hash"]
    build = f"build/pipelines/prod/orders-by-country/{digest[:7]}-{digest}"
    assert data == {
        "pipeline_slug": "orders-by-country",
        "profile": "prod",
        "manifest_hash": digest,
        "manifest_short": digest[:7],
        "build_path": build,
        "manifest_path": f"{build}/manifest.yaml",
        "created": True,
        "pointers": [
            ".osiris/index/latest/orders-by-country.txt",
            ".osiris/index/last_compile.txt",
        ],
        "exported_to": None,
        "notes": [],
        "fs_mode": "contract",
    }
    cfg = project / data["build_path"] / "cfg" / "aggregate.json"
    assert "amount >= 5 GROUP BY" in json.loads(cfg.read_text())["config"]["query"]


def test_compile_out_copies_the_build(project: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "exported"
    code, out, _ = osiris(*compile_args(project, "--out", str(out_dir), "--json"))
    assert code == 0
    data = json.loads(out)
    copy = out_dir / Path(data["build_path"]).name
    assert data["exported_to"] == str(copy)
    assert (copy / "manifest.yaml").read_bytes() == (project / data["manifest_path"]).read_bytes()
    assert osiris(*compile_args(project, "--out", str(out_dir)))[0] == 0
    (copy / "plan.json").write_text("{}", "utf-8")
    code, out, err = osiris(*compile_args(project, "--out", str(out_dir)))
    assert code == 2
    assert err.strip().endswith(
        "plan.json: exists with different content (hint: choose an "
        "empty --out folder or remove the old copy)"
    )


def test_unknown_profile_exits_2_and_writes_nothing(project: Path) -> None:
    code, out, err = osiris(*compile_args(project, "--profile", "qa"))
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "Unknown profile 'qa'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (project / "build").exists() and not (project / ".osiris").exists()


def test_bad_oml_is_one_line_without_traceback(project: Path) -> None:
    (project / "pipelines" / "orders.yaml").write_text("name: x\nsteps: [\n", "utf-8")
    code, out, err = osiris(*compile_args(project))
    assert code == 2 and out == ""
    assert err.strip() == (
        "error: pipelines/orders.yaml: not valid YAML at line 3, column 1: "
        "expected the node content, but found '<stream end>'"
    )
    assert "Traceback" not in err


def test_every_problem_is_one_line_with_did_you_mean(project: Path) -> None:
    oml = project / "pipelines" / "orders.yaml"
    text = oml.read_text().replace("filesystem.csv_extractor", "filesystem.csv_extracter")
    oml.write_text(text.replace("duckdb.processor", "duckdb.procesor"))
    code, out, err = osiris(*compile_args(project))
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "error: pipelines/orders.yaml:9: steps[0] (extract-orders): component: unknown "
        "component 'filesystem.csv_extracter' (hint: did you mean 'filesystem.csv_extractor'?)",
        "error: pipelines/orders.yaml:13: steps[1] (aggregate): component: unknown component "
        "'duckdb.procesor' (hint: did you mean 'duckdb.processor'?)",
    ]
    assert not (project / "build").exists()


def test_bad_param_syntax_exits_2(project: Path) -> None:
    code, _, err = osiris(*compile_args(project, "--param", "min_amount"))
    assert code == 2
    assert err.strip() == (
        "error: --param 'min_amount': expected name=value "
        "(hint: for example --param min_amount=100)"
    )
    assert not (project / "build").exists()


def test_missing_file_exits_2(project: Path) -> None:
    code, _, err = osiris("--project", str(project), "compile", "pipelines/none.yaml")
    assert code == 2
    assert err.strip().startswith("error: pipelines/none.yaml: no such pipeline file (hint: ")


def test_help_is_registered() -> None:
    code, out, _ = osiris("compile", "--help")
    assert code == 0 and "--param NAME=VALUE" in out and "--out" in out
