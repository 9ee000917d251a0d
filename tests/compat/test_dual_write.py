"""Mode `dual` (compat.md §1): the contract first, a legacy mirror by hard link (or copy).

Each mirrored file must be the same inode as its contract original, or (copy fallback)
the same bytes; a mirror that fails never fails the command.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import Any

import pytest

from osiris.compat import dual_write
from osiris.compat.dual_write import Failures, LegacyMirror
from osiris.compat.legacy_reader import scan_legacy
from osiris.compat.legacy_session import session_activity
from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from osiris.core.run_log import open_run_log
from tests.helpers.demo import CliResult, osiris
from tests.helpers.projects import make_orders_project

ERRORS_FILE = ".osiris/compat/dual_write_errors.jsonl"
# Contract AIOP pack file -> its legacy mirror name (legacy-layout.md §4).
PACK_MIRROR = {
    "run-card.md": "run-card.md",
    "annex/events.ndjson": "annex/timeline.ndjson",
    "annex/metrics.ndjson": "annex/metrics.ndjson",
    "annex/errors.ndjson": "annex/errors.ndjson",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_orders_project(tmp_path / "proj", config={"compat": {"mode": "dual"}})


def cli(root: Path, *args: str) -> CliResult:
    return osiris("--project", str(root), *args)


def compile_and_run(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    compiled = cli(root, "compile", "pipelines/orders.yaml", "--json")
    assert compiled.code == 0, compiled.err
    ran = cli(root, "run", "--last-compile", "--run-id-format", "incremental", "--json")
    assert ran.code == 0, ran.out + ran.err
    return compiled.json(), ran.json()


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def contract_of(root: Path) -> FilesystemContract:
    return FilesystemContract.from_resolved(load_config(root, env={}))


# -- the observer, through the run log ----------------------------------------------------------


def test_mirror_follows_appends_and_atomic_replacements(root) -> None:
    run_dir, mirror_dir = root / "run_logs/x", root / "logs/run_1759838400000"
    mirror = LegacyMirror(run_dir, mirror_dir, Failures(contract_of(root), "run", "x"))
    with open_run_log(run_dir, session="x", observers=[mirror]) as log:
        log.write_file("manifest.yaml", b"pipeline: {id: x}\n")
        log.event("run_start")
        events = mirror_dir / "events.jsonl"
        assert events.samefile(run_dir / "events.jsonl")
        log.event("step_start")  # appended after the mirror was made
        assert events.read_bytes() == (run_dir / "events.jsonl").read_bytes()
        assert len(events.read_text().splitlines()) == 2
        log.write_json("status.json", {"ok": False})
        first = (mirror_dir / "status.json").stat().st_ino
        log.write_json("status.json", {"ok": True})  # replaced atomically: a new inode
        assert (mirror_dir / "status.json").samefile(run_dir / "status.json")
        assert (mirror_dir / "status.json").stat().st_ino != first
        assert mirror.drain_reports() == []
    assert (mirror_dir / "artifacts").is_dir()


def test_a_failing_path_is_reported_once_and_the_rest_still_mirrors(root) -> None:
    run_dir, mirror_dir = root / "run_logs/x", root / "logs/run_1759838400000"
    mirror = LegacyMirror(run_dir, mirror_dir, Failures(contract_of(root), "run", "x"))
    with open_run_log(run_dir, session="x", observers=[mirror]) as log:
        log.event("run_start")
        (mirror_dir / "status.json").mkdir()  # nothing can be linked over a folder
        log.write_json("status.json", {"ok": False})
        log.write_json("status.json", {"ok": True})
        log.event("run_end")
    events = jsonl(run_dir / "events.jsonl")
    errors = [e for e in events if e["event"] == "dual_write_error"]
    assert [e["path"] for e in errors] == ["logs/run_1759838400000/status.json"]
    assert errors[0]["error"].startswith("IsADirectoryError: ")
    assert (mirror_dir / "events.jsonl").samefile(run_dir / "events.jsonl")
    (line,) = jsonl(root / ERRORS_FILE)
    assert (line["stage"], line["run_id"], line["path"]) == ("run", "x", errors[0]["path"])


# -- a dual-mode compile and run through the CLI -------------------------------------------------


def test_every_mirrored_run_file_is_the_contract_file(root) -> None:
    _, data = compile_and_run(root)
    run_dir = root / data["run_logs_path"]
    mirror = root / data["legacy_mirror"]
    assert mirror.parent == root / "logs" and mirror.name.startswith("run_")
    for rel in files_under(run_dir):
        assert (mirror / rel).samefile(run_dir / rel), rel
    assert (mirror / "artifacts").is_dir()
    with open(run_dir / "events.jsonl", "a", encoding="utf-8") as handle:
        handle.write('{"event":"late"}\n')  # appends after the run show up in the mirror too
    assert (mirror / "events.jsonl").read_bytes() == (run_dir / "events.jsonl").read_bytes()
    assert not (root / ERRORS_FILE).exists()


def test_the_run_mirror_is_a_legacy_session_with_its_aiop(root) -> None:
    compiled, data = compile_and_run(root)
    mirror = root / data["legacy_mirror"]
    sid = mirror.name
    build = root / compiled["build_path"]
    for cfg in (build / "cfg").iterdir():  # the run's copy of each cfg, as upstream keeps it
        assert (mirror / "cfg" / cfg.name).samefile(root / data["run_logs_path"] / "cfg" / cfg.name)
        assert (mirror / "cfg" / cfg.name).read_bytes() == cfg.read_bytes()
    pack, legacy_pack = root / data["aiop_path"], root / "logs/aiop" / sid
    for ours, theirs in PACK_MIRROR.items():
        assert (legacy_pack / theirs).samefile(pack / ours), theirs
    aiop = json.loads((legacy_pack / "aiop.json").read_text("utf-8"))
    assert (aiop["run"]["session_id"], aiop["run"]["run_id"]) == (sid, data["run_id"])
    assert os.readlink(root / "logs/aiop/latest") == sid
    (line,) = jsonl(root / "logs/aiop/index/runs.jsonl")
    assert (line["session_id"], line["status"]) == (sid, "completed")
    session = scan_legacy(root).session(sid)
    assert (session.status, session.pipeline_slug, session.profile) == (
        "success",
        "orders-by-country",
        "dev",
    )
    # how the read fallback skips mirrors
    assert session_activity(session)[0][0]["fs_mode"] == "dual"
    (record,) = jsonl(root / ".osiris/index/runs.jsonl")
    assert (record["fs_mode"], record["legacy_mirror"]) == ("dual", f"logs/{sid}")


def test_the_compile_mirror_links_the_build_and_derives_the_rest(root) -> None:
    compiled, _ = compile_and_run(root)
    build = root / compiled["build_path"]
    session = root / compiled["legacy"]["session_path"]
    for tree in (session / "compiled", root / "compiled"):
        assert (tree / "manifest.yaml").samefile(build / "manifest.yaml")
        for cfg in (build / "cfg").iterdir():
            assert (tree / "cfg" / cfg.name).samefile(cfg)
        for derived in ("meta.json", "effective_config.json"):
            assert (tree / derived).stat().st_nlink == 1
    pointer = json.loads((root / "logs/.last_compile.json").read_text("utf-8"))
    assert pointer["manifest_path"] == compiled["legacy"]["manifest_path"]
    assert compiled["pointers"][:2] == [
        ".osiris/index/latest/orders-by-country.txt",
        ".osiris/index/last_compile.txt",
    ]


# -- copy fallback ------------------------------------------------------------------------------


def test_without_hard_links_the_mirror_is_copied_and_says_so_once(root, monkeypatch) -> None:
    def no_links(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link", str(src))

    monkeypatch.setattr(os, "link", no_links)
    compiled, data = compile_and_run(root)
    run_dir, mirror = root / data["run_logs_path"], root / data["legacy_mirror"]
    assert files_under(mirror) == files_under(run_dir)
    for rel in files_under(run_dir):
        assert (mirror / rel).read_bytes() == (run_dir / rel).read_bytes(), rel
        assert not (mirror / rel).samefile(run_dir / rel)
    notes = (run_dir / "debug.log").read_text("utf-8").splitlines()
    assert len(notes) == 1
    assert "cannot use hard links here (EXDEV: Invalid cross-device link)" in notes[0]
    pack, legacy_pack = root / data["aiop_path"], root / "logs/aiop" / mirror.name
    for ours, theirs in PACK_MIRROR.items():
        assert (legacy_pack / theirs).read_bytes() == (pack / ours).read_bytes()
    build = root / compiled["build_path"]
    legacy_manifest = root / compiled["legacy"]["manifest_path"]
    assert legacy_manifest.read_bytes() == (build / "manifest.yaml").read_bytes()
    assert [n for n in compiled["notes"] if "hard links" in n] == [notes[0].split(" DEBUG ")[1]]
    assert "warnings" not in data


# -- a mirror that cannot be written --------------------------------------------------------------


def test_a_failing_mirror_never_fails_the_commands(root) -> None:
    (root / "logs").write_text("not a folder\n")
    compiled = cli(root, "compile", "pipelines/orders.yaml", "--json")
    assert compiled.code == 0, compiled.err
    assert compiled.json()["legacy"] is None
    (compile_warning,) = compiled.json()["warnings"]
    assert compile_warning.startswith("legacy mirror: logs: ")
    ran = cli(root, "run", "--last-compile", "--json")
    assert ran.code == 0, ran.err
    data = ran.json()
    assert data["status"] == "success"
    events = jsonl(root / data["run_logs_path"] / "events.jsonl")
    errors = [e for e in events if e["event"] == "dual_write_error"]
    assert [e["path"] for e in errors] == [data["legacy_mirror"]]
    assert events[-1]["event"] == "run_end"  # the run went on to its end
    assert data["warnings"] == [
        f"legacy mirror: {data['legacy_mirror']} not written: {errors[0]['error']}"
    ]
    summary = json.loads((root / data["aiop_path"] / "summary.json").read_text("utf-8"))
    assert summary["status"] == "success"
    stages = [(line["stage"], line["path"]) for line in jsonl(root / ERRORS_FILE)]
    assert stages == [("compile", "logs"), ("run", data["legacy_mirror"])]
    assert (root / "logs").read_text() == "not a folder\n"


def test_a_failing_aiop_mirror_is_a_warning(root, monkeypatch) -> None:
    cli(root, "compile", "pipelines/orders.yaml")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", "logs/aiop")

    monkeypatch.setattr(dual_write, "write_aiop", broken)
    ran = cli(root, "run", "--last-compile", "--json")
    assert ran.code == 0, ran.err
    data = ran.json()
    sid = Path(data["legacy_mirror"]).name
    (warning,) = data["warnings"]
    assert warning.startswith(f"legacy mirror: logs/aiop/{sid}: PermissionError: ")
    (line,) = jsonl(root / ERRORS_FILE)
    assert (line["stage"], line["run_id"]) == ("finish", data["run_id"])
    assert (root / data["legacy_mirror"] / "events.jsonl").samefile(
        root / data["run_logs_path"] / "events.jsonl"
    )
