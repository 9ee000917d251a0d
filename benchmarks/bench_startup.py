"""Measure CLI start-up: wall time of `osiris --version`, `osiris --help` and `run --help`.

Each command runs as a real process (the installed console script), N times; `python -c
pass` is the floor any Python CLI pays, so the last column is what Osiris adds to it.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def wall_ms(command: list[str], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def console_script() -> str:
    """The `osiris` script next to this interpreter (a venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("osiris")
    found = str(beside) if beside.is_file() else shutil.which("osiris")
    if found is None:
        raise SystemExit("osiris is not installed for this interpreter (pip install -e .)")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20, help="runs per command")
    args = parser.parse_args()

    osiris = console_script()
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "osiris --version": [osiris, "--version"],
        "osiris --help": [osiris, "--help"],
        "osiris run --help": [osiris, "run", "--help"],
    }
    wall_ms(commands["osiris --version"], 2)  # warm the OS file cache, untimed
    results = {name: wall_ms(command, args.repeat) for name, command in commands.items()}
    floor = statistics.median(results["python -c pass (floor)"])

    print(f"start-up wall time, n={args.repeat}")
    print(f"{'command':<24} {'median ms':>10} {'p95 ms':>10} {'over floor':>11}")
    for name, samples in results.items():
        median = statistics.median(samples)
        print(f"{name:<24} {median:>10.1f} {p95(samples):>10.1f} {median - floor:>11.1f}")


if __name__ == "__main__":
    main()
