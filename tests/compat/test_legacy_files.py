"""Reading single legacy files fast without changing what is read: a JSONL file parsed in
one call gives exactly the records and notes of a line-by-line read, and manifests that
share their bytes are parsed (and hashed) once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osiris.compat import legacy_files
from osiris.compat.legacy_files import Notes, read_jsonl, read_manifest, safe_hash

OBJECTS = st.dictionaries(
    st.text(max_size=5), st.one_of(st.integers(), st.text(max_size=8), st.none()), max_size=3
)
# Lines a crash or another program may leave: halves of objects, other JSON, junk.
DAMAGE = st.sampled_from(
    [
        '{"a": 1',
        '"b": 2}',
        "[1, 2]",
        "42",
        "}",
        "{",
        '{"x": [1',
        "2]}",
        "not json",
        '{"a":"}',
        '{"}',
        '{"b":1},{"c":2}',
        '{"b":1} , {"c":2}',
    ]
)
LINES = st.lists(st.one_of(OBJECTS.map(json.dumps), DAMAGE), max_size=12)


def line_by_line(data: bytes, path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """What a read one line at a time gives: the objects, and a note per other line."""
    lines = data.split(b"\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    records, notes = [], []
    for number, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            value = legacy_files.INVALID
        if isinstance(value, dict):
            records.append(value)
        elif value is legacy_files.INVALID and number == last and not data.endswith(b"\n"):
            notes.append(f"skipped a truncated last line {number + 1}")
        else:
            notes.append(f"skipped a damaged line {number + 1}")
    return records, notes


@pytest.fixture(scope="module")
def jsonl_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jsonl") / "events.jsonl"


@settings(max_examples=300, deadline=None)
@given(lines=LINES, newline_at_end=st.booleans())
def test_a_jsonl_file_reads_as_it_would_line_by_line(
    jsonl_file: Path, lines: list[str], newline_at_end: bool
) -> None:
    path = jsonl_file
    data = "\n".join(lines).encode() + (b"\n" if newline_at_end and lines else b"")
    path.write_bytes(data)
    notes = Notes(path.parent)
    records = read_jsonl(path, notes)
    expected_records, expected_notes = line_by_line(data, path)
    assert records == expected_records
    assert [note.split(": ", 1)[1] for note in notes.lines] == expected_notes


def test_two_damaged_lines_read_as_one_do_not_pass_for_two_records(jsonl_file: Path) -> None:
    # Joined, the first two lines are one object ({"event": "a", "x": "},{"}) and the third
    # splits in two: as many objects as lines, none of them what the lines hold.
    data = b'{"event":"a","x":"}\n{"}\n{"a":1},{"b":2}\n'
    jsonl_file.write_bytes(data)
    notes = Notes(jsonl_file.parent)
    assert read_jsonl(jsonl_file, notes) == []
    assert [note.split(": ", 1)[1] for note in notes.lines] == [
        f"skipped a damaged line {n}" for n in (1, 2, 3)
    ]


def test_manifests_with_the_same_bytes_are_parsed_and_hashed_once(tmp_path: Path) -> None:
    text = "pipeline:\n  id: orders\nsteps: []\n"
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text(text)
    second.write_text(text)
    notes = Notes(tmp_path)
    one = read_manifest(first, notes, required=True)
    two = read_manifest(second, notes, required=True)
    assert one is two and one == {"pipeline": {"id": "orders"}, "steps": []}
    assert safe_hash(one, "dev", notes, first) == safe_hash(dict(one), "dev", notes, first)
    assert safe_hash(one, "dev", notes, first) != safe_hash(one, "prod", notes, first)


def test_a_damaged_manifest_is_noted_for_every_file_that_holds_it(tmp_path: Path) -> None:
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("pipeline: [unclosed\n")
    notes = Notes(tmp_path)
    assert read_manifest(tmp_path / "a.yaml", notes, required=True) is None
    assert read_manifest(tmp_path / "b.yaml", notes, required=True) is None
    assert notes.lines == ["a.yaml: not valid YAML; ignored", "b.yaml: not valid YAML; ignored"]


def test_reads_below_a_folder_are_found_at_any_depth_and_never_in_a_sibling() -> None:
    from osiris.compat.legacy_files import FileRead, ReadsBelow

    def read(n: int) -> FileRead:
        return FileRead(n, n, 0o644, f"{n:064x}")

    reads = {
        "/p/logs/run_1/events.jsonl": read(1),
        "/p/logs/run_1/compiled/manifest.yaml": read(2),
        "/p/logs/run_10/events.jsonl": read(3),
        "/p/logs/run_1.txt": read(4),
        "/elsewhere/logs/run_1/events.jsonl": read(5),
    }
    below = ReadsBelow("/p", reads)
    assert below.under("logs/run_1") == [
        ("compiled/manifest.yaml", read(2)),
        ("events.jsonl", read(1)),
    ]
    assert below.under("logs/run_1/compiled") == [("manifest.yaml", read(2))]
    assert [rel for rel, _ in below.under("logs")] == [
        "run_1.txt",
        "run_1/compiled/manifest.yaml",
        "run_1/events.jsonl",
        "run_10/events.jsonl",
    ]
    assert below.under("logs/run_2") == []
