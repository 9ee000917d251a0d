"""Run tags, one model for every command: lower-case labels of letters, digits, `.`, `_`
and `-`, kept as a sorted set. Tags a user types are checked; tags read from files any
version wrote are only normalised."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from osiris.errors import UsageError

_TAG = re.compile(r"[a-z0-9][a-z0-9._-]*")
RULE = "use letters, digits, '.', '_' and '-', starting with a letter or digit"


def parse_tags(values: Iterable[str]) -> tuple[str, ...]:
    """Tags as a user typed them (any case, blanks ignored): sorted, lower-case, unique;
    one that breaks the rule is a UsageError naming it."""
    found = set()
    for value in values:
        tag = value.strip().lower()
        if not tag:
            continue
        if not _TAG.fullmatch(tag):
            raise UsageError(f"tag '{value.strip()}' is not allowed", hint=RULE)
        found.add(tag)
    return tuple(sorted(found))


def stored_tags(value: Any) -> tuple[str, ...]:
    """The tags a record or pack holds, whatever version wrote them (a list, or upstream's
    `a+b` text): sorted, lower-case, unique."""
    if not value:
        return ()
    if isinstance(value, str):
        items: Iterable[Any] = value.split("+")
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        return ()
    return tuple(sorted({str(item).strip().lower() for item in items if str(item).strip()}))
