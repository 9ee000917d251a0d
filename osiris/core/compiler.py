"""The compiler: an OML file becomes a deterministic build folder (contract.md §5).

Identical inputs give the same path and the same bytes: nothing in a build depends on the
clock, the machine or the compiling session. A build folder appears whole or not at all.
`build_reader` reads a build back for running.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from osiris import __version__

# Reading builds moved to `build_reader`; the `x as x` imports keep each moved name
# importable from here.
from osiris.core.build_reader import MANIFEST_FILE, LoadedBuild
from osiris.core.build_reader import _load_cfg as _load_cfg
from osiris.core.build_reader import _manifest_steps as _manifest_steps
from osiris.core.build_reader import _reason as _reason
from osiris.core.build_reader import build_identity as build_identity
from osiris.core.build_reader import load_build as load_build
from osiris.core.connections import load_connections
from osiris.core.fs_config import ResolvedConfig
from osiris.core.fs_paths import FilesystemContract
from osiris.core.fsio import atomic_write_bytes, canonical_json, fsync_dir, pretty_json
from osiris.core.manifest_hash import manifest_hash
from osiris.core.oml import Pipeline, load_pipeline
from osiris.core.registry import registry_fingerprint
from osiris.core.run_index import RunIndexWriter
from osiris.core.secrets import mask
from osiris.errors import NotFound, UsageError

COMPILER = f"osiris-compiler/{__version__}"
REGISTRY = f"osiris-registry/{__version__}"
MANIFEST_VERSION = "0.1.0"
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
    artifacts = asdict(resolved.config.filesystem.artifacts)
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
