"""Cost of `osiris migrate` on a synthetic legacy project, next to the floor of the same work.

A legacy project with N run sessions is written with plain file writes (each session:
`events.jsonl` with the three `run_start` lines, step events and `run_end`, `metrics.jsonl`,
`manifest.yaml`, `status.json`, `osiris.log`, `cfg/`, `artifacts/`). On that one tree, in one
process, this cycle runs `--repeat` times (each step leaves the tree as the next one needs
it, and the rollback leaves it as it was) and the median of each step is reported:

- floor: a minimal script reads each session's `events.jsonl` and renames its folder;
- bare rename loop: the folders are renamed back, nothing else;
- plan: `osiris.compat.migrate.plan(project)`, saved as `plan.json`;
- apply: `apply(project, Plan.load(plan.json))` (fingerprint check, journal, renames,
  index backfill, end verification);
- rollback: `rollback(project)`, which leaves the legacy tree as it was.

Targets: apply within 2x of the floor, rollback within 2x of the bare rename loop, and
linear growth (the 1,000 -> N factor close to N / 1,000).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from osiris.compat.migrate import apply, plan, rollback
from osiris.compat.migrate.planner import Plan
from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract

BASE_MS = 1_759_838_400_000  # 2025-10-07T12:00:00Z
PIPELINES = (("orders-etl", "orders"), ("mysql_to_csv", "movies"), ("customers-sync", "customers"))
PROFILES = ("dev", "prod")
TARGET = 2.0
PHASES = ("floor", "bare rename loop", "plan", "apply", "rollback")


def _iso(ms: int) -> str:
    seconds, millis = divmod(ms, 1000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{millis:03d}000+00:00"


def _manifest(pipeline: str, stem: str, profile: str, compile_id: str) -> str:
    extract, write = f"extract-{stem}", f"write-{stem}"
    return (
        f"pipeline:\n  id: {pipeline}\n  version: 0.1.0\n  fingerprints:\n"
        f"    manifest_fp: sha256:{'ab' * 32}\n    profile: {profile}\n"
        f"steps:\n- id: {extract}\n  driver: mysql.extractor\n  cfg_path: cfg/{extract}.json\n"
        f"  needs: []\n- id: {write}\n  driver: filesystem.csv_writer\n"
        f"  cfg_path: cfg/{write}.json\n  needs:\n  - {extract}\n"
        f"meta:\n  oml_version: 0.1.0\n  profile: {profile}\n  run_id: {compile_id}\n"
        f"  generated_at: '{_iso(BASE_MS)}'\n"
        f"metadata:\n  source_manifest_path: logs/{compile_id}/compiled/manifest.yaml\n"
    )


def _lines(records: list[dict[str, object]]) -> str:
    return "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def make_project(root: Path, sessions: int) -> list[Path]:
    """Write the project: `osiris.yaml` and `sessions` legacy run sessions; their folders."""
    root.mkdir(parents=True)
    _write(root / "osiris.yaml", "filesystem:\n  profiles:\n    default: dev\n")
    logs = root / "logs"
    logs.mkdir()
    manifests = {
        (pipeline, profile): _manifest(pipeline, stem, profile, f"compile_{BASE_MS + i}")
        for i, ((pipeline, stem), profile) in enumerate((p, q) for p in PIPELINES for q in PROFILES)
    }
    folders = []
    for i in range(sessions):
        pipeline, stem = PIPELINES[i % len(PIPELINES)]
        profile = PROFILES[i // len(PIPELINES) % len(PROFILES)]
        ms = BASE_MS + 60_000 * (i + 1)
        sid = f"run_{ms}"
        folder = logs / sid
        extract, write = f"extract-{stem}", f"write-{stem}"
        for sub in ("cfg", f"artifacts/{extract}", f"artifacts/{write}"):
            (folder / sub).mkdir(parents=True)
        stamp = {"ts": _iso(ms), "session": sid}
        rows = 100 + i % 900
        events = [
            {**stamp, "event": "run_start", "command": "run", "args": ["--last-compile"]},
            {**stamp, "event": "run_start", "session_id": sid, "logs_dir": "logs"},
            {
                **stamp,
                "event": "run_start",
                "pipeline_id": pipeline,
                "manifest_path": f"logs/{sid}/manifest.yaml",
                "profile": profile,
            },
            {**stamp, "event": "step_start", "step_id": extract, "driver": "mysql.extractor"},
            {**stamp, "event": "step_complete", "step_id": extract, "duration": 0.4},
            {**stamp, "event": "step_start", "step_id": write, "driver": "filesystem.csv_writer"},
            {**stamp, "event": "step_complete", "step_id": write, "duration": 0.2},
            {**stamp, "event": "run_complete", "steps_executed": 2},
            {
                **stamp,
                "event": "run_end",
                "duration_seconds": 1.5,
                "end_time": _iso(ms + 1500),
            },
        ]
        metrics = [
            {**stamp, "metric": "rows_read", "value": rows, "unit": "rows", "step_id": extract},
            {**stamp, "metric": "rows_written", "value": rows, "unit": "rows", "step_id": write},
        ]
        status = {"exit_code": 0, "ok": True, "steps_completed": 2, "steps_total": 2}
        _write(folder / "events.jsonl", _lines(events))
        _write(folder / "metrics.jsonl", _lines(metrics))
        _write(folder / "manifest.yaml", manifests[(pipeline, profile)])
        _write(folder / "status.json", json.dumps({**status, "session_path": f"logs/{sid}"}))
        _write(folder / "osiris.log", f"INFO run {sid} of {pipeline}\n")
        for step, driver in ((extract, "mysql.extractor"), (write, "filesystem.csv_writer")):
            _write(folder / "cfg" / f"{step}.json", json.dumps({"component": driver}))
            _write(folder / "artifacts" / step / "cleaned_config.json", json.dumps({"step": step}))
        folders.append(folder)
    return folders


def floor(folders: list[Path], moved: Path) -> None:
    """The least a migration must do: read each session's events, rename its folder."""
    moved.mkdir()
    for folder in folders:
        with open(folder / "events.jsonl", "rb") as handle:
            handle.read()
        os.rename(folder, moved / folder.name)


def bare_renames(folders: list[Path], moved: Path) -> None:
    """Rename every folder back, and nothing else."""
    for folder in folders:
        os.rename(moved / folder.name, folder)
    moved.rmdir()


def timed(action: Callable[[], object], profile: Path | None) -> float:
    """Seconds `action` takes (profiled into `profile` when given)."""
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler is not None:
        profiler.runcall(action)
    else:
        action()
    elapsed = time.perf_counter() - start
    if profiler is not None and profile is not None:
        profiler.dump_stats(profile)
    return elapsed


def measure(tmp: Path, sessions: int, repeat: int, profile_dir: Path | None) -> dict[str, float]:
    """Median seconds per phase for one project of `sessions` run sessions."""
    root = tmp / f"project-{sessions}"
    folders = make_project(root, sessions)
    project = FilesystemContract.from_resolved(load_config(root, env={}))
    moved = tmp / f"moved-{sessions}"
    saved = tmp / f"plan-{sessions}.json"

    def prof(name: str, cycle: int) -> Path | None:
        return profile_dir / f"{name}-{sessions}.prof" if profile_dir and not cycle else None

    def planned() -> None:
        plan(project).save(saved)

    def applied() -> None:
        result = apply(project, Plan.load(saved))
        if result.ops == 0:
            raise SystemExit("apply migrated nothing")

    cycles: dict[str, list[float]] = {phase: [] for phase in PHASES}
    for cycle in range(repeat):
        cycles["floor"].append(timed(lambda: floor(folders, moved), None))
        cycles["bare rename loop"].append(timed(lambda: bare_renames(folders, moved), None))
        cycles["plan"].append(timed(planned, prof("plan", cycle)))
        cycles["apply"].append(timed(applied, prof("apply", cycle)))
        cycles["rollback"].append(timed(lambda: rollback(project), prof("rollback", cycle)))
        if any(not folder.is_dir() for folder in folders):
            raise SystemExit("rollback did not restore every session folder")
    seconds = {phase: statistics.median(times) for phase, times in cycles.items()}
    seconds["plan.json MB"] = saved.stat().st_size / 1e6
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", type=int, default=10_000, help="run sessions (large)")
    parser.add_argument("--small", type=int, default=1_000, help="run sessions (linearity)")
    parser.add_argument("--repeat", type=int, default=5, help="cycles per project (median)")
    parser.add_argument("--dir", type=Path, help="where to build the projects (default: temp)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of each phase here")
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        small = measure(Path(tmp), args.small, args.repeat, args.profile)
        large = measure(Path(tmp), args.sessions, args.repeat, args.profile)

    print(
        f"osiris migrate on {args.small:,} and {args.sessions:,} legacy run sessions "
        f"(median of {args.repeat} cycles, in-process)"
    )
    header = f"{'phase':<18} {'s':>8} {'µs/session':>11} {'s':>8} {'µs/session':>11} {'scale':>6}"
    print(f"{'':<18} {f'{args.small:,} sessions':>20} {f'{args.sessions:,} sessions':>20}")
    print(header)
    for phase in PHASES:
        a, b = small[phase], large[phase]
        print(
            f"{phase:<18} {a:>8.3f} {a / args.small * 1e6:>11.1f} "
            f"{b:>8.3f} {b / args.sessions * 1e6:>11.1f} {b / a:>6.1f}"
        )
    print(f"plan.json: {small['plan.json MB']:.1f} MB and {large['plan.json MB']:.1f} MB")
    ideal = args.sessions / args.small
    ratios = {
        "apply / floor": large["apply"] / large["floor"],
        "rollback / bare rename loop": large["rollback"] / large["bare rename loop"],
    }
    for name, ratio in ratios.items():
        verdict = "within" if ratio <= TARGET else "OVER"
        print(f"{name}: {ratio:.2f} ({verdict} the {TARGET:.0f}x target)")
    worst = max(large[p] / small[p] for p in ("plan", "apply", "rollback"))
    print(f"scaling {args.small:,} -> {args.sessions:,}: worst {worst:.1f} (linear: {ideal:.0f})")


if __name__ == "__main__":
    main()
