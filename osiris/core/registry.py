"""Component specs (modes, config schema) and the driver behind each (pipeline.md).

Adding a component means adding a `ComponentSpec` here (or in `connector_specs`) and a
driver module under `osiris/drivers/`. Driver modules import DuckDB and their database
clients, so they load only in `driver_for`.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib

from osiris.core.component_spec import ComponentSpec, ConfigKey
from osiris.core.connector_specs import CONNECTION_EXTRAS, CONNECTOR_SPECS
from osiris.core.fsio import canonical_json
from osiris.drivers.base import Driver
from osiris.errors import PipelineError

__all__ = [
    "SPECS",
    "ComponentSpec",
    "ConfigKey",
    "available",
    "connection_fields",
    "driver_for",
    "family",
    "get_spec",
    "registry_fingerprint",
]

_CSV_ENCODINGS = ("utf-8", "utf-16", "ascii", "latin-1", "iso-8859-1")
_CSV_OPTIONS = {
    "delimiter": ConfigKey("str", default=","),
    "header": ConfigKey("bool", default=True),
    "encoding": ConfigKey("str", default="utf-8", choices=_CSV_ENCODINGS),
}

CSV_EXTRACTOR = ComponentSpec(
    name="filesystem.csv_extractor",
    modes=("read",),
    driver="osiris.drivers.csv_extractor:CsvExtractor",
    # Upstream names `@filesystem.local`; its base_dir was never applied (0.5.x), so paths
    # stay relative to the project and upstream pipelines run unchanged.
    config={
        "connection": ConfigKey("connection"),
        "path": ConfigKey("path", required=True),
        **_CSV_OPTIONS,
        "columns": ConfigKey("list"),
        "skip_rows": ConfigKey("int"),
        "limit": ConfigKey("int"),
        "parse_dates": ConfigKey("bool"),
        "dtype": ConfigKey("mapping"),
        "na_values": ConfigKey("list"),
        "chunk_size": ConfigKey("int"),
        "skip_blank_lines": ConfigKey("bool"),
        "comment": ConfigKey("str"),
        "compression": ConfigKey("str", choices=("infer", "gzip", "none")),
    },
    description="Read a CSV file (relative to base_path) into a table.",
    example={"path": "data/orders.csv", "delimiter": ","},
)
CSV_WRITER = ComponentSpec(
    name="filesystem.csv_writer",
    modes=("write",),
    driver="osiris.drivers.csv_writer:CsvWriter",
    config={
        "path": ConfigKey("path", required=True),
        **_CSV_OPTIONS,
        "newline": ConfigKey("str", default="lf", choices=("lf", "crlf")),
        "quoting": ConfigKey("str", choices=("minimal", "all", "nonnumeric")),
        "chunk_size": ConfigKey("int"),
        "create_dirs": ConfigKey("bool"),
    },
    upstream=1,
    description="Write the upstream table to a CSV file, atomically.",
    example={"path": "output/orders.csv"},
)
DUCKDB_PROCESSOR = ComponentSpec(
    name="duckdb.processor",
    modes=("transform",),
    driver="osiris.drivers.duckdb_processor:DuckdbProcessor",
    config={"query": ConfigKey("str", required=True)},
    description="Run a DuckDB SQL query over the upstream tables (df_<step_id>, or input_df "
    "for a single upstream step).",
    example={"query": "SELECT country, SUM(amount) AS total FROM input_df GROUP BY country"},
)

SPECS: dict[str, ComponentSpec] = {
    spec.name: spec for spec in (CSV_EXTRACTOR, DUCKDB_PROCESSOR, CSV_WRITER, *CONNECTOR_SPECS)
}


def family(component: str) -> str:
    """The connection family of a component: `mysql` for `mysql.extractor`."""
    return component.split(".", 1)[0]


def connection_fields(name: str) -> dict[str, ConfigKey] | None:
    """The fields a connection of family `name` may hold (None: a family no component uses)."""
    specs = [spec for spec in SPECS.values() if family(spec.name) == name and spec.connection_keys]
    if not specs and name not in CONNECTION_EXTRAS:
        return None
    fields = {key: spec.config[key] for spec in specs for key in spec.connection_keys}
    return {**fields, **CONNECTION_EXTRAS.get(name, {})}


def available() -> list[str]:
    """The names of every shipped component, sorted."""
    return sorted(SPECS)


def get_spec(name: str) -> ComponentSpec:
    """The spec of component `name`; an unknown name is an error listing the available ones."""
    try:
        return SPECS[name]
    except KeyError:
        close = difflib.get_close_matches(name, available(), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "see osiris components list"
        raise PipelineError(f"unknown component '{name}'", hint=hint) from None


def driver_for(component: str) -> Driver:
    """A fresh driver instance for `component`, importing its module on first use."""
    module_name, _, class_name = get_spec(component).driver.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def registry_fingerprint() -> str:
    """`sha256:<hex>` of the canonical JSON of every spec: changes when any spec changes."""
    payload = canonical_json([SPECS[name].to_dict() for name in available()])
    return "sha256:" + hashlib.sha256(payload.encode("utf-8")).hexdigest()
