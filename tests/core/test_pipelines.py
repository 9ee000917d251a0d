"""Tagging runs: update records appended to the index, refusals for bad requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from osiris.core.pipelines import tag_runs
from osiris.core.run_index import RunIndexReader
from osiris.core.run_sources import (
    RunCatalog,
    catalog_for,
)
from osiris.errors import NotFound, UsageError
from tests.helpers.runs import LegacyStub, contract_source, dirs_of, index, record


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "proj"


def test_tags_are_appended_as_update_records(base: Path) -> None:
    index(
        base,
        record("r-1", "2025-10-01T10:00:00.000Z", tags=("a",)),
        record("r-2", "2025-10-02T10:00:00.000Z", tags=("a", "b")),
        record("u-1", "2025-10-03T10:00:00.000Z", slug="users"),
    )
    catalog = catalog_for(dirs_of(base))
    index_dir = base / ".osiris/index"
    latest = tag_runs(catalog, index_dir, "orders", add=["x"], remove=["b"])
    assert [(c.run_id, c.before, c.after) for c in latest] == [("r-2", ("a", "b"), ("a", "x"))]
    everything = tag_runs(catalog, index_dir, "orders", all_runs=True, add=["y"])
    assert [(c.run_id, c.after) for c in everything] == [
        ("r-2", ("a", "x", "y")),
        ("r-1", ("a", "y")),
    ]
    one = tag_runs(catalog, index_dir, "orders", run_id="r-1", remove=["a"])
    assert one[0].after == ("y",)
    reader = RunIndexReader(index_dir, base)
    assert [(r.run_id, r.tags) for r in reader.query(pipeline="orders")] == [
        ("r-2", ("a", "x", "y")),
        ("r-1", ("y",)),
    ]
    assert [r.run_id for r in reader.query(tag="y")] == ["r-2", "r-1"]
    updates = [
        json.loads(x) for x in (index_dir / "by_pipeline/orders.jsonl").read_text().splitlines()
    ]
    assert [u.get("kind") for u in updates] == [None, None, "update", "update", "update", "update"]
    assert set(updates[-1]) == {"run_id", "pipeline_slug", "tags", "kind", "recorded_at"}


def test_tagging_without_a_change_writes_nothing(base: Path) -> None:
    index(base, record("r-1", "2025-10-01T10:00:00.000Z", tags=("a",)))
    runs_file = base / ".osiris/index/runs.jsonl"
    before = runs_file.read_bytes()
    changes = tag_runs(catalog_for(dirs_of(base)), base / ".osiris/index", "orders", add=["a"])
    assert not changes[0].changed and runs_file.read_bytes() == before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "nothing to do (hint: pass --add TAG and/or --remove TAG)"),
        ({"add": ["a b"]}, "tag 'a b' is not allowed"),
        ({"add": ["+x"]}, "tag '+x' is not allowed"),
        ({"add": ["a"], "remove": ["a"]}, "tag 'a' is both added and removed (hint: pass it once)"),
        ({"add": ["a"], "run_id": "r-1", "all_runs": True}, "--run and --all exclude each other"),
        (
            {"add": ["a"], "run_id": "u-1"},
            "run 'u-1' belongs to pipeline 'users', not 'orders' "
            "(hint: osiris pipelines tag users --run u-1)",
        ),
    ],
)
def test_bad_tag_requests_are_refused(base: Path, kwargs: dict[str, Any], message: str) -> None:
    index(
        base,
        record("r-1", "2025-10-01T10:00:00.000Z"),
        record("u-1", "2025-10-01T10:00:00.000Z", slug="users"),
    )
    before = (base / ".osiris/index/runs.jsonl").read_bytes()
    with pytest.raises(UsageError) as caught:
        tag_runs(catalog_for(dirs_of(base)), base / ".osiris/index", "orders", **kwargs)
    assert caught.value.one_line().startswith(message)
    assert (base / ".osiris/index/runs.jsonl").read_bytes() == before


def test_a_pipeline_without_runs_cannot_be_tagged(base: Path) -> None:
    base.mkdir()
    with pytest.raises(NotFound, match="pipeline 'orders' has no runs"):
        tag_runs(catalog_for(dirs_of(base)), base / ".osiris/index", "orders", add=["a"])


def test_legacy_runs_cannot_be_tagged(base: Path) -> None:
    catalog = RunCatalog(
        [contract_source(base), LegacyStub(base, [record("run_17", "2025-10-01T10:00:00.000Z")])]
    )
    with pytest.raises(UsageError) as caught:
        tag_runs(catalog, base / ".osiris/index", "orders", add=["a"])
    assert caught.value.hint == "osiris migrate plan moves it into the contract layout"
    assert not (base / ".osiris/index/runs.jsonl").exists()
