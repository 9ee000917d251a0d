"""Validating user input against the configuration's shape (`config_model`), with pydantic.

Imported only when a configuration was not validated before (`config_cache`): building the
validator costs ~90 ms with pydantic's import.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from osiris.core.config_file import CONFIG_FILENAME
from osiris.core.config_model import KeyProblem, OsirisConfig
from osiris.errors import ConfigError


@cache
def _validator() -> TypeAdapter[OsirisConfig]:
    return TypeAdapter(OsirisConfig)


def validate(
    merged: Mapping[str, Any], *, origins: Mapping[str, str], config_file: Path | None
) -> OsirisConfig:
    """`merged` as a configuration; its first problem as one ConfigError naming where the
    value came from (the file, an environment variable or the command line) and the key."""
    try:
        return _validator().validate_python(merged)
    except ValidationError as exc:
        key, message, value = _error_key(exc)
    origin = _origin_of(key, origins) or "file"
    if origin.startswith("env "):
        where = origin.removeprefix("env ")
    elif origin == "flag":
        where = "command line"
    else:
        where = str(config_file or CONFIG_FILENAME)
    shown = "" if isinstance(value, dict) or f"'{value}'" in message else f" (got {value!r})"
    raise ConfigError(
        f"{message}{shown}",
        path=where,
        key=key,
        hint="see docs/samples/osiris.filesystem.yaml for every key and its allowed values",
    )


def _error_key(exc: ValidationError) -> tuple[str, str, Any]:
    first = exc.errors()[0]
    loc = [str(p) for p in first["loc"]]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "dataclass_type":  # pydantic's text names our class, not the file's
        message = "Input should be a valid dictionary"
    value = first.get("input")
    problem = first.get("ctx", {}).get("error")
    if isinstance(problem, KeyProblem):  # a section's rule names the key to change
        loc.append(problem.key)
        value = value.get(problem.key, value) if isinstance(value, dict) else value
    return ".".join(loc), message, value


def _origin_of(key: str, origins: Mapping[str, str]) -> str | None:
    # An error on a whole section names no leaf: report the origin of its last leaf.
    if key in origins:
        return origins[key]
    matches = [origins[k] for k in origins if k.startswith(key + ".")]
    return matches[-1] if matches else None
