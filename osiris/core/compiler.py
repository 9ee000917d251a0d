"""The compiler: an OML file becomes a deterministic build folder (contract.md §5).

Identical inputs give the same path and the same bytes: nothing in a build depends on the
clock, the machine or the compiling session. A build folder appears whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from osiris import __version__
from osiris.core import foreign_records, yaml_load
from osiris.core.connections import load_connections
from osiris.core.fs_config import ResolvedConfig
from osiris.core.fs_paths import FilesystemContract, inside, manifest_slug
from osiris.core.fsio import atomic_write_bytes, canonical_json, fsync_dir, pretty_json
from osiris.core.manifest_hash import manifest_hash
from osiris.core.oml import Pipeline, load_pipeline
from osiris.core.profile_map import ProfileMap
from osiris.core.registry import SPECS, registry_fingerprint
from osiris.core.run_index import RunIndexWriter
from osiris.core.secrets import mask
from osiris.errors import NotFound, PipelineError, UsageError

COMPILER = f"osiris-compiler/{__version__}"
REGISTRY = f"osiris-registry/{__version__}"
MANIFEST_VERSION = "0.1.0"
MANIFEST_FILE = "manifest.yaml"
# OML modes -> the mode written into cfg/<step>.json (pipeline.md "Compile → manifest").
CFG_MODES = {"read": "extract", "transform": "transform", "write": "write"}
# A build cannot run without these, so their artifacts flags cannot switch them off.
REQUIRED_ARTIFACTS = ("manifest", "cfg")


@dataclass(frozen=True)
class CompileResult:
    """Where a compile put (or found) its build and which pointers it updated."""

    pipeline_slug: str
    profile: str | None
    manifest_hash: str
    manifest_short: str
    build_dir: Path
    manifest_path: Path
    created: bool
    pointers: list[Path]
    oml_path: Path
    notes: list[str] = field(default_factory=list)


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


def _fingerprint(value: Any) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def render_manifest(manifest: dict[str, Any]) -> bytes:
    """The canonical YAML of a manifest: keys sorted, block style, UTF-8."""
    text = yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False, allow_unicode=True)
    return text.encode("utf-8")


def build_files(
    pipeline: Pipeline,
    *,
    profile: str | None,
    short_len: int,
    oml_rel: str,
    artifacts: dict[str, Any],
) -> tuple[str, dict[str, bytes]]:
    """The manifest hash and every build file (relative path -> bytes) of a pipeline."""
    fingerprints = {
        "oml_fp": _fingerprint(pipeline.document),
        "params_fp": _fingerprint(pipeline.params),
        "registry_fp": registry_fingerprint(),
        "compiler_fp": _fingerprint(COMPILER),
        "profile": profile,
    }
    manifest: dict[str, Any] = {
        "pipeline": {
            "id": pipeline.slug,
            "version": MANIFEST_VERSION,
            "fingerprints": fingerprints,
        },
        "steps": [
            {
                "id": step.id,
                "component": step.component,
                "driver": step.component,  # legacy readers name the component here
                "cfg_path": f"cfg/{step.id}.json",
                "needs": list(step.needs),
            }
            for step in pipeline.steps
        ],
        "meta": {
            "oml_version": pipeline.oml_version,
            "profile": profile,
            "toolchain": {"compiler": COMPILER, "registry": REGISTRY},
        },
        "name": pipeline.name,
        "metadata": pipeline.metadata,
    }
    digest = manifest_hash(manifest, profile)
    manifest["meta"].update(manifest_hash=digest, manifest_short=digest[:short_len])
    files = {MANIFEST_FILE: render_manifest(manifest)}
    for step in pipeline.steps:
        cfg = {"component": step.component, "mode": CFG_MODES[step.mode], "config": step.config}
        files[f"cfg/{step.id}.json"] = pretty_json(cfg).encode("utf-8")
    optional = {
        "plan": (
            "plan.json",
            {
                "pipeline_slug": pipeline.slug,
                "profile": profile,
                "manifest_hash": digest,
                "steps": [
                    {"id": s.id, "component": s.component, "mode": s.mode, "needs": list(s.needs)}
                    for s in pipeline.steps
                ],
            },
        ),
        "fingerprints": ("fingerprints.json", {**fingerprints, "manifest_hash": digest}),
        "run_summary": (
            "run_summary.json",
            {
                "compiler": COMPILER,
                "pipeline_slug": pipeline.slug,
                "profile": profile,
                "manifest_hash": digest,
                "manifest_short": digest[:short_len],
                "oml_version": pipeline.oml_version,
                "steps": len(pipeline.steps),
                "inputs": {"oml_path": oml_rel, "params": mask(pipeline.params)},
            },
        ),
    }
    for flag, (name, content) in optional.items():
        if artifacts.get(flag, True):
            files[name] = pretty_json(content).encode("utf-8")
    return digest, files


def find_oml(path: Path, contract: FilesystemContract) -> Path:
    """The OML file `path` names: as given, else under base_path, else under pipelines_dir."""
    path = Path(path)
    candidates = [path]
    if not path.is_absolute():
        candidates += [contract.base_path / path, contract.pipelines_dir / path]
    found = next((c for c in candidates if c.is_file()), None)
    if found is None:
        raise NotFound(
            "no such pipeline file",
            path=path,
            hint=f"looked here, in {contract.base_path} and in {contract.pipelines_dir}",
        )
    return found


@dataclass(frozen=True)
class PreparedBuild:
    """A compiled pipeline held in memory: its hash, its files and where they belong."""

    pipeline_slug: str
    profile: str | None
    manifest_hash: str
    files: dict[str, bytes]
    build_dir: Path
    oml_path: Path
    notes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # resolved, secrets masked

    def as_loaded(self) -> LoadedBuild:
        """The build as `load_build` would read it back, without touching the disk."""
        manifest = yaml.safe_load(self.files[MANIFEST_FILE])
        steps = manifest["steps"]
        cfgs = {step["id"]: json.loads(self.files[step["cfg_path"]]) for step in steps}
        return LoadedBuild(
            manifest=manifest,
            cfgs=cfgs,
            build_dir=self.build_dir,
            manifest_hash=self.manifest_hash,
            pipeline_slug=self.pipeline_slug,
            profile=self.profile,
            order=steps,
        )


def prepare_build(
    oml_path: Path,
    *,
    resolved: ResolvedConfig,
    contract: FilesystemContract,
    profile: str | None,
    cli_params: dict[str, str],
    env: Mapping[str, str] | None = None,
) -> PreparedBuild:
    """Validate and compile an OML file in memory; writes nothing.

    `profile` is the requested one (None: the configured default).
    """
    profile = resolved.resolve_profile(profile)
    oml_path = Path(oml_path).resolve()
    oml_rel = contract.relative(oml_path)
    pipeline = load_pipeline(
        oml_path,
        profile=profile,
        cli_params=cli_params,
        env=env,
        display=oml_rel,
        connections=lambda: load_connections(resolved.project_dir, env=env, required=False),
    )
    artifacts = resolved.config.filesystem.artifacts.model_dump()
    notes = [
        f"filesystem.artifacts.{flag} is false, but the build needs it, so it is written anyway"
        for flag in REQUIRED_ARTIFACTS
        if not artifacts[flag]
    ]
    digest, files = build_files(
        pipeline,
        profile=profile,
        short_len=contract.short_len,
        oml_rel=oml_rel,
        artifacts=artifacts,
    )
    return PreparedBuild(
        pipeline_slug=pipeline.slug,
        profile=profile,
        manifest_hash=digest,
        files=files,
        build_dir=contract.build_path(pipeline.slug, digest, profile),
        oml_path=oml_path,
        notes=notes,
        params=mask(pipeline.params),
    )


def compile_pipeline(
    oml_path: Path,
    *,
    resolved: ResolvedConfig,
    contract: FilesystemContract,
    profile: str | None,
    cli_params: dict[str, str],
    env: Mapping[str, str] | None = None,
    set_pointers: bool = True,
) -> CompileResult:
    """Compile an OML file into its build folder and (unless `set_pointers` is false)
    point `latest`/`last_compile` at it.

    The profile is validated before anything is written. Compiling identical inputs again
    writes no build file.
    """
    prepared = prepare_build(
        oml_path,
        resolved=resolved,
        contract=contract,
        profile=profile,
        cli_params=cli_params,
        env=env,
    )
    return write_build(prepared, contract, set_pointers=set_pointers)


def write_build(
    prepared: PreparedBuild, contract: FilesystemContract, *, set_pointers: bool = True
) -> CompileResult:
    """Write a prepared build unless an identical one exists, then (unless `set_pointers`
    is false) update the pointers."""
    build_dir, files, notes = prepared.build_dir, prepared.files, list(prepared.notes)
    created = not _is_complete(build_dir, files)
    if created:
        if build_dir.exists():
            notes.append("the existing build folder was damaged and has been replaced")
        created = _write_build(build_dir, files)
    manifest_path = build_dir / MANIFEST_FILE
    slug, digest = prepared.pipeline_slug, prepared.manifest_hash
    pointers = [contract.latest_pointer(slug), contract.last_compile_pointer]
    if set_pointers:
        RunIndexWriter(contract.index_dir).write_pointer(
            slug, contract.relative(manifest_path), digest, prepared.profile
        )
    return CompileResult(
        pipeline_slug=slug,
        profile=prepared.profile,
        manifest_hash=digest,
        manifest_short=contract.manifest_short(digest),
        build_dir=build_dir,
        manifest_path=manifest_path,
        created=created,
        pointers=pointers if set_pointers else [],
        oml_path=prepared.oml_path,
        notes=notes,
    )


def _is_complete(build_dir: Path, files: dict[str, bytes]) -> bool:
    # The manifest and cfgs decide: optional files may differ by artifacts flags.
    for rel, data in files.items():
        if rel == MANIFEST_FILE or rel.startswith("cfg/"):
            try:
                if (build_dir / rel).read_bytes() != data:
                    return False
            except OSError:
                return False
    return True


def _write_build(build_dir: Path, files: dict[str, bytes]) -> bool:
    """Write `files` into a temp sibling folder, then rename it to `build_dir` in one step.

    Returns False when a concurrent compile put an identical build in place first.
    """
    parent = build_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{build_dir.name}.", suffix=".tmp", dir=parent))
    try:
        # Plain writes are safe here: nobody sees these files until the folder is renamed.
        for rel, data in sorted(files.items()):
            target = tmp / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(target, 0o644)
        for folder in sorted({(tmp / rel).parent for rel in files}, reverse=True):
            os.chmod(folder, 0o755)
            fsync_dir(folder)
        if build_dir.exists():
            _replace_dir(tmp, build_dir)
        else:
            try:
                os.rename(tmp, build_dir)
            except OSError:
                if not _is_complete(build_dir, files):
                    raise
                shutil.rmtree(tmp)
                return False
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(parent)
    return True


def _replace_dir(new: Path, old: Path) -> None:
    trash = Path(tempfile.mkdtemp(prefix=f".{old.name}.", suffix=".old", dir=old.parent))
    os.rename(old, trash / old.name)
    try:
        os.rename(new, old)
    except OSError:
        os.rename(trash / old.name, old)
        raise
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def export_build(build_dir: Path, out_dir: Path) -> Path:
    """Copy a build folder to `out_dir/<build name>`; refuses (writing nothing) on a conflict."""
    destination = Path(out_dir) / build_dir.name
    sources = sorted(p for p in build_dir.rglob("*") if p.is_file())
    pending: list[tuple[Path, bytes]] = []
    for source in sources:
        target = destination / source.relative_to(build_dir)
        data = source.read_bytes()
        if target.is_file() and target.read_bytes() == data:
            continue
        if target.exists() or target.is_symlink():
            raise UsageError(
                "exists with different content",
                path=target,
                hint="choose an empty --out folder or remove the old copy",
            )
        pending.append((target, data))
    for target, data in pending:
        atomic_write_bytes(target, data)
    return destination


def load_build(manifest_path: Path, profiles: ProfileMap | None = None) -> LoadedBuild:
    """Read a build's manifest and cfgs for running; a missing or damaged build is an error.

    `profiles` turns the profile label a build of another Osiris version carries (the old
    tool's `default`) into a contract profile (`compat.legacy_profiles`)."""
    path = Path(manifest_path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    try:
        manifest = yaml_load.load(path.read_text(encoding="utf-8"))
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
