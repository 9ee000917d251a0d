"""Measure compile and run of the demo pipeline, as a real CLI process and in-process.

Each repetition works in a fresh copy of examples/orders and times, for one profile:
`compile` (writes the build), `compile` again (unchanged, a no-op) and `run --last-compile`.
The in-process figures call `osiris.cli.main.main`, so they leave out interpreter start-up
and imports (after the warm-up repetitions).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from osiris.cli.main import main as osiris_main

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "orders"
PIPELINE = "pipelines/orders_by_country.yaml"
STEPS = ("compile (new build)", "compile (unchanged)", "run --last-compile")


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def in_process(args: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            osiris_main(args)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
    return 0


def as_process(args: list[str]) -> int:
    done = subprocess.run([sys.executable, "-m", "osiris", *args], capture_output=True, check=False)
    return done.returncode


def repetition(root: Path, profile: str, invoke: Callable[[list[str]], int]) -> list[float]:
    """Time the three steps in a fresh project copy under `root`; milliseconds each."""
    project = root / "orders"
    shutil.copytree(EXAMPLE, project)
    base = ["--project", str(project)]
    commands = [
        [*base, "compile", str(project / PIPELINE), "-p", profile],
        [*base, "compile", str(project / PIPELINE), "-p", profile],
        [*base, "run", "--last-compile", "-p", profile],
    ]
    timings = []
    for command in commands:
        start = time.perf_counter()
        code = invoke(command)
        timings.append((time.perf_counter() - start) * 1000)
        if code != 0:
            raise SystemExit(f"osiris {' '.join(command)} exited {code}")
    return timings


def measure(
    invoke: Callable[[list[str]], int], repeat: int, warmup: int, profile: str, tmp: Path
) -> list[list[float]]:
    """Per step, the samples of `repeat` repetitions (after `warmup` untimed ones)."""
    samples: list[list[float]] = [[] for _ in STEPS]
    for i in range(warmup + repeat):
        root = tmp / f"{invoke.__name__}-{i}"
        timings = repetition(root, profile, invoke)
        if i >= warmup:
            for step, value in zip(samples, timings, strict=True):
                step.append(value)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=10, help="timed repetitions per mode")
    parser.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
    parser.add_argument("--profile", default="dev", help="profile to compile and run")
    parser.add_argument("--dir", type=Path, help="where to put the project copies (default: tmp)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        results = {
            "process": measure(as_process, args.repeat, args.warmup, args.profile, Path(tmp)),
            "in-process": measure(in_process, args.repeat, args.warmup, args.profile, Path(tmp)),
        }

    print(f"demo pipeline, profile {args.profile}, n={args.repeat} (after {args.warmup} warm-up)")
    print(f"{'mode':<12} {'step':<22} {'median ms':>10} {'p95 ms':>10}")
    for mode, per_step in results.items():
        for step, samples in zip(STEPS, per_step, strict=True):
            median = statistics.median(samples)
            print(f"{mode:<12} {step:<22} {median:>10.1f} {p95(samples):>10.1f}")


if __name__ == "__main__":
    main()
