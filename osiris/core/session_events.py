"""What an upstream-style `events.jsonl` and `metrics.jsonl` say about one session.

The upstream releases write one event vocabulary (legacy-layout.md §2, and
docs/migration/upstream-trees.md): the 0.3.x session folders `logs/<session_id>/` and the 0.5.x
run folders under `run_logs/` alike. Status has no field of its own, a run writes two or three
`run_start` lines, and rows come as metrics without a step. This module turns such a
session into facts; it knows no path, so the legacy reader and the contract reader share it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from osiris.core.run_index import parse_moment

Status = Literal["success", "failed", "interrupted", "unknown"]
Event = dict[str, Any]

_RUN_ERRORS = ("run_error", "step_error")


@dataclass(frozen=True)
class SessionFacts:
    """A session's status, identity, times and rows, as far as its events tell them."""

    status: Status
    failed_in: Literal["compile", "run"] | None  # where a failed run failed
    run_id: str | None  # 0.5.x: the run id its adapter events carry
    pipeline_id: str | None  # the runner's `run_start.pipeline_id`
    pipeline_ref: str | None  # the file the user named (`run_start.pipeline`)
    pipeline_ref_kind: str | None  # its `file_type`: oml | manifest
    profile: str | None  # the profile label as written (legacy: often null or "default")
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    rows_in: int | None
    rows_out: int | None
    error: str | None  # the first error message, as the session wrote it


def number(value: Any) -> float | None:
    """A finite number from JSON (which may hold huge integers, Infinity or NaN), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        found = float(value)
    except OverflowError:
        return None
    return found if math.isfinite(found) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class Events:
    """A session's events in order and grouped by name, grouped once: the facts of one
    session ask for its events by name a dozen times."""

    __slots__ = ("by_name", "in_order")

    def __init__(self, events: Sequence[Event]) -> None:
        self.in_order = events
        self.by_name: dict[str, list[Event]] = {}
        for event in events:
            name = event.get("event")
            if isinstance(name, str):  # a damaged line may hold a list there
                group = self.by_name.get(name)
                if group is None:
                    self.by_name[name] = [event]
                else:
                    group.append(event)

    def named(self, *names: str) -> list[Event]:
        """The events of these names, in order."""
        if len(names) == 1:
            return self.by_name.get(names[0], [])
        return [e for e in self.in_order if isinstance(e.get("event"), str) and e["event"] in names]

    def ordered(self, some: list[Event]) -> list[Event]:
        """`some` of the events (taken from their groups by name) in the session's order."""
        if len(some) < 2:
            return some
        wanted = {id(event) for event in some}
        return [event for event in self.in_order if id(event) in wanted]


SessionEvents = Sequence[Event] | Events


def _grouped(events: SessionEvents) -> Events:
    return events if isinstance(events, Events) else Events(events)


# -- status ---------------------------------------------------------------------------------


def run_status(
    events: SessionEvents, *, ok: bool | None = None
) -> tuple[Status, Literal["compile", "run"] | None]:
    """A run session's status and, when it failed, where (compile or run).

    Upstream writes each outcome twice (runner and command line) and nothing for a run
    stopped by a signal: an error anywhere fails the run; a `compile_error` means the run
    never started; `run_complete` is success; a `run_end` after neither is a run stopped
    with Ctrl-C, and no `run_end` at all one that was killed. `status.json`'s `ok` decides
    only when the events say nothing (0.5.x writes `ok: false` for successful runs).
    """
    names = _grouped(events).by_name.keys()
    if not names.isdisjoint(_RUN_ERRORS):
        return "failed", "run"
    if "compile_error" in names:
        return "failed", "compile"
    if "run_complete" in names:
        return "success", None
    if ok is not None:
        return ("success", None) if ok else ("failed", "run")
    if "run_start" in names:
        return "interrupted", None
    return "unknown", None


def compile_status(events: SessionEvents) -> Status | None:
    """A compile's status from its last decisive event; None when it wrote neither."""
    decisive = _grouped(events).named("compile_complete", "compile_error")
    if not decisive:
        return None
    return "success" if decisive[-1]["event"] == "compile_complete" else "failed"


def first_error(events: SessionEvents) -> str | None:
    """The first error message a session wrote (a step's, else the run's or the compile's)."""
    grouped = _grouped(events)
    for name in ("step_error", "run_error", "compile_error"):
        for event in grouped.named(name):
            message = _text(event.get("error")) or _text(event.get("message"))
            if message:
                step = _text(event.get("step_id"))
                return f"{step}: {message}" if step and name == "step_error" else message
    return None


# -- identity -------------------------------------------------------------------------------


def runner_start(events: SessionEvents) -> Event:
    """The runner's `run_start` (it names `pipeline_id` and `manifest_path`; this version's
    names `pipeline_id` alone), {} when the run never got there."""
    starts = [e for e in _grouped(events).named("run_start") if "pipeline_id" in e]
    return next((e for e in starts if "manifest_path" in e), starts[0] if starts else {})


def command_start(events: SessionEvents) -> Event:
    """The command line's `run_start` (it names the `pipeline` file the user typed), or {}."""
    return next((e for e in _grouped(events).named("run_start") if "pipeline" in e), {})


def adapter_run_id(events: SessionEvents) -> str | None:
    """0.5.x: the run id, which only its adapter events carry (as `session_id`)."""
    grouped = _grouped(events)
    adapter = [
        event
        for name, group in grouped.by_name.items()
        if name.startswith("adapter_")
        for event in group
        if _text(event.get("session_id")) and event["session_id"] != event.get("session")
    ]
    return grouped.ordered(adapter)[0]["session_id"] if adapter else None


# -- times and rows -------------------------------------------------------------------------


def timing(events: SessionEvents) -> tuple[datetime | None, datetime | None, int | None]:
    """(start, end, duration in ms): the first event's time, and what `run_end` says."""
    grouped = _grouped(events)
    started = next((t for t in (parse_moment(e.get("ts")) for e in grouped.in_order) if t), None)
    ends = grouped.named("run_end")
    if not ends:
        return started, None, None
    end = ends[-1]
    finished = parse_moment(end.get("end_time")) or parse_moment(end.get("ts"))
    seconds = number(end.get("duration_seconds"))
    millis = number(end.get("duration_ms"))
    if seconds is not None:
        duration: int | None = round(seconds * 1000)
    elif millis is not None:
        duration = round(millis)
    elif started and finished:
        duration = round((finished - started).total_seconds() * 1000)
    else:
        duration = None
    return started, finished, duration


class _Step(NamedTuple):  # a tuple: made for each step of thousands of sessions
    step_id: str
    mode: str | None
    start: datetime | None
    end: datetime | None


def _mode_of(event: Event) -> str | None:
    mode = _text(event.get("mode"))
    if mode:
        return mode
    # Upstream's step events name the driver, whose family tells the mode.
    driver = _text(event.get("driver")) or ""
    if driver.endswith((".extractor", "_extractor")):
        return "extract"
    if driver.endswith((".writer", "_writer")):
        return "write"
    return "transform" if driver else None


def _steps(events: Events) -> list[_Step]:
    grouped = events.by_name
    started: dict[str, Event] = {}
    for event in grouped.get("step_start", ()):
        step = _text(event.get("step_id"))
        if step is not None:
            started.setdefault(step, event)
    ends = grouped.get("step_complete", [])
    errors = grouped.get("step_error")
    if errors:
        ends = events.ordered(ends + errors)
    ended = {step: event for event in ends if (step := _text(event.get("step_id"))) is not None}
    return [
        _Step(
            step,
            _mode_of(start),
            parse_moment(start.get("ts")),
            parse_moment(ended.get(step, {}).get("ts")),
        )
        for step, start in started.items()
    ]


def _metric_step(metric: Event, steps: Sequence[_Step]) -> _Step | None:
    tags = metric.get("tags")
    named = metric.get("step_id") or (tags.get("step") if isinstance(tags, dict) else None)
    if isinstance(named, str):
        return next((s for s in steps if s.step_id == named), None)
    # Upstream's row metrics carry no step: the step running when it was written owns it.
    moment = parse_moment(metric.get("ts"))
    if moment is None:
        return None
    return next(
        (
            s
            for s in steps
            if s.start is not None and s.start <= moment and (s.end is None or moment <= s.end)
        ),
        None,
    )


def _sum(values: list[float]) -> int | None:
    total = number(sum(values)) if values else None
    return int(total) if total is not None else None


def rows(events: SessionEvents, metrics: Sequence[Event]) -> tuple[int | None, int | None]:
    """(rows in, rows out): rows read by extract steps and written by write steps."""
    grouped = _grouped(events)
    steps = _steps(grouped)
    read: list[float] = []
    written: list[float] = []
    unplaced: dict[str, list[float]] = {"rows_read": [], "rows_written": []}
    for metric in metrics:
        name = metric.get("metric")
        if not isinstance(name, str) or name not in unplaced:
            continue  # a damaged line may hold a list there, which no dict can look up
        value = number(metric.get("value"))
        if value is None:
            continue
        step = _metric_step(metric, steps) if steps else None
        if step is None or step.mode is None:
            unplaced[name].append(value)
        elif name == "rows_read" and step.mode == "extract":
            read.append(value)
        elif name == "rows_written" and step.mode == "write":
            written.append(value)
    if any(isinstance(e.get("mode"), str) for e in grouped.named("step_start")):
        # This version's sessions name each step's mode and count every step's rows: a
        # run that moved none moved 0, as its index record says.
        return _sum(read) or 0, _sum(written) or 0
    if not (read or written or unplaced["rows_read"] or unplaced["rows_written"]):
        cleanup = next(reversed(grouped.named("cleanup_complete")), {})
        total = number(cleanup.get("total_rows"))
        # Upstream writes total_rows 0 whatever it moved: only a count above 0 says something.
        return None, (int(total) if total else None)
    # Metrics no step can claim: count them all, as the session wrote them.
    return _sum(read + unplaced["rows_read"]), _sum(written + unplaced["rows_written"])


# -- everything -----------------------------------------------------------------------------


def run_facts(
    events: Sequence[Event], metrics: Sequence[Event], *, ok: bool | None = None
) -> SessionFacts:
    """Every fact a run session's events and metrics give."""
    grouped = Events(events)
    status, failed_in = run_status(grouped, ok=ok)
    runner, command = runner_start(grouped), command_start(grouped)
    completes = [_text(e.get("pipeline_id")) for e in grouped.named("run_complete")]
    pipeline_id = _text(runner.get("pipeline_id")) or next((p for p in completes if p), None)
    profile = runner.get("profile") if "profile" in runner else command.get("profile")
    started, finished, duration = timing(grouped)
    rows_in, rows_out = rows(grouped, metrics)
    return SessionFacts(
        status=status,
        failed_in=failed_in,
        run_id=adapter_run_id(grouped),
        pipeline_id=pipeline_id,
        pipeline_ref=_text(command.get("pipeline")),
        pipeline_ref_kind=_text(command.get("file_type")),
        profile=profile if isinstance(profile, str) else None,
        started_at=started,
        finished_at=finished,
        duration_ms=duration,
        rows_in=rows_in,
        rows_out=rows_out,
        error=first_error(grouped) if status == "failed" else None,
    )
