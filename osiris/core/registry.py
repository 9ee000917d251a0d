"""Component specs (modes, config schema) and the driver behind each (pipeline.md).

Adding a component means adding a `ComponentSpec` here and a driver module under
`osiris/drivers/`. Driver modules import DuckDB, so they load only in `driver_for`.
"""

from __future__ import annotations

import hashlib
import importlib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from osiris.core.fsio import canonical_json
from osiris.drivers.base import Driver
from osiris.errors import PipelineError

CONFIG_TYPES = ("str", "bool", "int", "path")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ConfigKey:
    """One config key of a component: its type, whether it is required, and its default."""

    type: str = "str"
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()

    def problem(self, value: Any) -> str | None:
        """Why `value` does not fit this key, or None when it does."""
        expected = "string" if self.type == "path" else self.type
        python_type = {"str": str, "path": str, "bool": bool, "int": int}[self.type]
        # bool is a subclass of int, so `true` must not pass as an int.
        if not isinstance(value, python_type) or (self.type == "int" and isinstance(value, bool)):
            return f"expected {expected}, got {_type_name(value)} {value!r}"
        if self.choices and value not in self.choices:
            return f"'{value}' is not allowed (choose one of: {', '.join(self.choices)})"
        if self.type == "path" and "${" not in value:
            return _path_problem(value)
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

    def with_defaults(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`config` with every missing optional key set to its default."""
        filled = dict(config)
        for key, spec in self.config.items():
            if key not in filled and not spec.required:
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


_CSV_OPTIONS = {
    "delimiter": ConfigKey("str", default=","),
    "header": ConfigKey("bool", default=True),
    # The encodings DuckDB reads without an extension; the writer transcodes to them.
    "encoding": ConfigKey("str", default="utf-8", choices=("utf-8", "utf-16", "latin-1")),
}

SPECS: dict[str, ComponentSpec] = {
    spec.name: spec
    for spec in (
        ComponentSpec(
            name="filesystem.csv_extractor",
            modes=("read",),
            driver="osiris.drivers.csv_extractor:CsvExtractor",
            config={"path": ConfigKey("path", required=True), **_CSV_OPTIONS},
            description="Read a CSV file (relative to base_path) into a table.",
        ),
        ComponentSpec(
            name="duckdb.processor",
            modes=("transform",),
            driver="osiris.drivers.duckdb_processor:DuckdbProcessor",
            config={"query": ConfigKey("str", required=True)},
            description="Run a DuckDB SQL query over the upstream tables.",
        ),
        ComponentSpec(
            name="filesystem.csv_writer",
            modes=("write",),
            driver="osiris.drivers.csv_writer:CsvWriter",
            config={
                "path": ConfigKey("path", required=True),
                **_CSV_OPTIONS,
                "newline": ConfigKey("str", default="lf", choices=("lf", "crlf")),
            },
            upstream=1,
            description="Write the upstream table to a CSV file, atomically.",
        ),
    )
}


def available() -> list[str]:
    """The names of every shipped component, sorted."""
    return sorted(SPECS)


def get_spec(name: str) -> ComponentSpec:
    """The spec of component `name`; an unknown name is an error listing the available ones."""
    try:
        return SPECS[name]
    except KeyError:
        raise PipelineError(
            f"unknown component '{name}'", hint=f"available: {', '.join(available())}"
        ) from None


def driver_for(component: str) -> Driver:
    """A fresh driver instance for `component`, importing its module on first use."""
    module_name, _, class_name = get_spec(component).driver.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def registry_fingerprint() -> str:
    """`sha256:<hex>` of the canonical JSON of every spec: changes when any spec changes."""
    payload = canonical_json([SPECS[name].to_dict() for name in available()])
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()
