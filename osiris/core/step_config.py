"""What each step of a build runs with, resolved before a run writes anything.

A build keeps `${VAR}` references and connection references (`@mysql.shop`) as written;
here they are filled in from the environment and `osiris_connections.yaml`. A missing
variable or connection is bad input (exit 2) caught before the run starts, and what the
run folder keeps of a step's config (`cleaned_config.json`) has every secret masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from osiris.core.build_reader import LoadedBuild
from osiris.core.connections import REFERENCE_KEY, Connections, is_reference, load_connections
from osiris.core.registry import SPECS, family
from osiris.core.secrets import env_ref_values, mask, resolve_env_refs, secret_values
from osiris.errors import ConfigError

RESOLVED_CONNECTION = "resolved_connection"  # upstream's key in cleaned_config.json


@dataclass(frozen=True)
class StepSettings:
    """One step's settings: `config` (secrets included) goes only to its driver."""

    config: dict[str, Any]
    cleaned: dict[str, Any]  # for artifacts/<step>/cleaned_config.json: secrets masked
    secrets: frozenset[str]  # values to redact from any error the step reports


def resolve_steps(
    build: LoadedBuild, project_dir: Path, env: Mapping[str, str]
) -> dict[str, StepSettings]:
    """Every step's settings; a missing variable or connection raises (exit 2)."""
    loader = _ConnectionsOnce(project_dir, env)
    return {
        step["id"]: _resolve_step(step["id"], build.cfgs[step["id"]], env, loader)
        for step in build.order
    }


class _ConnectionsOnce:
    """Reads `osiris_connections.yaml` (and `.env`) on first use, once per run."""

    def __init__(self, project_dir: Path, env: Mapping[str, str]) -> None:
        self.project_dir = project_dir
        self.env = env
        self._loaded: Connections | None = None

    def get(self) -> Connections:
        if self._loaded is None:
            self._loaded = load_connections(self.project_dir, env=self.env)
            assert self._loaded is not None  # required=True raises instead
        return self._loaded


def _resolve_step(
    step_id: str, cfg: dict[str, Any], env: Mapping[str, str], loader: _ConnectionsOnce
) -> StepSettings:
    written = dict(cfg["config"])
    secrets = set(env_ref_values(written, env))
    config = resolve_env_refs(written, env, step_id=step_id)
    reference = config.pop(REFERENCE_KEY, None)
    cleaned = mask({k: v for k, v in written.items() if k != REFERENCE_KEY})
    if is_reference(reference):
        settings = _connection_settings(step_id, cfg["component"], reference, loader.get())
        spec = SPECS.get(cfg["component"])
        given = set(spec.connection_keys) if spec else set(settings)
        for key, value in settings.items():
            # The connection wins for the keys it exists to give (as upstream's
            # `resolved_connection`); others fill only what the step leaves out.
            if key in given or key not in config:
                config[key] = value
        secrets |= secret_values(settings) | loader.get().secrets()
        cleaned[RESOLVED_CONNECTION] = mask(settings)
    return StepSettings(config=config, cleaned=cleaned, secrets=frozenset(secrets))


def _connection_settings(
    step_id: str, component: str, reference: str, connections: Connections
) -> dict[str, Any]:
    where = f"step {step_id}"
    connection = connections.find(reference, where=where)
    wanted = family(component)
    if connection.family != wanted:
        raise ConfigError(
            f"{component} takes a {wanted} connection, not {reference}",
            path=where,
            key=REFERENCE_KEY,
            hint=f"name one of {connections.path.name}'s {wanted} connections (@{wanted}.<alias>)",
        )
    return connections.resolve(connection)
