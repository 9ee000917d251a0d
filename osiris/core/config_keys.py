"""Keys of osiris.yaml that this version does not know: a typo is an error, a key an
upstream release writes is a warning naming that release.

The keys upstream writes come from the `osiris init` files of the real releases kept under
tests/fixtures/upstream/ (v0.3.0, v0.3.5, 0.5.7).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

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


def unknown_keys(data: Mapping[str, Any], model: type[BaseModel]) -> list[tuple[str, list[str]]]:
    """Each key of `data` that `model` does not know (dotted), with the keys its section
    does know, in file order. Sections the model types as free dicts are not looked into."""
    found: list[tuple[str, list[str]]] = []
    _walk(data, model, "", found)
    return found


def _walk(
    data: Mapping[str, Any],
    model: type[BaseModel],
    prefix: str,
    found: list[tuple[str, list[str]]],
) -> None:
    for key, value in data.items():
        field = model.model_fields.get(str(key))
        if field is None:
            found.append((f"{prefix}{key}", list(model.model_fields)))
            continue
        section = field.annotation
        if (
            isinstance(value, Mapping)
            and isinstance(section, type)
            and issubclass(section, BaseModel)
        ):
            _walk(value, section, f"{prefix}{key}.", found)


def did_you_mean(key: str, known: list[str]) -> str | None:
    """The known key closest to the last part of a dotted `key`, when one is close."""
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, known, n=1, cutoff=0.75)
    return close[0] if close else None
