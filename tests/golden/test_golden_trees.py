"""Golden trees: what compiling and running the demo pipeline writes, pinned per profile.

The build folder is pinned byte for byte (`data/<profile>/build/`), as is the output CSV.
Run logs, the AIOP pack and the index are pinned by their file names and the stable part
of their content: times, durations and machine facts (user, branch, commit) are dropped,
and `run_ts` in names becomes `<run_ts>`. Run ids are deterministic (`incremental`).

After an intended change, rewrite the golden files and review their diff:
    OSIRIS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.demo import DEMO_PIPELINE, copy_demo_project, osiris
from tests.helpers.tree import diff_trees, snapshot

GOLDEN = Path(__file__).parent / "data"
UPDATE = os.environ.get("OSIRIS_UPDATE_GOLDEN") == "1"
PROFILES = ("dev", "prod")
OUTPUT = "output/orders_by_country.csv"
# Values that differ between two identical runs: clocks, durations, who and where.
VOLATILE_KEYS = frozenset(
    {"ts", "duration_ms", "started_at", "completed_at", "finished_at", "run_ts"}
    | {"branch", "user", "git_commit"}
)
ISO_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
MS = re.compile(r"\b(in|Duration:|out,) \d+ ms")
STEP_ROW_MS = re.compile(r"^(\|(?: [^|]* \|){4}) \d+ \|$")


class DemoRun:
    """One project where the demo pipeline was compiled and run once for `profile`."""

    def __init__(self, root: Path, profile: str) -> None:
        self.root = root
        self.profile = profile
        self.golden = GOLDEN / profile
        self.record = json.loads((root / ".osiris/index/runs.jsonl").read_text("utf-8"))

    @property
    def run_dir(self) -> Path:
        return self.root / self.record["run_logs_path"]

    @property
    def aiop_dir(self) -> Path:
        return self.root / self.record["aiop_path"]

    def name(self, path: Path) -> str:
        """A project path with the run's timestamp replaced by `<run_ts>`."""
        return self.stable(path.relative_to(self.root).as_posix())

    def stable(self, value: Any) -> Any:
        """`value` without the volatile keys (at any depth) and with `<run_ts>` in strings."""
        if isinstance(value, dict):
            return {k: self.stable(v) for k, v in value.items() if k not in VOLATILE_KEYS}
        if isinstance(value, list):
            return [self.stable(v) for v in value]
        if isinstance(value, str):
            return value.replace(self.record["run_ts"], "<run_ts>")
        return value

    def stable_metric(self, metric: dict[str, Any]) -> dict[str, Any]:
        kept = self.stable(metric)
        if kept["metric"] == "step_duration_ms":
            kept["value"] = "<ms>"
        return kept

    def tree(self, folder: Path) -> list[str]:
        """Every path under `folder` (folders end in `/`), normalised, sorted."""
        return sorted(
            self.name(folder / rel) + ("/" if info.kind == "dir" else "")
            for rel, info in snapshot(folder).items()
        )


@pytest.fixture(scope="module", params=PROFILES)
def demo_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    profile = request.param
    root = copy_demo_project(
        tmp_path_factory.mktemp(profile) / "orders", pipelines=[Path(DEMO_PIPELINE).name]
    )
    project = ["--project", str(root)]
    compiled = osiris(*project, "compile", str(root / DEMO_PIPELINE), "-p", profile)
    assert compiled.code == 0, compiled.err
    ran = osiris(
        *project,
        "run",
        "--last-compile",
        "-p",
        profile,
        "--run-id-format",
        "incremental",
        "--tags",
        "golden",
    )
    assert ran.code == 0, ran.out + ran.err
    return DemoRun(root, profile)


def stable_text(text: str) -> list[str]:
    """Lines of a log or run card with timestamps and durations replaced by placeholders."""
    lines = []
    for line in text.splitlines():
        line = MS.sub(lambda m: f"{m.group(1)} <ms> ms", ISO_TS.sub("<ts>", line))
        lines.append(STEP_ROW_MS.sub(r"\1 <ms> |", line))
    return lines


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def check_golden_json(path: Path, actual: dict[str, Any]) -> None:
    text = json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        return
    expected = path.read_text("utf-8")
    if expected != text:
        diff = difflib.unified_diff(
            expected.splitlines(), text.splitlines(), "golden", "actual", lineterm=""
        )
        pytest.fail(f"{path.relative_to(GOLDEN)} differs:\n" + "\n".join(diff))


def check_golden_files(actual_dir: Path, golden_dir: Path) -> None:
    """`actual_dir` holds exactly the files of `golden_dir`, with the same bytes."""
    if UPDATE:
        shutil.rmtree(golden_dir, ignore_errors=True)
        shutil.copytree(actual_dir, golden_dir)
        return
    diff = diff_trees(snapshot(golden_dir), snapshot(actual_dir))
    if not diff:
        return
    details = ["(+ only in actual, - only in golden, ~ different)", diff.describe()]
    for rel in diff.changed:
        if (golden_dir / rel).is_file():
            details += difflib.unified_diff(
                (golden_dir / rel).read_text("utf-8").splitlines(),
                (actual_dir / rel).read_text("utf-8").splitlines(),
                f"golden/{rel}",
                f"actual/{rel}",
                lineterm="",
            )
    pytest.fail(f"{actual_dir.name} differs from {golden_dir}:\n" + "\n".join(details))


def test_build_tree_is_pinned_byte_for_byte(demo_run: DemoRun) -> None:
    check_golden_files(demo_run.root / "build", demo_run.golden / "build")


def test_output_csv_is_pinned(demo_run: DemoRun) -> None:
    golden = demo_run.golden / OUTPUT
    actual = (demo_run.root / OUTPUT).read_bytes()
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(actual)
    assert actual == golden.read_bytes()


def test_run_log_tree_and_stable_content(demo_run: DemoRun) -> None:
    run_dir = demo_run.run_dir
    build_manifest = demo_run.root / demo_run.record["build_manifest_path"]
    assert (run_dir / "manifest.yaml").read_bytes() == build_manifest.read_bytes()
    check_golden_json(
        demo_run.golden / "run_logs.json",
        {
            "tree": demo_run.tree(demo_run.root / "run_logs"),
            "events": [demo_run.stable(e) for e in jsonl(run_dir / "events.jsonl")],
            "metrics": [demo_run.stable_metric(m) for m in jsonl(run_dir / "metrics.jsonl")],
            "status": demo_run.stable(json.loads((run_dir / "status.json").read_text("utf-8"))),
            "osiris_log": stable_text((run_dir / "osiris.log").read_text("utf-8")),
        },
    )


def test_aiop_tree_and_stable_content(demo_run: DemoRun) -> None:
    pack, run_dir = demo_run.aiop_dir, demo_run.run_dir
    # The annex repeats the run's events and metrics exactly; a successful run has no errors.
    assert (pack / "annex/events.ndjson").read_bytes() == (run_dir / "events.jsonl").read_bytes()
    assert (pack / "annex/metrics.ndjson").read_bytes() == (run_dir / "metrics.jsonl").read_bytes()
    assert (pack / "annex/errors.ndjson").read_bytes() == b""
    check_golden_json(
        demo_run.golden / "aiop.json",
        {
            "tree": demo_run.tree(demo_run.root / "aiop"),
            "summary": demo_run.stable(json.loads((pack / "summary.json").read_text("utf-8"))),
            "run_card": stable_text((pack / "run-card.md").read_text("utf-8")),
        },
    )


def test_index_and_pointers(demo_run: DemoRun) -> None:
    index = demo_run.root / ".osiris/index"
    by_pipeline = jsonl(index / "by_pipeline/orders-by-country.jsonl")
    assert by_pipeline == [demo_run.record]
    check_golden_json(
        demo_run.golden / "index.json",
        {
            "tree": demo_run.tree(index),
            "record": demo_run.stable(demo_run.record),
            "last_compile.txt": (index / "last_compile.txt").read_text("utf-8").splitlines(),
            "latest": (index / "latest/orders-by-country.txt").read_text("utf-8").splitlines(),
        },
    )
