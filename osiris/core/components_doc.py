"""A component's spec as a user reads it (`osiris components show`)."""

from __future__ import annotations

import difflib
from typing import Any

from osiris.core.registry import SPECS, available, family
from osiris.errors import UsageError

_EXAMPLE_MODE = {"read": "read", "transform": "transform", "write": "write"}


def describe(name: str) -> dict[str, Any]:
    """Modes, keys (type, required, default, choices), rules and an example step of
    component `name`; an unknown name is exit 2 with the closest names."""
    spec = SPECS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, available(), n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}?" if close else "see osiris components list"
        raise UsageError(f"unknown component '{name}'", hint=hint)
    config = [
        {
            "name": key,
            **key_spec.to_dict(),
            "from_connection": key in spec.connection_keys,
        }
        for key, key_spec in spec.config.items()
    ]
    rules = []
    if spec.one_of:
        rules.append(f"give exactly one of: {', '.join(spec.one_of)}")
    if spec.settings_required:
        rules.append(
            f"needs {', '.join(spec.settings_required)}, from the step or from its "
            f'connection (connection: "@{family(spec.name)}.<alias>")'
        )
    example: dict[str, Any] = {
        "id": f"{spec.modes[0]}-step",
        "component": spec.name,
        "mode": _EXAMPLE_MODE[spec.modes[0]],
    }
    if spec.upstream:
        example["needs"] = ["<upstream-step>"]
    example["config"] = dict(spec.example)
    return {
        "name": spec.name,
        "modes": list(spec.modes),
        "description": spec.description,
        "upstream": spec.upstream,
        "config": config,
        "rules": rules,
        "example": example,
    }
