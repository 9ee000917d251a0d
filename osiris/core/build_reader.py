"""A compiled build read back for running: its manifest and cfgs checked, its profile and
manifest hash worked out (builds of older Osiris versions included).

The compiler writes builds; the runner, `osiris run` and the compat layer only read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from osiris.core import foreign_records, yaml_load
from osiris.core.fs_paths import inside, manifest_slug
from osiris.core.manifest_hash import manifest_hash
from osiris.core.profile_map import ProfileMap
from osiris.core.registry import SPECS
from osiris.errors import NotFound, PipelineError

MANIFEST_FILE = "manifest.yaml"


@dataclass(frozen=True)
class LoadedBuild:
    """A build read back for running: manifest, per-step cfgs and the execution order."""

    manifest: dict[str, Any]
    cfgs: dict[str, dict[str, Any]]  # step id -> {"component", "mode", "config"}
    build_dir: Path
    manifest_hash: str
    pipeline_slug: str
    profile: str | None
    order: list[dict[str, Any]]  # manifest steps, each {id, component, driver, cfg_path, needs}

    def cfg_bytes(self, step: dict[str, Any]) -> bytes:
        """The bytes of a step's cfg file as the build holds them."""
        return inside(self.build_dir, step["cfg_path"]).read_bytes()


def load_build(manifest_path: Path, profiles: ProfileMap | None = None) -> LoadedBuild:
    """Read a build's manifest and cfgs for running; a missing or damaged build is an error.

    `profiles` turns the profile label a build of another Osiris version carries (the old
    tool's `default`) into a contract profile (`compat.legacy_profiles`)."""
    path = Path(manifest_path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    try:
        manifest = yaml_load.load(path.read_text(encoding="utf-8"), yaml_load.FAST_SAFE_LOADER)
    except yaml_load.YamlRefused as exc:
        raise PipelineError(f"damaged manifest: refused: the file {exc}", path=path) from None
    except FileNotFoundError:
        raise NotFound(
            "no such manifest",
            path=path,
            hint="compile first: osiris compile pipelines/<name>.yaml",
        ) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PipelineError(f"damaged manifest: {_reason(exc)}", path=path) from None
    steps = _manifest_steps(manifest, path)
    build_dir = path.parent
    cfgs = {step["id"]: _load_cfg(build_dir, step, path) for step in steps}
    profile, digest = build_identity(manifest, profiles, path)
    return LoadedBuild(
        manifest=manifest,
        cfgs=cfgs,
        build_dir=build_dir,
        manifest_hash=digest,
        pipeline_slug=manifest_slug(manifest),
        profile=profile,
        order=steps,
    )


def build_identity(
    manifest: dict[str, Any], profiles: ProfileMap | None, path: Path
) -> tuple[str | None, str]:
    """A build's contract profile and manifest hash; a stored hash that fits no version's
    rule means the manifest was edited after compiling (PipelineError)."""
    found = manifest.get("meta")
    meta: dict[str, Any] = found if isinstance(found, dict) else {}
    label = meta.get("profile") if isinstance(meta.get("profile"), str) else None
    profile = label or None
    if profiles is not None:
        problem = profiles.problem(label)
        if problem:
            raise PipelineError(f"this build's {problem}", path=path, key="meta.profile")
        profile = profiles.contract(label)
    digest = manifest_hash(manifest, profile)
    stored = meta.get("manifest_hash")
    # A stored hash is of the label as written: a mapped label gives another hash.
    if not stored or stored == digest or profile != (label or None):
        return profile, digest
    if stored == foreign_records.upstream05_manifest_hash(manifest, label):
        return profile, stored  # a build 0.5.x compiled keeps the hash its folders carry
    raise PipelineError(
        "does not match the manifest content (was it edited after compiling?)",
        path=path,
        key="meta.manifest_hash",
        hint="compile the pipeline again",
    )


def _reason(exc: BaseException) -> str:
    mark = getattr(exc, "problem_mark", None)
    if mark is not None:
        return f"not valid YAML at line {mark.line + 1}"
    return getattr(exc, "strerror", None) or str(exc)


def _manifest_steps(manifest: Any, path: Path) -> list[dict[str, Any]]:
    def damaged(message: str, key: str | None = None) -> PipelineError:
        return PipelineError(f"damaged manifest: {message}", path=path, key=key)

    if not isinstance(manifest, dict):
        raise damaged("the top level is not a mapping")
    pipeline = manifest.get("pipeline")
    if not isinstance(pipeline, dict) or not pipeline.get("id"):
        raise damaged("missing pipeline.id", "pipeline.id")
    steps = manifest.get("steps")
    if not isinstance(steps, list) or not steps:
        raise damaged("no steps", "steps")
    seen: set[str] = set()
    for index, step in enumerate(steps):
        key = f"steps[{index}]"
        if not isinstance(step, dict) or not isinstance(step.get("id"), str):
            raise damaged("a step without an id", key)
        needs = step.get("needs") or []
        if not isinstance(needs, list) or any(need not in seen for need in needs):
            raise damaged("needs a step that does not run before it", f"{key}.needs")
        if not isinstance(step.get("cfg_path"), str):
            raise damaged("missing cfg_path", f"{key}.cfg_path")
        seen.add(step["id"])
    return steps


def _load_cfg(build_dir: Path, step: dict[str, Any], manifest_path: Path) -> dict[str, Any]:
    cfg_file = inside(build_dir, step["cfg_path"])
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(
            f"the build has no {step['cfg_path']} for step {step['id']}",
            path=manifest_path,
            hint="compile the pipeline again",
        ) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PipelineError(f"damaged cfg: {_reason(exc)}", path=cfg_file) from None
    if not isinstance(cfg, dict):
        raise PipelineError("damaged cfg: not a JSON object", path=cfg_file)
    component = cfg.get("component") or step.get("component") or step.get("driver")
    if component not in SPECS:
        raise PipelineError(
            f"step {step['id']} uses the component {component!r}, which this Osiris does not have",
            path=manifest_path,
            key=f"steps.{step['id']}.component",
            hint=f"components here: {', '.join(sorted(SPECS))} (osiris components list)",
        )
    if isinstance(cfg.get("config"), dict):
        config = cfg["config"]
    else:  # legacy cfgs keep the config keys beside component and mode
        config = {k: v for k, v in cfg.items() if k not in ("component", "mode")}
    config = SPECS[component].with_defaults(config)
    return {"component": component, "mode": cfg.get("mode"), "config": config}
