"""Damage for property tests: any JSON value, and one value of a YAML document replaced by
it (or its key removed), as another program, a crash or a hand edit may leave a file."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=4,
)
DELETED = object()
VALUES = JSON | st.just(DELETED)  # a value, or the key removed


def key_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value in a YAML document (mapping keys and list positions)."""
    found = [prefix] if prefix else []
    if isinstance(data, dict):
        for key in sorted(data, key=str):
            found += key_paths(data[key], (*prefix, key))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found += key_paths(item, (*prefix, index))
    return found


def replaced(text: str, pick: int, value: Any) -> str:
    """The document with the value at one of its paths (`pick`, modulo) replaced, or that
    key or item removed (`DELETED`)."""
    data = yaml.safe_load(text)
    paths = key_paths(data)
    if not paths:
        return yaml.safe_dump(value)
    *parents, last = paths[pick % len(paths)]
    holder = data
    for part in parents:
        holder = holder[part]
    if value is DELETED:
        del holder[last]
    else:
        holder[last] = value
    return yaml.safe_dump(data, sort_keys=False)
