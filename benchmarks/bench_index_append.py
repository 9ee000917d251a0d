"""Measure run index append latency (fsync included) and a limited query on a large index."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from osiris.core.fsio import canonical_json
from osiris.core.run_index import RunIndexReader, RunIndexWriter, RunRecord

SLUGS = ("orders", "users", "payments")


def synthetic_record(i: int) -> RunRecord:
    """A run record shaped like the ones the runner writes."""
    slug = SLUGS[i % len(SLUGS)]
    run_id = f"run-{i:06d}_01J9Z8KQ8R{i:016d}"
    return RunRecord(
        run_id=run_id,
        pipeline_slug=slug,
        profile="dev",
        manifest_hash="3f9a" * 16,
        manifest_short="3f9a3f9",
        run_ts="20251007T142219Z",
        started_at="2025-10-07T14:22:19.123Z",
        finished_at="2025-10-07T14:22:21.456Z",
        status="success" if i % 10 else "failed",
        duration_ms=2333,
        rows_in=1000,
        rows_out=998,
        run_logs_path=f"run_logs/dev/{slug}/20251007T142219Z_{run_id}-3f9a3f9",
        aiop_path=f"aiop/dev/{slug}/3f9a3f9-{'3f9a' * 16}/{run_id}",
        build_manifest_path=f"build/pipelines/dev/{slug}/3f9a3f9-{'3f9a' * 16}/manifest.yaml",
        tags=("nightly",),
        branch="main",
        user="bench",
        git_commit="0" * 40,
        fs_mode="contract",
    )


def timed_ms(action: Callable[[], object]) -> float:
    """Wall time of one call, in milliseconds."""
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[18]


def bench_append(root: Path, existing: int, appends: int) -> list[float]:
    writer = RunIndexWriter(root)
    writer.append_many(synthetic_record(i) for i in range(existing))
    return [
        timed_ms(lambda i=i: writer.append(synthetic_record(i)))
        for i in range(existing, existing + appends)
    ]


def bench_query(root: Path, records: int, limit: int, repeats: int) -> tuple[list[float], float]:
    # Written directly, without fsync per record: only the reader is measured here.
    lines = (canonical_json(synthetic_record(i).to_dict()) + "\n" for i in range(records))
    (root / "runs.jsonl").write_text("".join(lines), encoding="utf-8")
    reader = RunIndexReader(root, root)
    limited = [timed_ms(lambda: reader.query(limit=limit)) for _ in range(repeats)]
    return limited, timed_ms(reader.query)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--existing", type=int, default=1000, help="records before timing")
    parser.add_argument("--appends", type=int, default=200, help="appends to time")
    parser.add_argument("--big", type=int, default=100_000, help="records in the query index")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=50, help="limited queries to time")
    parser.add_argument("--dir", type=Path, help="where to build the indexes (default: a temp dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        append_ms = bench_append(Path(tmp) / "append", args.existing, args.appends)
        big = Path(tmp) / "query"
        big.mkdir()
        limited_ms, full_ms = bench_query(big, args.big, args.limit, args.repeats)
        size_mb = (big / "runs.jsonl").stat().st_size / 1e6

    rows = [
        (f"append (index of {args.existing}, n={args.appends})", append_ms),
        (f"query(limit={args.limit}) on {args.big} records ({size_mb:.0f} MB)", limited_ms),
    ]
    print(f"{'measure':<52} {'median ms':>10} {'p95 ms':>10}")
    for name, samples in rows:
        print(f"{name:<52} {statistics.median(samples):>10.3f} {p95(samples):>10.3f}")
    print(f"{f'query() without limit on {args.big} records (once)':<52} {full_ms:>10.1f}")


if __name__ == "__main__":
    main()
