"""The migrator and the run as users run them, next to the floor of the same work.

    python benchmarks/bench_as_users_run.py [--sessions 10000] [--rows 200000] [--repeat 3]

Everything Osiris does here is a real `python -m osiris` process of a regular install, as
`pip install` makes it: a new venv holding this project's package, byte-compiled, with no
editable-install hook (this checkout's own venv loads one in every process, 10-20 ms that
users do not pay); its dependencies are this environment's, reached through a path file.
`PYTHONDONTWRITEBYTECODE` is removed from the children's environment. The bare DuckDB
script runs with the same Python.

Migrator: a legacy project made of `--sessions` run sessions cloned from the real run
sessions upstream v0.3.5 wrote (tests/fixtures/upstream/v035: 11 files, 34-46 event
lines, a 1.2 KB manifest each; the session id rewritten in every file but the manifest,
which its runs share as real ones do). Figures:

- apply: `osiris migrate apply --yes`, as a user types it (it plans, then applies),
  against the floor of reading and parsing each session's events, metrics and status
  (one `json.loads` per line, as the format requires), parsing each distinct manifest
  once, and renaming the folder;
- rollback: `osiris migrate rollback --yes` against a bare loop renaming each moved item
  back from where the migration put it (the same paths, made ready untimed);
- plan: `osiris migrate plan --out plan.json` (median of `--repeat` runs), per session, and
  the plan's size;
- the peak memory (resident) of `plan` and of `apply`.

Run: `osiris run` of csv -> duckdb -> csv on `--rows` rows against a Python process that
does the same with DuckDB alone (read the CSV, run the query, write the CSV), alternating,
median of 5 x `--repeat` each.

Goals (issue 17): apply <= 2x, rollback <= 2x, plan <= 0.3 ms and 0.3 KB per session,
run <= 1.5x.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from pathlib import Path
from typing import NamedTuple

import yaml

REPO = Path(__file__).resolve().parents[1]
UPSTREAM = REPO / "tests" / "fixtures" / "upstream" / "v035"
PYTHON = [sys.executable]  # main() puts the Python of the users' install here
BASE_MS = 1_800_000_000_000


def user_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSIRIS_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


class Timed(NamedTuple):
    seconds: float
    peak_mb: float  # the process's peak resident memory


def osiris_cli(*args: str, cwd: Path) -> Timed:
    """How long `osiris ARGS` takes in `cwd`, and its peak memory; it must succeed."""
    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        child = subprocess.Popen(
            [*PYTHON, "-m", "osiris", *args],
            cwd=cwd,
            env=user_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(child.pid, 0)  # the child's own rusage
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            output.seek(0)
            raise SystemExit(f"osiris {' '.join(args)} failed:\n{output.read().decode()}")
    return Timed(elapsed, usage.ru_maxrss / 1024)  # Linux: KB


# -- the legacy project ---------------------------------------------------------------------


def real_run_sessions() -> list[Path]:
    """The successful run sessions of the real v0.3.5 tree (the templates to clone)."""
    found = []
    for folder in sorted((UPSTREAM / "logs").glob("run_*")):
        status = folder / "status.json"
        if status.is_file() and json.loads(status.read_text("utf-8")).get("ok"):
            found.append(folder)
    return found


def make_project(root: Path, sessions: int) -> list[Path]:
    """`sessions` clones of the real run sessions under `root/logs`; their folders."""
    root.mkdir(parents=True)
    shutil.copy(UPSTREAM / "osiris.yaml", root / "osiris.yaml")
    templates = real_run_sessions()
    files = {
        t: [(p.relative_to(t), p.read_bytes()) for p in sorted(t.rglob("*")) if p.is_file()]
        for t in templates
    }
    folders = []
    for n in range(sessions):
        template = templates[n % len(templates)]
        old, new = template.name.encode(), f"run_{BASE_MS + 1000 * n}".encode()
        folder = root / "logs" / new.decode()
        for rel, data in files[template]:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            # The manifest is the compile's, shared by its runs: kept byte for byte.
            target.write_bytes(data if rel.name == "manifest.yaml" else data.replace(old, new))
        folders.append(folder)
    return folders


# -- floors ---------------------------------------------------------------------------------


def migrate_floor(folders: list[Path], moved: Path) -> float:
    """Read and parse what a migration must read, once per session; rename each folder
    (paths made as text before the clock starts: joining them is no part of the work)."""
    sessions = [(str(folder), f"{moved}/{folder.name}") for folder in folders]
    start = time.perf_counter()
    moved.mkdir()
    manifests: dict[bytes, object] = {}
    for folder, target in sessions:
        for name in ("events.jsonl", "metrics.jsonl"):
            with open(f"{folder}/{name}", "rb") as handle:
                for line in handle.read().splitlines():
                    json.loads(line)
        with open(f"{folder}/status.json", "rb") as handle:
            json.loads(handle.read())
        with open(f"{folder}/manifest.yaml", "rb") as handle:
            raw = handle.read()
        if raw not in manifests:
            manifests[raw] = yaml.safe_load(raw)
        os.rename(folder, target)
    return time.perf_counter() - start


def rename_back(folders: list[Path], moved: Path) -> None:
    for folder in folders:
        os.rename(moved / folder.name, folder)
    moved.rmdir()


RENAME_BACK = """\
import json, os, sys
with open(sys.argv[1], "rb") as handle:
    moves = json.loads(handle.read())
for placed, legacy in moves:
    os.rename(placed, legacy)
"""


def rollback_floor(root: Path, plan_file: Path) -> tuple[float, float]:
    """A bare loop renaming each moved item back to its legacy path: each item put where
    the plan sends it (untimed), then renamed back, the same paths the rollback renames,
    so the kernel's lookups cost the same on both sides. Timed twice: as a loop in this
    process, and as a process of its own that reads the list of moves from a JSON file
    (a command's floor: the interpreter's start and its reading of what to move back)."""
    items = json.loads(plan_file.read_text("utf-8"))["items"]
    moves = [(f"{root}/{i['dst']}", f"{root}/{i['src']}") for i in items if i["kind"] == "run"]
    made: list[Path] = []
    for placed, _ in moves:
        for folder in reversed(Path(placed).parents):
            if not folder.exists():
                folder.mkdir()
                made.append(folder)

    def place() -> None:
        for placed, legacy in moves:
            os.rename(legacy, placed)

    place()
    start = time.perf_counter()
    for placed, legacy in moves:
        os.rename(placed, legacy)
    in_process = time.perf_counter() - start
    place()
    listed = plan_file.with_name("moves.json")
    listed.write_text(json.dumps(moves), "utf-8")
    start = time.perf_counter()
    subprocess.run([*PYTHON, "-c", RENAME_BACK, str(listed)], env=user_env(), check=True)
    as_process = time.perf_counter() - start
    listed.unlink()
    for folder in reversed(made):
        folder.rmdir()
    return in_process, as_process


def measure_migrator(tmp: Path, sessions: int, repeat: int) -> dict[str, float]:
    root = tmp / "legacy"
    folders = make_project(root, sessions)
    moved = tmp / "moved"
    figures: dict[str, list[float]] = {
        k: []
        for k in (
            "floor",
            "apply",
            "back",
            "back process",
            "rollback",
            "apply MB",
            "plan",
            "plan MB",
        )
    }
    for _ in range(repeat):
        planned = osiris_cli("migrate", "plan", "--out", str(tmp / "plan.json"), cwd=root)
        figures["plan"].append(planned.seconds)
        figures["plan MB"].append(planned.peak_mb)
        figures["floor"].append(migrate_floor(folders, moved))
        rename_back(folders, moved)
        back, back_process = rollback_floor(root, tmp / "plan.json")
        figures["back"].append(back)
        figures["back process"].append(back_process)
        applied = osiris_cli("migrate", "apply", "--yes", cwd=root)
        figures["apply"].append(applied.seconds)
        figures["apply MB"].append(applied.peak_mb)
        figures["rollback"].append(osiris_cli("migrate", "rollback", "--yes", cwd=root).seconds)
        if not all(folder.is_dir() for folder in folders):
            raise SystemExit("rollback did not restore every session")
        shutil.rmtree(root / ".osiris")  # the next apply starts from the same tree
    out = {k: statistics.median(v) for k, v in figures.items()}
    out["plan per session ms"] = 1000 * out.pop("plan") / sessions
    out["plan per session KB"] = (tmp / "plan.json").stat().st_size / 1000 / sessions
    return out


# -- the run --------------------------------------------------------------------------------

PIPELINE = """\
oml_version: "0.1.0"
name: bench
steps:
  - id: extract
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: totals
    component: duckdb.processor
    mode: transform
    config: {query: "SELECT country, COUNT(*) AS n, SUM(amount) AS total FROM input_df
      GROUP BY country ORDER BY country"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    config: {path: output/totals.csv}
"""
BARE = """\
import duckdb
con = duckdb.connect()
con.execute("CREATE TABLE o AS SELECT * FROM read_csv('data/orders.csv', header=true)")
con.execute("CREATE TABLE t AS SELECT country, COUNT(*) AS n, SUM(amount) AS total FROM o "
            "GROUP BY country ORDER BY country")
con.execute("COPY t TO 'output/bare.csv' (HEADER, DELIMITER ',')")
"""


def measure_run(tmp: Path, rows: int, repeat: int) -> dict[str, float]:
    root = tmp / "run"
    (root / "data").mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "output").mkdir()
    (root / "osiris.yaml").write_text("ids: {run_id_format: [incremental]}\n")
    (root / "pipelines" / "bench.yaml").write_text(PIPELINE)
    countries = ("DE", "IT", "FR", "CZ", "PL", "ES")
    with open(root / "data" / "orders.csv", "w", encoding="utf-8") as handle:
        handle.write("order_id,country,amount\n")
        for n in range(rows):
            handle.write(f"{n},{countries[n % 6]},{n % 1000 + 0.5}\n")
    osiris_cli("compile", "pipelines/bench.yaml", cwd=root)
    runs, bare = [], []
    for _ in range(5 * repeat):  # a run is short and the machine's noise is not: more samples
        runs.append(osiris_cli("run", "--last-compile", "--quiet", cwd=root).seconds)
        start = time.perf_counter()
        subprocess.run([*PYTHON, "-c", BARE], cwd=root, env=user_env(), check=True)
        bare.append(time.perf_counter() - start)
    return {"run": statistics.median(runs), "bare duckdb": statistics.median(bare)}


def users_python(tmp: Path) -> str:
    """The Python of a new venv where this project is installed as `pip install` does it."""
    folder = tmp / "venv"
    venv.create(folder, with_pip=False)
    paths = {"base": str(folder), "platbase": str(folder)}
    site = Path(sysconfig.get_path("purelib", vars=paths))
    package = site / "osiris"
    shutil.copytree(REPO / "osiris", package, ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(package, quiet=1)
    # Only the folder: the path files in it (the editable-install hook) are not run.
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return str(folder / "bin" / "python")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="osiris-bench-users-") as tmp:
        PYTHON[:] = [users_python(Path(tmp))]
        mig = measure_migrator(Path(tmp), args.sessions, args.repeat)
        run = measure_run(Path(tmp), args.rows, args.repeat)
    print(
        f"migrator, {args.sessions:,} sessions cloned from upstream v0.3.5 (median of "
        f"{args.repeat}):"
    )
    print(
        f"  apply     {mig['apply']:7.2f} s   floor {mig['floor']:6.2f} s   "
        f"{mig['apply'] / mig['floor']:5.2f}x  (goal <= 2x)"
    )
    print(
        f"  rollback  {mig['rollback']:7.2f} s   floor {mig['back']:6.2f} s   "
        f"{mig['rollback'] / mig['back']:5.2f}x  (goal <= 2x)"
    )
    print(
        f"               same loop as a process {mig['back process']:6.2f} s   "
        f"{mig['rollback'] / mig['back process']:5.2f}x"
    )
    print(
        f"  plan      {mig['plan per session ms']:7.3f} ms/session, "
        f"{mig['plan per session KB']:.2f} KB/session  (goal <= 0.3 ms, 0.3 KB)"
    )
    print(f"  peak memory: plan {mig['plan MB']:.0f} MB, apply {mig['apply MB']:.0f} MB")
    print(f"run, csv -> duckdb -> csv, {args.rows:,} rows (median of {5 * args.repeat}):")
    print(
        f"  osiris run {run['run']:6.3f} s   bare DuckDB {run['bare duckdb']:6.3f} s   "
        f"{run['run'] / run['bare duckdb']:5.2f}x  (goal <= 1.5x)"
    )


if __name__ == "__main__":
    main()
