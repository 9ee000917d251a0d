"""Start-up cost of `osiris runs list --limit 20` on a 100,000-run index vs `osiris --version`.

Both run as subprocesses of the installed console script; the medians of N runs of each are
compared. Target: `runs list` within 2x of `--version`, whatever the size of the index.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from osiris.core.fsio import canonical_json
from osiris.core.run_index import utc_now_iso

SLUGS = ("orders", "users", "payments")
START = datetime(2025, 10, 7, 14, 22, 19, 123000, tzinfo=timezone.utc)
HASH = "3f9a" * 16


def synthetic_line(i: int) -> str:
    """One index line shaped like the runner's records: run i starts i minutes after the
    first and ends 2.3 s later, so the index holds them in the order they ended."""
    slug = SLUGS[i % len(SLUGS)]
    run_id = f"run-{i:06d}_01J9Z8KQ8R{i:016d}"
    started = START + timedelta(minutes=i)
    record = {
        "run_id": run_id,
        "pipeline_slug": slug,
        "profile": "dev",
        "manifest_hash": HASH,
        "manifest_short": HASH[:7],
        "run_ts": f"{started:%Y%m%dT%H%M%SZ}",
        "started_at": utc_now_iso(started),
        "finished_at": utc_now_iso(started + timedelta(seconds=2.333)),
        "status": "success" if i % 10 else "failed",
        "duration_ms": 2333,
        "rows_in": 1000,
        "rows_out": 998,
        "run_logs_path": f"run_logs/dev/{slug}/{started:%Y%m%dT%H%M%SZ}_{run_id}-{HASH[:7]}",
        "aiop_path": f"aiop/dev/{slug}/{HASH[:7]}-{HASH}/{run_id}",
        "build_manifest_path": f"build/pipelines/dev/{slug}/{HASH[:7]}-{HASH}/manifest.yaml",
        "tags": ["nightly"],
        "branch": "main",
        "user": "bench",
        "git_commit": "0" * 40,
        "fs_mode": "contract",
        "source": "contract",
    }
    return canonical_json(record) + "\n"


def make_project(root: Path, runs: int) -> None:
    """An empty project whose index holds `runs` records (written directly, no fsync)."""
    (root / "osiris.yaml").write_text("{}\n", encoding="utf-8")
    index = root / ".osiris" / "index"
    index.mkdir(parents=True)
    with open(index / "runs.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(synthetic_line(i) for i in range(runs))


def child_env(pycache: Path) -> dict[str, str]:
    """This environment, with bytecode cached (in `pycache`) as an installed Osiris has it.

    Without a bytecode cache (PYTHONDONTWRITEBYTECODE) every start would compile Osiris'
    modules from source, which measures the compiler rather than the command.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSIRIS_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    # The per-user cache of parsed osiris.yaml files (filled by the warm-up run) stays in
    # the temporary folder too.
    env["XDG_CACHE_HOME"] = str(pycache.parent / "xdg-cache")
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def medians(
    command: list[str], repeats: int, cwd: Path, env: dict[str, str]
) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of `repeats` runs of `command`.

    One warm-up run comes first. CPU time is reported too because it hardly moves when
    other processes compete for the machine, while wall time does.
    """
    wall, cpu = [], []
    for attempt in range(repeats + 1):
        cpu_before, start = children_cpu(), time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
        if attempt:
            wall.append(time.perf_counter() - start)
            cpu.append(children_cpu() - cpu_before)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000, help="records in the index")
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per command")
    parser.add_argument("--dir", type=Path, help="where to build the project (default: temp)")
    args = parser.parse_args()
    osiris = shutil.which("osiris", path=str(Path(sys.executable).parent)) or "osiris"

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        make_project(root, args.runs)
        env = child_env(Path(tmp) / "pycache")
        size_mb = (root / ".osiris" / "index" / "runs.jsonl").stat().st_size / 1e6
        commands = {
            "osiris --version": [osiris, "--version"],
            "osiris runs list --limit 20": [osiris, "runs", "list", "--limit", "20"],
            "osiris runs list --limit 20 --json": [
                osiris,
                "runs",
                "list",
                "--limit",
                "20",
                "--json",
            ],
        }
        results = {name: medians(cmd, args.repeats, root, env) for name, cmd in commands.items()}

    print(f"index: {args.runs} runs ({size_mb:.0f} MB); median of {args.repeats} runs each")
    print(f"{'command':<36} {'wall ms':>8} {'x':>6} {'cpu ms':>8} {'x':>6}")
    base_wall, base_cpu = results["osiris --version"]
    for name, (wall, cpu) in results.items():
        print(
            f"{name:<36} {wall * 1000:>8.1f} {wall / base_wall:>6.2f} "
            f"{cpu * 1000:>8.1f} {cpu / base_cpu:>6.2f}"
        )
    wall, cpu = results["osiris runs list --limit 20"]
    print(
        f"runs list / --version: {wall / base_wall:.2f} wall, {cpu / base_cpu:.2f} cpu "
        "(target: within 2x)"
    )


if __name__ == "__main__":
    main()
