"""Rollout modes (compat.md §1): which layout `legacy`, `dual` or `contract` writes, and how.

The mode comes from `--fs-mode` > env `OSIRIS_FS_CONTRACT` > `compat.mode` > `contract`;
`fs_config` merges these (and rejects unknown values) like every other key.

What only some modes or a fallback need (the legacy layout, the compiler) is imported where
it is used: a run of a contract build loads neither (~40 ms of its start-up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from osiris.core import run_target
from osiris.core.build_reader import load_build
from osiris.core.fs_config import ResolvedConfig
from osiris.core.fs_paths import FilesystemContract
from osiris.core.profile_map import ProfileMap
from osiris.core.runner import (
    ContractOutputs,
    RunOutputs,
    RunPlan,
    RunRequest,
    RunResult,
    copy_run_logs,
    execute,
    plan_run,
)
from osiris.errors import NotFound

if TYPE_CHECKING:
    from osiris.compat.legacy_writer import LegacyCompile
    from osiris.core.compiler import CompileResult


@dataclass(frozen=True)
class ModeInfo:
    """The rollout mode in force and where it came from (`flag`, `env …`, `file`, `default`)."""

    mode: str
    origin: str


def resolve_mode(resolved: ResolvedConfig) -> ModeInfo:
    """The mode of a resolved configuration, with its origin."""
    return ModeInfo(resolved.config.compat.mode, resolved.origin("compat.mode"))


def outputs_for(mode: str, contract: FilesystemContract, run_id_format: list[str]) -> RunOutputs:
    """Where a run writes in `mode`."""
    # The writers of the legacy layout are loaded only by the modes that write it.
    if mode == "legacy":
        from osiris.compat.legacy_writer import LegacyRunOutputs

        return LegacyRunOutputs(contract)
    if mode == "dual":
        from osiris.compat.dual_write import DualRunOutputs

        return DualRunOutputs(contract, run_id_format)
    return ContractOutputs(contract, run_id_format)


class _CompileCommon(TypedDict):
    """The `ModeCompile` fields every mode fills the same way."""

    fs_mode: str
    pipeline_slug: str
    profile: str | None
    manifest_hash: str
    manifest_short: str
    pipeline_name: str


@dataclass(frozen=True)
class ModeCompile:
    """What a compile wrote: the contract build, the legacy session, or both (dual)."""

    fs_mode: str
    pipeline_slug: str
    profile: str | None
    manifest_hash: str
    manifest_short: str
    build: CompileResult | None  # modes contract and dual
    legacy: LegacyCompile | None  # modes legacy and dual (None when the mirror failed)
    pipeline_name: str = ""  # the OML `name` the slug was made of
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def _legacy_session(self) -> LegacyCompile:
        assert self.legacy is not None  # without a build (legacy mode) there is a session
        return self.legacy

    @property
    def manifest_path(self) -> Path:
        """The manifest a run of this compile executes: the build's, else the legacy one."""
        return self.build.manifest_path if self.build else self._legacy_session().manifest_path

    @property
    def build_dir(self) -> Path:
        """The folder holding that manifest (what `--out` copies)."""
        return self.build.build_dir if self.build else self._legacy_session().compiled_dir

    @property
    def created(self) -> bool:
        """False when an identical contract build already existed; a legacy session is new."""
        return self.build.created if self.build else True

    @property
    def pointers(self) -> list[Path]:
        """Every pointer file written: the contract's, then the legacy ones."""
        contract = list(self.build.pointers) if self.build else []
        return contract + (list(self.legacy.pointers) if self.legacy else [])


def compile_for_mode(
    mode: str,
    oml_path: Path,
    *,
    resolved: ResolvedConfig,
    contract: FilesystemContract,
    profile: str | None,
    cli_params: dict[str, str],
    set_pointers: bool = True,
) -> ModeCompile:
    """Compile an OML file into the layout(s) of `mode`; the contract side first in dual.

    `set_pointers=False` leaves the contract's `latest`/`last_compile` pointers as they
    are (the legacy layout's `.last_compile.json` is written as upstream writes it)."""
    from osiris.compat.dual_write import mirror_compile
    from osiris.compat.legacy_writer import write_compile
    from osiris.core.compiler import prepare_build, write_build

    prepared = prepare_build(
        oml_path, resolved=resolved, contract=contract, profile=profile, cli_params=cli_params
    )
    common: _CompileCommon = {
        "fs_mode": mode,
        "pipeline_slug": prepared.pipeline_slug,
        "profile": prepared.profile,
        "manifest_hash": prepared.manifest_hash,
        "manifest_short": contract.manifest_short(prepared.manifest_hash),
        "pipeline_name": str(prepared.as_loaded().manifest.get("name") or ""),
    }
    if mode == "legacy":
        legacy = write_compile(prepared, contract.base_path, fs_mode=mode)
        return ModeCompile(**common, build=None, legacy=legacy, notes=list(prepared.notes))
    build = write_build(prepared, contract, set_pointers=set_pointers)
    if mode == "contract":
        return ModeCompile(**common, build=build, legacy=None, notes=build.notes)
    mirror = mirror_compile(prepared, build, contract)
    return ModeCompile(
        **common,
        build=build,
        legacy=mirror.legacy,
        notes=build.notes + mirror.notes,
        warnings=mirror.warnings,
    )


def legacy_last_compile(root: Path) -> Path:
    """The manifest `logs/.last_compile.json` names; NotFound when there is none."""
    from osiris.compat import legacy_layout as layout
    from osiris.compat.legacy_pointers import read_pointer

    pointer = read_pointer(root / layout.LAST_COMPILE, root)
    if pointer is None:
        raise NotFound(
            "nothing has been compiled yet",
            path=str(layout.LAST_COMPILE),
            hint="run `osiris compile pipelines/<file>.yaml` first",
        )
    if pointer.target is None:
        raise NotFound(
            f"names {pointer.manifest_path}, which is not a manifest in this project",
            path=str(layout.LAST_COMPILE),
            hint="compile the pipeline again",
        )
    return pointer.target


def resolve_run_target(
    mode: str,
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
) -> tuple[run_target.RunTarget, list[str]]:
    """`run_target.resolve_target` with the compile and last-compile lookup of `mode`.

    `--last-compile` and `--pipeline` fall back to the legacy layout when the contract has
    nothing (compat.md §2; not with `compat.read_fallback: false`, except that mode
    `legacy` always reads its own layout, and without the deprecation line). Returns the
    target and the warnings of a compile it ran (a failed dual mirror).
    """
    warnings: list[str] = []
    root = contract.base_path
    own_layout = mode == "legacy"
    fallback_on = own_layout or resolved.config.compat.read_fallback

    def compile_oml(
        oml: Path, *, profile: str | None, cli_params: dict[str, str], set_pointers: bool
    ) -> Path:
        compiled = compile_for_mode(
            mode,
            oml,
            resolved=resolved,
            contract=contract,
            profile=profile,
            cli_params=cli_params,
            set_pointers=set_pointers,
        )
        warnings.extend(compiled.warnings)
        return compiled.manifest_path

    def last_compiled() -> Path:
        if own_layout:
            return legacy_last_compile(root)
        try:
            return run_target.last_compile(contract)
        except NotFound:
            if not fallback_on:
                raise
            from osiris.compat import fallback
            from osiris.compat.legacy_pointers import read_last_compile

            manifest = read_last_compile(root)
            if manifest is None:
                raise  # the contract's "nothing compiled yet"
            fallback.announce()
            return manifest

    try:
        target = run_target.resolve_target(
            resolved=resolved,
            contract=contract,
            file=file,
            use_last_compile=use_last_compile,
            pipeline=pipeline,
            profile_flag=profile_flag,
            params=params,
            dry_run=dry_run,
            set_latest=set_latest,
            compile_oml=compile_oml,
            last_compiled=last_compiled,
        )
    except NotFound:
        if pipeline is None or not fallback_on:
            raise
        from osiris.compat import fallback

        profiles = ProfileMap.from_config(resolved.config)
        manifest = fallback.newest_build(
            root, pipeline, profile=resolved.resolve_profile(profile_flag), profiles=profiles
        )
        if manifest is None:
            raise
        if not own_layout:
            fallback.announce()
        target = run_target.RunTarget(load_build(manifest, profiles), "pipeline")
    return target, warnings


@dataclass(frozen=True)
class ModeRun:
    """A run (or dry run) in a mode: what ran, where it went, and what to warn about."""

    fs_mode: str
    target: run_target.RunTarget
    plan: RunPlan
    result: RunResult | None  # None for a dry run
    copied_to: Path | None = None
    warnings: list[str] = field(default_factory=list)


def run_for_mode(
    mode: str,
    *,
    resolved: ResolvedConfig,
    contract: FilesystemContract,
    file: Path | None,
    use_last_compile: bool,
    pipeline: str | None,
    profile_flag: str | None,
    params: dict[str, str],
    tags: tuple[str, ...] = (),
    verbose: bool = False,
    dry_run: bool = False,
    out: Path | None = None,
    set_latest: bool = False,
    progress: Callable[[str], None] | None = None,
) -> ModeRun:
    """`osiris run`: find the build, then run it into the layout of `mode` (or only plan it).

    `progress` gets each step's start and end line as the run goes."""
    target, warnings = resolve_run_target(
        mode,
        resolved=resolved,
        contract=contract,
        file=file,
        use_last_compile=use_last_compile,
        pipeline=pipeline,
        profile_flag=profile_flag,
        params=params,
        dry_run=dry_run,
        set_latest=set_latest,
    )
    run_ids = list(resolved.config.ids.run_id_format)
    request = RunRequest(
        contract=contract,
        run_id_format=run_ids,
        tags=tags,
        verbose=verbose,
        outputs=outputs_for(mode, contract, run_ids),
        project_dir=resolved.project_dir,
        progress=progress,
    )
    settings = request.step_settings(target.build)  # bad input stops here, nothing written
    plan = plan_run(target.build, request, dry_run=dry_run)
    if dry_run:
        return ModeRun(request.sink.fs_mode, target, plan, None, warnings=warnings)
    result = execute(target.build, request, plan, settings)
    copied = copy_run_logs(result, out) if out else None
    return ModeRun(request.sink.fs_mode, target, plan, result, copied, warnings + result.warnings)
