"""Run time of the demo pipeline in `dual` vs `contract` mode (target: dual within 10%).

In-process, through the library (no CLI, no interpreter start-up): the pipeline is compiled
once, then run N times in each mode, interleaved (ABBA order, so drift hits both modes
alike) in one fresh copy of examples/orders. Reported: median and p95 per mode, the ratio
of the medians, and the median of the per-pair ratios (robust when the machine's load
changes during the measurement).
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from osiris.compat.mode import compile_for_mode, outputs_for
from osiris.core.compiler import LoadedBuild, load_build
from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from osiris.core.runner import RunRequest, execute, plan_run

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "orders"
PIPELINE = "pipelines/orders_by_country.yaml"
MODES = ("contract", "dual")
TARGET = 1.10


def p95(samples: list[float]) -> float:
    """Nearest-rank 95th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def run_once(build: LoadedBuild, contract: FilesystemContract, run_ids: list[str], mode: str):
    """One run in `mode`; its wall time in milliseconds."""
    request = RunRequest(
        contract=contract,
        run_id_format=run_ids,
        env={},
        outputs=outputs_for(mode, contract, run_ids),
    )
    start = time.perf_counter()
    result = execute(build, request, plan_run(build, request))
    elapsed = (time.perf_counter() - start) * 1000
    if not result.ok or result.warnings:
        raise SystemExit(f"{mode} run failed: {result.error or result.warnings}")
    return elapsed


def measure(project: Path, repeat: int, warmup: int) -> dict[str, list[float]]:
    """Per mode, `repeat` timed runs (after `warmup` untimed pairs), interleaved ABBA."""
    resolved = load_config(project, env={})
    contract = FilesystemContract.from_resolved(resolved)
    compiled = compile_for_mode(
        "contract",
        project / PIPELINE,
        resolved=resolved,
        contract=contract,
        profile=None,
        cli_params={},
    )
    build = load_build(compiled.manifest_path)
    run_ids = list(resolved.config.ids.run_id_format)
    samples: dict[str, list[float]] = {mode: [] for mode in MODES}
    for i in range(warmup + repeat):
        for mode in MODES if i % 2 == 0 else reversed(MODES):
            elapsed = run_once(build, contract, run_ids, mode)
            if i >= warmup:
                samples[mode].append(elapsed)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=40, help="timed runs per mode")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per mode first")
    parser.add_argument("--dir", type=Path, help="where to put the project copy (default: tmp)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        project = Path(tmp) / "orders"
        shutil.copytree(EXAMPLE, project)
        samples = measure(project, args.repeat, args.warmup)

    print(f"demo pipeline run, n={args.repeat} per mode (after {args.warmup} warm-up), in-process")
    print(f"{'mode':<10} {'median ms':>10} {'p95 ms':>10}")
    medians = {}
    for mode in MODES:
        medians[mode] = statistics.median(samples[mode])
        print(f"{mode:<10} {medians[mode]:>10.1f} {p95(samples[mode]):>10.1f}")
    ratio = medians["dual"] / medians["contract"]
    pairs = [d / c for d, c in zip(samples["dual"], samples["contract"], strict=True)]
    paired = statistics.median(pairs)
    verdict = "within" if max(ratio, paired) <= TARGET else "OVER"
    print(f"dual / contract: medians {ratio:.3f}, paired median {paired:.3f}")
    print(f"{verdict} the {TARGET - 1:.0%} target")


if __name__ == "__main__":
    main()
