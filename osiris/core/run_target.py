"""What `osiris run` runs: an OML file, a manifest, `--last-compile` or `--pipeline SLUG`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

from osiris.core import yaml_load
from osiris.core.build_reader import MANIFEST_FILE, LoadedBuild, load_build
from osiris.core.fs_config import ResolvedConfig
from osiris.core.fs_paths import FilesystemContract, slugify
from osiris.core.profile_map import ProfileMap
from osiris.core.run_index import read_pointer
from osiris.errors import NotFound, UsageError


@dataclass(frozen=True)
class RunTarget:
    """The build a run will execute and how it was found."""

    build: LoadedBuild
    source: str  # "oml" | "manifest" | "last-compile" | "pipeline"


class OmlCompiler(Protocol):
    """Compiles an OML file (for the rollout mode in force) and returns its manifest path."""

    def __call__(
        self, oml: Path, *, profile: str | None, cli_params: dict[str, str], set_pointers: bool
    ) -> Path: ...


def require_manifest(path: Path) -> Path:
    """`path` (a build folder or its manifest.yaml) as a manifest, or exit 2 saying why."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST_FILE
    if not path.is_file():
        raise NotFound("no such manifest", path=path, hint="give a build's manifest.yaml")
    if _file_kind(path) != "manifest":
        raise UsageError(
            "is an OML pipeline, not a compiled manifest",
            path=path,
            hint=f"`osiris run {path}` compiles and runs it",
        )
    return path


def _file_kind(path: Path) -> str:
    try:
        data = yaml_load.load(path.read_text(encoding="utf-8"))
    except yaml_load.YamlRefused as exc:
        raise UsageError(f"refused: the file {exc}", path=path) from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UsageError(
            f"cannot read it as YAML: {exc}", path=path, hint="pass an OML file or a manifest.yaml"
        ) from None
    if isinstance(data, dict) and "oml_version" in data:
        return "oml"
    if isinstance(data, dict) and "pipeline" in data and "steps" in data:
        return "manifest"
    raise UsageError(
        "neither an OML pipeline (no oml_version) nor a compiled manifest",
        path=path,
        hint="pass pipelines/<name>.yaml or build/pipelines/.../manifest.yaml",
    )


def _check_profile(build: LoadedBuild, profile: str | None, where: Path) -> LoadedBuild:
    if profile is not None and build.profile != profile:
        raise UsageError(
            f"this build was compiled for profile '{build.profile}', not '{profile}'",
            path=where,
            hint=f"compile it for '{profile}' first, or drop --profile",
        )
    return build


def _load(contract: FilesystemContract, manifest: Path) -> LoadedBuild:
    # Every build is read with the one rule for profile labels other versions wrote.
    return load_build(manifest, ProfileMap.from_config(contract.config))


def _newest_build(contract: FilesystemContract, slug: str, profile: str | None) -> Path | None:
    root = contract.build_pipelines_dir(profile) / slug
    manifests = [p for p in root.glob("*/manifest.yaml") if p.is_file()] if root.is_dir() else []
    return max(manifests, key=lambda p: p.stat().st_mtime_ns, default=None)


def by_pipeline(contract: FilesystemContract, slug: str, profile: str | None) -> LoadedBuild:
    """The pipeline's latest build for the profile: its `latest` pointer, else the newest build."""
    slug = slugify(slug)
    pointer = read_pointer(contract.latest_pointer(slug))
    if pointer is not None and (pointer.profile or None) == profile:
        pointed = contract.absolute(pointer.manifest_path)
        if pointed.is_file():
            return _load(contract, pointed)
    manifest = _newest_build(contract, slug, profile)
    if manifest is None:
        shown = f" for profile '{profile}'" if profile else ""
        raise NotFound(
            f"no build of pipeline '{slug}'{shown}",
            hint="compile it first: osiris compile pipelines/<file>.yaml"
            + (f" -p {profile}" if profile else ""),
        )
    return _load(contract, manifest)


def last_compile(contract: FilesystemContract) -> Path:
    """The manifest `.osiris/index/last_compile.txt` names."""
    pointer = read_pointer(contract.last_compile_pointer)
    if pointer is None:
        raise NotFound(
            "nothing has been compiled yet",
            path=contract.relative(contract.last_compile_pointer),
            hint="run `osiris compile pipelines/<file>.yaml` first",
        )
    manifest = contract.absolute(pointer.manifest_path)
    if not manifest.is_file():
        raise NotFound(
            "the last compiled manifest no longer exists",
            path=pointer.manifest_path,
            hint="compile the pipeline again",
        )
    return manifest


def resolve_target(
    *,
    resolved: ResolvedConfig,
    contract: FilesystemContract,
    file: Path | None,
    use_last_compile: bool,
    pipeline: str | None,
    profile_flag: str | None,
    params: dict[str, str],
    dry_run: bool = False,
    set_latest: bool = False,
    compile_oml: OmlCompiler | None = None,
    last_compiled: Callable[[], Path] | None = None,
) -> RunTarget:
    """Find (compiling an OML file first) the build to run; exactly one source is allowed.

    With `dry_run`, an OML file is compiled in memory only, so nothing is written. A run
    with `params` (a one-off) keeps the pipeline's `latest` and `last_compile` pointers
    where they are unless `set_latest` asks to move them.
    `compile_oml` and `last_compiled` replace the contract's compile and last-compile
    pointer, so another layout (the compat modes) can supply its own.
    """
    chosen = [
        name
        for name, on in (
            ("FILE", file),
            ("--last-compile", use_last_compile),
            ("--pipeline", pipeline),
        )
        if on
    ]
    if len(chosen) != 1:
        raise UsageError(
            "give exactly one of FILE, --last-compile or --pipeline SLUG"
            + (f" (got {', '.join(chosen)})" if chosen else ""),
            hint="osiris run pipelines/x.yaml, --last-compile, or --pipeline x",
        )
    if params and file is None:
        raise UsageError(
            "--param only applies when running an OML file (a build has its params compiled in)",
            hint="compile with --param, or run the OML file",
        )
    if use_last_compile:
        requested = resolved.resolve_profile(profile_flag) if profile_flag else None
        manifest = last_compiled() if last_compiled else last_compile(contract)
        build = _load(contract, manifest)
        return RunTarget(_check_profile(build, requested, manifest), "last-compile")
    if pipeline is not None:
        profile = resolved.resolve_profile(profile_flag)
        return RunTarget(by_pipeline(contract, pipeline, profile), "pipeline")
    assert file is not None
    # Only a run of a pipeline file compiles: the compiler is loaded for it alone.
    from osiris.core.compiler import compile_pipeline, find_oml, prepare_build

    file = find_oml(file, contract)  # as `osiris compile` finds it
    if _file_kind(file) == "manifest":
        requested = resolved.resolve_profile(profile_flag) if profile_flag else None
        return RunTarget(_check_profile(_load(contract, file), requested, file), "manifest")
    if dry_run:
        prepared = prepare_build(
            file, resolved=resolved, contract=contract, profile=profile_flag, cli_params=params
        )
        return RunTarget(prepared.as_loaded(), "oml")
    set_pointers = set_latest or not params
    if compile_oml is None:
        manifest = compile_pipeline(
            file,
            resolved=resolved,
            contract=contract,
            profile=profile_flag,
            cli_params=params,
            set_pointers=set_pointers,
        ).manifest_path
    else:
        manifest = compile_oml(
            file, profile=profile_flag, cli_params=params, set_pointers=set_pointers
        )
    return RunTarget(_load(contract, manifest), "oml")
