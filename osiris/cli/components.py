"""`osiris components list | show NAME`: what each component reads, writes and accepts."""

from __future__ import annotations

import click

from osiris.cli.common import console, emit_json, json_option


@click.group("components")
def components() -> None:
    """List the components and show their config keys."""


@components.command("list")
@json_option
def list_components(as_json: bool) -> None:
    """Every component with its modes and what it does."""
    from osiris.core.registry import SPECS, available

    rows = [
        {"name": n, "modes": list(SPECS[n].modes), "description": SPECS[n].description}
        for n in available()
    ]
    if as_json:
        emit_json(rows)
        return
    from osiris.cli.runs import columns_table

    out = console()
    columns = {
        "component": [r["name"] for r in rows],
        "modes": [", ".join(r["modes"]) for r in rows],
        "description": [r["description"] for r in rows],
    }
    out.print(columns_table(columns, out.width, optional=(), ids=("component",)))


@components.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """NAME's modes, config keys (type, default, choices) and an example step."""
    import yaml

    from osiris.core.components_doc import describe

    doc = describe(name)
    if as_json:
        emit_json(doc)
        return
    out = console()
    out.print(f"[bold]{doc['name']}[/]  modes: {', '.join(doc['modes'])}")
    out.print(doc["description"], markup=False)
    if doc["upstream"] is not None:
        out.print(f"reads exactly {doc['upstream']} upstream step(s)")
    out.print("\n[bold]config keys[/]")
    for key in doc["config"]:
        notes = []
        if key["required"]:
            notes.append("required")
        if key["default"] is not None:
            notes.append(f"default {key['default']!r}")
        if key["choices"]:
            notes.append("one of " + "/".join(key["choices"]))
        if key["from_connection"]:
            notes.append("or from the connection")
        extra = f"  ({'; '.join(notes)})" if notes else ""
        out.print(f"  {key['name']:<28} {key['type']:<10}{extra}", markup=False)
    for line in doc["rules"]:
        out.print(f"  {line}", markup=False)
    out.print("\n[bold]example step[/]")
    out.print(yaml.safe_dump([doc["example"]], sort_keys=False).rstrip(), markup=False)
