"""Facts from upstream-style events, shaped as the real v0.3.5 and 0.5.7 sessions are."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osiris.core import session_events
from osiris.core.session_events import rows, run_facts, run_status


def at(second: float) -> str:
    moment = datetime(2026, 12, 3, 9, 19, 0, tzinfo=timezone.utc).timestamp() + second
    return datetime.fromtimestamp(moment, timezone.utc).isoformat()


def event(second: float, name: str, **fields) -> dict:
    return {"ts": at(second), "session": "run_1", "event": name, **fields}


def metric(second: float, name: str, value: float) -> dict:
    return {"ts": at(second), "session": "run_1", "metric": name, "value": value}


@pytest.mark.parametrize(
    ("names", "ok", "expected"),
    [
        # Each outcome is written twice, by the runner and the command line.
        (["run_start", "run_complete", "run_complete", "run_end"], None, ("success", None)),
        (["run_start", "step_error", "run_error", "run_error", "run_end"], None, ("failed", "run")),
        # `osiris run <oml>` whose compile failed: no outcome event at all.
        (["run_start", "run_start", "compile_error", "run_end"], None, ("failed", "compile")),
        # Ctrl-C: run_end, no outcome; SIGKILL: not even run_end.
        (["run_start", "step_start", "run_end"], None, ("interrupted", None)),
        (["run_start", "step_start"], None, ("interrupted", None)),
        # status.json decides only when the events say nothing (0.5.7 writes ok: false always).
        (["run_start", "run_complete"], False, ("success", None)),
        (["run_start", "run_end"], True, ("success", None)),
        ([], None, ("unknown", None)),
    ],
)
def test_run_status(names: list[str], ok: bool | None, expected: tuple) -> None:
    assert run_status([event(i, n) for i, n in enumerate(names)], ok=ok) == expected


def test_unnamed_row_metrics_belong_to_the_step_running_when_they_were_written() -> None:
    # v0.3.5: the extractor and the processor both write rows_read, with no step named.
    events = [
        event(0, "run_start"),
        event(1, "step_start", step_id="extract", driver="mysql.extractor"),
        event(2, "step_complete", step_id="extract", driver="mysql.extractor"),
        event(3, "step_start", step_id="aggregate", driver="duckdb.processor"),
        event(4, "step_complete", step_id="aggregate", driver="duckdb.processor"),
        event(5, "step_start", step_id="write", driver="filesystem.csv_writer"),
        event(6, "step_complete", step_id="write", driver="filesystem.csv_writer"),
        event(7, "cleanup_complete", total_rows=0),
    ]
    metrics = [
        metric(1.5, "rows_read", 20),
        metric(3.5, "rows_read", 20),
        metric(3.6, "rows_written", 9),
        metric(5.5, "rows_written", 9),
    ]
    assert rows(events, metrics) == (20, 9)
    # Upstream's cleanup total is 0 whatever moved: without metrics nothing is known.
    assert rows(events, []) == (None, None)


def test_run_facts_of_a_057_run_folder() -> None:
    events = [
        {**event(0, "run_start", session_id="20261203_092625_7b02ae11"), "session": "x"},
        {**event(0.1, "adapter_selected", session_id="run-000005_01M8"), "session": "x"},
        event(0.2, "run_start", manifest_path="/m.yaml", pipeline_id="orders_(eu)", profile="prod"),
        event(0.3, "run_error", phase="execute", error="Parser Error: SELEKT"),
        event(0.5, "run_end", duration_seconds=0.2, end_time=at(0.5)),
    ]
    facts = run_facts(events, [])
    assert (facts.run_id, facts.pipeline_id, facts.profile) == (
        "run-000005_01M8",
        "orders_(eu)",
        "prod",
    )
    assert (facts.status, facts.failed_in, facts.error) == ("failed", "run", "Parser Error: SELEKT")
    assert (facts.duration_ms, facts.finished_at.second) == (200, 0)


def test_events_grouped_by_name_keep_the_session_order() -> None:
    # A step ends at its last end event in the file, an error or not; the first adapter
    # event in the file names the run, whatever its event name.
    head = [
        {**event(0, "adapter_selected", session_id="x"), "session": "x"},
        {**event(0.1, "adapter_execute_start", session_id="run-1"), "session": "x"},
        {**event(0.2, "adapter_selected", session_id="run-2"), "session": "x"},
        event(1, "step_start", step_id="load", mode="write"),
    ]
    metrics = [metric(2.5, "rows_written", 7)]
    error_then_complete = [
        *head,
        event(2, "step_error", step_id="load", error="retried"),
        event(3, "step_complete", step_id="load"),
    ]
    facts = run_facts(error_then_complete, metrics)
    assert facts.run_id == "run-1"
    assert facts.rows_out == 7  # written before the step's last end: the step's
    complete_then_error = [
        *head,
        event(2, "step_complete", step_id="load"),
        event(2.2, "step_error", step_id="load", error="late"),
    ]
    assert run_facts(complete_then_error, metrics).rows_out == 0  # the step had ended


def test_hostile_values_never_raise() -> None:
    events = [{"event": ["run_start"]}, {"event": "step_start", "step_id": 3}, {"ts": 5}]
    assert run_facts(events, [{"metric": "rows_read", "value": float("nan")}]).status == "unknown"
    assert session_events.number(10**400) is None


_NAMES = ["run_start", "run_end", "run_complete", "run_error", "step_start", "step_complete"]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=4,
)
_KEYS = st.sampled_from(
    [
        "event",
        "ts",
        "metric",
        "value",
        "step_id",
        "mode",
        "driver",
        "pipeline_id",
        "profile",
        "tags",
        "step",
        "session_id",
        "session",
        "pipeline",
        "file_type",
        "duration_seconds",
        "duration_ms",
        "end_time",
        "total_rows",
        "error",
        "message",
        "manifest_path",
    ]
)
_FIELDS = st.dictionaries(_KEYS, _JSON | st.sampled_from([*_NAMES, "rows_read", "extract"]))


@settings(max_examples=400, deadline=None)
@given(events=st.lists(_FIELDS, max_size=8), metrics=st.lists(_FIELDS, max_size=6))
def test_any_json_in_a_damaged_session_gives_facts_not_an_exception(
    events: list[dict], metrics: list[dict]
) -> None:
    # A legacy session is whatever another program or a crash left: every value may be of
    # any JSON type (a list where a name belongs, a number where a time belongs).
    facts = run_facts(events, metrics)
    assert facts.status in ("success", "failed", "interrupted", "unknown")
