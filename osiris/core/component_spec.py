"""What a component is: its config keys (`ConfigKey`) and its spec (`ComponentSpec`)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CONFIG_TYPES = ("str", "bool", "int", "number", "path", "list", "mapping", "connection", "any")
_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "path": (str,),
    "connection": (str,),
    "bool": (bool,),
    "int": (int,),
    "number": (int, float),
    "list": (list,),
    "mapping": (dict,),
}
_TYPE_WORDS = {"path": "string", "connection": "string", "list": "list", "mapping": "mapping"}
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")
_CONNECTION = re.compile(r"@[A-Za-z0-9_-]+(\.[A-Za-z0-9_.-]+)?")


@dataclass(frozen=True)
class ConfigKey:
    """One config key of a component: its type, whether it is required, and its default."""

    type: str = "str"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why `value` does not fit this key, or None when it does."""
        if self.type == "any":
            return None
        expected = _TYPE_WORDS.get(self.type, self.type)
        # bool is a subclass of int, so `true` must not pass as a number.
        numeric = self.type in ("int", "number")
        if not isinstance(value, _PYTHON_TYPES[self.type]) or (numeric and isinstance(value, bool)):
            return f"expected {expected}, got {_type_name(value)} {value!r}"
        if self.choices and value not in self.choices:
            return f"'{value}' is not allowed (choose one of: {', '.join(self.choices)})"
        if self.type == "path" and isinstance(value, str) and "${" not in value:
            return _path_problem(value)
        if (
            self.type == "connection"
            and isinstance(value, str)
            and not _CONNECTION.fullmatch(value.strip())
        ):
            return f"'{value}' is not a connection reference (write @family.alias)"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "choices": list(self.choices),
        }


@dataclass(frozen=True)
class ComponentSpec:
    """A component: the OML modes it supports, its config schema and its driver class."""

    name: str
    modes: tuple[str, ...]
    driver: str  # "module:Class", imported only when a step runs
    config: Mapping[str, ConfigKey] = field(default_factory=dict)
    upstream: int | None = None  # exact number of upstream steps it reads; None: any
    description: str = ""
    # Config keys a named connection (`connection: "@family.alias"`) may supply instead.
    connection_keys: tuple[str, ...] = ()
    # Alternatives of which exactly one must be given (e.g. `table` or `query`).
    one_of: tuple[str, ...] = ()
    # Settings the step or its connection must give (no default makes sense for them).
    settings_required: tuple[str, ...] = ()
    example: Mapping[str, Any] = field(default_factory=dict)

    def with_defaults(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`config` with every missing optional key set to its default."""
        filled = dict(config)
        for key, spec in self.config.items():
            # A key without a default stays out: builds hold only what means something.
            if key not in filled and not spec.required and spec.default is not None:
                filled[key] = spec.default
        return filled

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "modes": list(self.modes),
            "driver": self.driver,
            "config": {key: spec.to_dict() for key, spec in self.config.items()},
            "upstream": self.upstream,
            "description": self.description,
            "connection_keys": list(self.connection_keys),
            "one_of": list(self.one_of),
            "settings_required": list(self.settings_required),
            "example": dict(self.example),
        }


def _type_name(value: Any) -> str:
    names = {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "mapping"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _path_problem(value: str) -> str | None:
    if not value.strip():
        return "must not be empty"
    if value.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(value):
        return f"'{value}' must be relative to the project (base_path)"
    normalized = posixpath.normpath(value.replace("\\", "/"))
    if normalized == ".." or normalized.startswith("../"):
        return f"'{value}' points outside the project"
    return None
