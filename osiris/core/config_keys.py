"""Keys of osiris.yaml that this version does not know: a typo is an error, a key an
upstream release writes is a warning naming that release.

The keys upstream writes come from the `osiris init` files of the real releases kept under
tests/fixtures/upstream/ (v0.3.0, v0.3.5, 0.5.7).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from osiris.core.config_model import sections

_V03 = "upstream Osiris 0.3.x"
_V05 = "upstream Osiris 0.5.x"
_BOTH = "upstream Osiris 0.3.x and 0.5.x"
UPSTREAM_KEYS = {
    "version": _BOTH,
    "logging": _BOTH,
    "discovery": _BOTH,
    "llm": _BOTH,
    "pipeline": _BOTH,
    "validate": _BOTH,
    "validation": _BOTH,
    "aiop": _BOTH,
    "output": _V03,
    "sessions": _V03,
    "filesystem.mcp_logs_dir": _V05,
    "filesystem.outputs": _V05,
}


def unknown_keys(data: Mapping[str, Any], section: type) -> list[tuple[str, list[str]]]:
    """Each key of `data` that the configuration `section` does not know (dotted), with the
    keys its section does know, in file order. Free-form mappings are not looked into."""
    found: list[tuple[str, list[str]]] = []
    _walk(data, section, "", found)
    return found


def _walk(
    data: Mapping[str, Any], section: type, prefix: str, found: list[tuple[str, list[str]]]
) -> None:
    known = sections(section)
    for key, value in data.items():
        if key not in known:
            found.append((f"{prefix}{key}", list(known)))
            continue
        nested = known[key]
        if nested is not None and isinstance(value, Mapping):
            _walk(value, nested, f"{prefix}{key}.", found)


def did_you_mean(key: str, known: list[str]) -> str | None:
    """The known key closest to the last part of a dotted `key`, when one is close."""
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, known, n=1, cutoff=0.75)
    return close[0] if close else None
