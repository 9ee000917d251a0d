"""How fast Ctrl-C stops a run: SIGINT to a real `osiris run` whose DuckDB step would run for
hours, timed from the signal to the process's exit (run recorded as `interrupted`).

    python benchmarks/bench_interrupt.py [--repeat 5]

Goal (issue 16): under one second. Stops inside a pure-Python step (a CSV read) are
reached by Python's own SIGINT handling and are not the hard case.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ORDERS = "order_id,amount\n" + "".join(f"{n},{n * 1.5}\n" for n in range(1000))
ENDLESS = """\
oml_version: "0.1.0"
name: endless
steps:
  - id: extract
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: spin
    component: duckdb.processor
    mode: transform
    needs: [extract]
    config: {query: "SELECT count(*) AS n FROM range(1000000000000) a, input_df"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    needs: [spin]
    config: {path: output/endless.csv}
"""


def make_project(root: Path) -> None:
    (root / "data").mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "osiris.yaml").write_text("{}\n")
    (root / "data/orders.csv").write_text(ORDERS)
    (root / "pipelines/endless.yaml").write_text(ENDLESS)


def stop_seconds(project: Path) -> float:
    """Start the run, SIGINT it once the endless step started; seconds until it exited."""
    process = subprocess.Popen(
        [sys.executable, "-m", "osiris", "run", "pipelines/endless.yaml"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("step spin started"):
            break
    time.sleep(0.5)  # let the query get going
    sent = time.perf_counter()
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=120)
    elapsed = time.perf_counter() - sent
    if process.returncode != 130:
        raise SystemExit(f"expected exit 130, got {process.returncode}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="osiris-bench-interrupt-") as tmp:
        project = Path(tmp) / "proj"
        make_project(project)
        samples = [stop_seconds(project) for _ in range(args.repeat)]
        statuses = {
            json.loads(line)["status"]
            for line in (project / ".osiris/index/runs.jsonl").read_text().splitlines()
        }
    print(
        f"Ctrl-C to exit, {args.repeat} runs: median {statistics.median(samples):.3f} s, "
        f"max {max(samples):.3f} s (goal < 1 s); recorded statuses: {sorted(statuses)}"
    )


if __name__ == "__main__":
    main()
