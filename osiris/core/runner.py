"""The local runner: executes a compiled build and records the run (contract.md §6).

For every run, failed or not: a run directory with its logs, an AIOP pack and an index
record. DuckDB is imported only here and in the drivers, never at CLI start-up.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from osiris.core import aiop
from osiris.core.build_reader import LoadedBuild
from osiris.core.data_plane import data_plane
from osiris.core.fs_paths import FilesystemContract, RunNaming, current_user, safe_token
from osiris.core.fsio import atomic_write_bytes, pretty_json
from osiris.core.gitinfo import git_info
from osiris.core.interrupts import interrupting, sigint_deferred
from osiris.core.registry import driver_for
from osiris.core.run_ids import CounterStore, RunIdGenerator
from osiris.core.run_index import RunIndexWriter, RunRecord, utc_now_iso
from osiris.core.run_log import RunLog, WriteObserver, open_run_log
from osiris.core.secrets import mask, redact
from osiris.core.step_config import StepSettings, resolve_steps
from osiris.drivers.base import StepContext, table_name
from osiris.errors import Interrupted, OperationFailed, UsageError

INTERRUPTED = "interrupted"  # a run stopped by Ctrl-C: its status everywhere, exit 130


@dataclass(frozen=True)
class RunRequest:
    """Everything a run needs besides the build itself."""

    contract: FilesystemContract
    run_id_format: list[str]
    tags: tuple[str, ...] = ()
    verbose: bool = False
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    outputs: RunOutputs | None = None  # None: the contract layout (ContractOutputs)
    project_dir: Path | None = None  # where osiris_connections.yaml is; None: base_path
    progress: Callable[[str], None] | None = None  # gets each step's start and end line

    @property
    def sink(self) -> RunOutputs:
        return self.outputs or ContractOutputs(self.contract, self.run_id_format)

    def step_settings(self, build: LoadedBuild) -> dict[str, StepSettings]:
        """Every step's resolved settings; raises (exit 2) before anything is written."""
        return resolve_steps(build, self.project_dir or self.contract.base_path, self.env)


@dataclass(frozen=True)
class RunResult:
    """What a finished run produced, for the CLI to render."""

    record: RunRecord
    run_dir: Path
    aiop_dir: Path
    manifest_path: Path
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.record.status == "success"


@dataclass(frozen=True)
class RunPlan:
    """The names and paths a run will use, resolved before anything is written."""

    run_id: str
    naming: RunNaming
    started_at: datetime
    run_dir: Path
    aiop_dir: Path
    git_commit: str = ""
    mirror_dir: Path | None = None  # dual mode: the legacy copy of the run folder


class RunOutputs(Protocol):
    """Where a run goes: the contract layout here; legacy and dual in `osiris/compat/`.

    `place` may rename the run (legacy sessions are named `run_<epoch_ms>`), `observers`
    are told about every file the run writes, and `finish` stores the AIOP pack and the
    index record once `run_end` is written; it returns warnings instead of failing the run.
    """

    fs_mode: str

    @property
    def notes(self) -> list[str]: ...  # what choosing the run id had to repair, for warnings

    def new_run_id(self, slug: str, started_at: datetime, *, dry_run: bool) -> str: ...

    def place(self, plan: RunPlan) -> RunPlan: ...

    def observers(self, plan: RunPlan) -> list[WriteObserver]: ...

    def finish(self, plan: RunPlan, pack: aiop.AiopPack, record: RunRecord) -> list[str]: ...


class ContractOutputs:
    """The contract layout: AIOP pack under `aiop/`, record in `.osiris/index/`."""

    fs_mode = "contract"

    def __init__(self, contract: FilesystemContract, run_id_format: list[str]) -> None:
        self.contract = contract
        self.run_id_format = run_id_format
        self.notes: list[str] = []

    def new_run_id(self, slug: str, started_at: datetime, *, dry_run: bool) -> str:
        """A new run id; a dry run only reads the counter, so it writes nothing."""
        counters = CounterStore(self.contract.counters_db)
        if not dry_run:
            try:
                return RunIdGenerator(self.run_id_format, counters).generate(slug, started_at)
            finally:
                self.notes.extend(counters.notes)
        parts = []
        for token in self.run_id_format:
            if token == "incremental":
                parts.append(f"run-{counters.peek(slug) + 1:06d}")
            else:
                parts.append(RunIdGenerator([token], None).generate(slug, started_at))
        return "_".join(parts)

    def place(self, plan: RunPlan) -> RunPlan:
        return plan

    def observers(self, plan: RunPlan) -> list[WriteObserver]:
        return []

    def finish(self, plan: RunPlan, pack: aiop.AiopPack, record: RunRecord) -> list[str]:
        aiop.write_pack(plan.aiop_dir, pack)
        try:
            RunIndexWriter(self.contract.index_dir).append(record)
        except OperationFailed as exc:
            raise OperationFailed(
                f"run {record.run_id} ended ({record.status}) but {exc.message}; its run logs "
                f"are in {self.contract.relative(plan.run_dir)}",
                path=exc.path,
                hint=exc.hint,
            ) from exc
        return []


def plan_run(build: LoadedBuild, request: RunRequest, *, dry_run: bool = False) -> RunPlan:
    """Resolve run id and paths; with `dry_run` nothing is written, not even the counter."""
    contract = request.contract
    started_at = datetime.now(timezone.utc)
    run_id = request.sink.new_run_id(build.pipeline_slug, started_at, dry_run=dry_run)
    git = git_info(contract.base_path)
    naming = RunNaming(
        pipeline_slug=build.pipeline_slug,
        profile=build.profile,
        manifest_hash=build.manifest_hash,
        manifest_short=contract.manifest_short(build.manifest_hash),
        run_id=safe_token(run_id),
        run_ts=contract.run_ts(started_at),
        tags=tuple(sorted(safe_token(t) for t in request.tags if safe_token(t))),
        branch=safe_token(git.branch),
        user=current_user(),
    )
    plan = RunPlan(
        run_id=naming.run_id,
        naming=naming,
        started_at=started_at,
        run_dir=contract.run_dir(naming),
        aiop_dir=contract.aiop_run_dir(naming),
        git_commit=git.commit,
    )
    return request.sink.place(plan)


def execute(
    build: LoadedBuild,
    request: RunRequest,
    plan: RunPlan,
    settings: dict[str, StepSettings] | None = None,
) -> RunResult:
    """Run every step in order and write run logs, AIOP pack and index record.

    `settings` are the steps' resolved settings (`RunRequest.step_settings`), resolved here
    when not given."""
    settings = request.step_settings(build) if settings is None else settings
    contract = request.contract
    sink = request.sink
    clock = time.monotonic()
    error: str | None = None
    with open_run_log(
        plan.run_dir,
        session=plan.run_id,
        verbose=request.verbose,
        observers=sink.observers(plan),
    ) as run_log:
        run_log.write_file("manifest.yaml", (build.build_dir / "manifest.yaml").read_bytes())
        run_log.event(
            "run_start",
            run_id=plan.run_id,
            pipeline_id=build.manifest["pipeline"]["id"],
            pipeline_slug=build.pipeline_slug,
            profile=build.profile,
            manifest_hash=build.manifest_hash,
            manifest_short=plan.naming.manifest_short,
            manifest_path=contract.relative(build.build_dir / "manifest.yaml"),
            fs_mode=sink.fs_mode,
            tags=list(plan.naming.tags),
        )
        run_log.log(f"run {plan.run_id} of {build.pipeline_slug} started ({sink.fs_mode} mode)")
        run_log.touch("metrics.jsonl")  # a run whose first step fails has no metric
        error, interrupted = _run_steps(build, request, settings, run_log)
        # A second Ctrl-C waits until the run is recorded, so no record is torn.
        with sigint_deferred():
            status = INTERRUPTED if interrupted else "success" if error is None else "failed"
            duration_ms = int((time.monotonic() - clock) * 1000)
            _finish_log(run_log, build, plan, contract, status, error, duration_ms)
            pack = aiop.build_pack(run_log.events, run_log.metrics)
    with sigint_deferred():
        record = _index_record(build, request, plan, pack, status, duration_ms, error)
        warnings = [*sink.notes, *sink.finish(plan, pack, record)]
    if interrupted:
        raise Interrupted(
            f"run {plan.run_id} of {build.pipeline_slug} stopped by Ctrl-C; recorded as "
            f"{INTERRUPTED} in {contract.relative(plan.run_dir)}"
        )
    return RunResult(
        record=record,
        run_dir=plan.run_dir,
        aiop_dir=plan.aiop_dir,
        manifest_path=build.build_dir / "manifest.yaml",
        error=error,
        warnings=warnings,
    )


def _finish_log(
    run_log: RunLog,
    build: LoadedBuild,
    plan: RunPlan,
    contract: FilesystemContract,
    status: str,
    error: str | None,
    duration_ms: int,
) -> None:
    steps_done = sum(1 for e in run_log.events if e["event"] == "step_complete")
    # Legacy readers take status from these keys (legacy-layout.md §2), so one file serves both.
    run_log.write_json(
        "status.json",
        {
            "run_id": plan.run_id,
            "status": status,
            "ok": status == "success",
            "exit_code": {"success": 0, INTERRUPTED: 130}.get(status, 1),
            "steps_completed": steps_done,
            "steps_total": len(build.order),
            "reason": error,
            "session_path": contract.relative(plan.run_dir),
            "events_jsonl_exists": True,
        },
    )
    run_log.log(f"run {plan.run_id} finished: {status} in {duration_ms} ms")
    if error is None:
        run_log.event("run_complete")
    else:
        run_log.event("run_error", error=error)
    run_log.event("run_end", status=status, duration_ms=duration_ms)


def _run_steps(
    build: LoadedBuild,
    request: RunRequest,
    settings: dict[str, StepSettings],
    run_log: RunLog,
) -> tuple[str | None, bool]:
    """Run the steps in order; returns the run's error (None: success) and whether
    Ctrl-C stopped it."""
    for step in build.order:
        # As upstream's run folders: every step's cfg (references as written, secrets masked).
        cfg = mask(json.loads(build.cfg_bytes(step)))
        run_log.write_json(f"cfg/{step['id']}.json", cfg)
    failure: str | None = None
    with data_plane() as connection, interrupting(connection) as pressed:
        for index, step in enumerate(build.order):
            step_id = step["id"]
            if failure is not None:
                run_log.event("step_skipped", step_id=step_id, reason="an earlier step failed")
                continue
            try:
                failure = _run_step(
                    step, build.cfgs[step_id], settings[step_id], connection, request, run_log
                )
                if pressed.is_set():  # the query gave way before Python raised
                    raise KeyboardInterrupt
            except KeyboardInterrupt:
                with sigint_deferred():
                    _record_interruption(build, index, request, run_log)
                return f"interrupted by the user (Ctrl-C) during step {step_id}", True
    return failure, False


def _record_interruption(
    build: LoadedBuild, index: int, request: RunRequest, run_log: RunLog
) -> None:
    step_id = build.order[index]["id"]
    run_log.event("step_interrupted", step_id=step_id)
    _say(run_log, request, f"step {step_id} interrupted (Ctrl-C)", level="WARNING")
    for rest in build.order[index + 1 :]:
        run_log.event("step_skipped", step_id=rest["id"], reason="the run was interrupted")


def _say(run_log: RunLog, request: RunRequest, line: str, *, level: str = "INFO") -> None:
    """A progress line: into the run's osiris.log and to the CLI, the same text."""
    run_log.log(line, level=level)
    if request.progress is not None:
        request.progress(line)


def _run_step(
    step: dict[str, Any],
    cfg: dict[str, Any],
    settings: StepSettings,
    connection: Any,
    request: RunRequest,
    run_log: RunLog,
) -> str | None:
    step_id = step["id"]
    run_log.event("step_start", step_id=step_id, component=cfg["component"], mode=cfg["mode"])
    _say(run_log, request, f"step {step_id} started ({cfg['component']}, {cfg['mode']})")
    run_log.debug(f"step {step_id} config: {mask(cfg['config'])}")
    artifacts = run_log.artifacts_dir(step_id)
    atomic_write_bytes(artifacts / "cleaned_config.json", pretty_json(settings.cleaned).encode())
    started = time.monotonic()
    try:
        context = StepContext(
            step_id=step_id,
            config=settings.config,
            connection=connection,
            inputs={need: table_name(need) for need in step.get("needs", [])},
            base_path=request.contract.base_path,
            artifacts_dir=artifacts,
            log=lambda message: run_log.log(redact(message, set(settings.secrets))),
        )
        result = driver_for(cfg["component"]).run(context)
    except Exception as exc:
        # A secret can come back quoted in an error (a DSN, DuckDB echoing the query).
        message = redact(_one_line(exc), set(settings.secrets))
        run_log.report_artifacts(step_id)
        run_log.event("step_error", step_id=step_id, error=message)
        _say(run_log, request, f"step {step_id} failed: {message}", level="ERROR")
        return f"step {step_id} failed: {message}"
    duration_ms = int((time.monotonic() - started) * 1000)
    run_log.report_artifacts(step_id)
    run_log.metric("rows_read", result.rows_in, step_id=step_id, unit="rows")
    run_log.metric("rows_written", result.rows_out, step_id=step_id, unit="rows")
    run_log.metric("step_duration_ms", duration_ms, step_id=step_id, unit="ms")
    run_log.event(
        "step_complete",
        step_id=step_id,
        rows_in=result.rows_in,
        rows_out=result.rows_out,
        duration_ms=duration_ms,
    )
    _say(
        run_log,
        request,
        f"step {step_id} done: {result.rows_in} rows in, {result.rows_out} rows out, "
        f"{duration_ms} ms",
    )
    return None


def _one_line(exc: BaseException) -> str:
    """`Type: message` on one line (database errors often span several)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _index_record(
    build: LoadedBuild,
    request: RunRequest,
    plan: RunPlan,
    pack: aiop.AiopPack,
    status: str,
    duration_ms: int,
    error: str | None,
) -> RunRecord:
    contract = request.contract
    return RunRecord(
        run_id=plan.run_id,
        pipeline_slug=build.pipeline_slug,
        profile=build.profile,
        manifest_hash=build.manifest_hash,
        manifest_short=plan.naming.manifest_short,
        run_ts=plan.naming.run_ts,
        started_at=utc_now_iso(plan.started_at),
        finished_at=utc_now_iso(),
        status=status,
        error=error,
        duration_ms=duration_ms,
        rows_in=pack.summary["rows_in"],
        rows_out=pack.summary["rows_out"],
        run_logs_path=contract.relative(plan.run_dir),
        aiop_path=contract.relative(plan.aiop_dir),
        build_manifest_path=contract.relative(build.build_dir / "manifest.yaml"),
        tags=plan.naming.tags,
        branch=plan.naming.branch,
        user=plan.naming.user,
        git_commit=plan.git_commit,
        fs_mode=request.sink.fs_mode,
        # Lets readers and `migrate verify` pair a dual-mode run with its legacy mirror.
        extra={"legacy_mirror": contract.relative(plan.mirror_dir)} if plan.mirror_dir else {},
    )


def copy_run_logs(result: RunResult, out_dir: Path) -> Path:
    """Copy a finished run's log folder into `out_dir` (`--out`); never over an existing one."""
    destination = Path(out_dir) / result.run_dir.name
    if destination.exists():
        raise UsageError(
            "the destination already exists and is never overwritten",
            path=destination,
            hint="choose another --out folder",
        )
    shutil.copytree(result.run_dir, destination, symlinks=True)
    return destination
