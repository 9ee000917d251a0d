"""Pipelines as a user sees them: latest builds per profile, last run, and run tags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osiris.core.profile_map import ProfileMap
from osiris.core.run_index import (
    UPDATE_KIND,
    AmbiguousRunId,
    RunIndexWriter,
    RunRecord,
    read_pointer,
    utc_now_iso,
)
from osiris.core.tags import parse_tags
from osiris.errors import NotFound, OsirisError, UsageError

if TYPE_CHECKING:
    from osiris.core.fs_paths import FilesystemContract

from osiris.core.run_sources import RUNS_HINT, RunCatalog, RunFilter, display_path, read_json_object


@dataclass(frozen=True)
class PipelineBuild:
    """A pipeline's latest build for one profile, and its last recorded run."""

    pipeline_slug: str
    profile: str | None
    manifest_path: Path
    manifest_hash: str | None
    built_at: str
    latest_pointer: bool
    last_run: RunRecord | None

    def to_dict(self, base_path: Path) -> dict[str, Any]:
        run = self.last_run
        return {
            "pipeline_slug": self.pipeline_slug,
            "profile": self.profile,
            "manifest_path": display_path(self.manifest_path, base_path),
            "manifest_hash": self.manifest_hash,
            "built_at": self.built_at,
            "latest_pointer": self.latest_pointer,
            "last_run": None
            if run is None
            else {"run_id": run.run_id, "status": run.status, "started_at": run.started_at},
        }


def list_pipelines(contract: FilesystemContract, catalog: RunCatalog) -> list[PipelineBuild]:
    """Each compiled pipeline and profile: its latest build and its last run."""
    pipelines_root = contract.build_dir / "pipelines"
    enabled = contract.config.filesystem.profiles.enabled
    profile_dirs = [p.name for p in _subdirs(pipelines_root)] if enabled else [None]
    profiles = ProfileMap.from_config(contract.config)
    found = []
    for profile in profile_dirs:
        for slug_dir in _subdirs(contract.build_pipelines_dir(profile)):
            slug = slug_dir.name
            pointer = read_pointer(contract.latest_pointer(slug))
            pointed = None
            if pointer is not None and pointer.profile == profile:
                pointed = contract.absolute(pointer.manifest_path)
            manifests = [p for p in slug_dir.glob("*/manifest.yaml") if p.is_file()]
            if pointed is not None and pointed.is_file():
                manifest: Path | None = pointed
            else:
                manifest = max(manifests, key=lambda p: p.stat().st_mtime_ns, default=None)
            if manifest is None:
                continue
            runs = catalog.runs(RunFilter(pipeline=slug, profile=profile, limit=1))
            found.append(
                PipelineBuild(
                    pipeline_slug=slug,
                    profile=profile,
                    manifest_path=manifest,
                    manifest_hash=_build_hash(manifest, profiles),
                    built_at=utc_now_iso(
                        datetime.fromtimestamp(manifest.stat().st_mtime, timezone.utc)
                    ),
                    latest_pointer=manifest == pointed,
                    last_run=runs[0] if runs else None,
                )
            )
    return sorted(found, key=lambda b: (b.pipeline_slug, b.profile or ""))


def _subdirs(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())


def _build_hash(manifest: Path, profiles: ProfileMap) -> str | None:
    summary = read_json_object(manifest.parent / "run_summary.json")
    if summary.get("manifest_hash"):
        return str(summary["manifest_hash"])
    # A build another version wrote (a migrated legacy one) has no stored hash: the hash
    # its runs carry is the one of its content under its mapped profile.
    from osiris.core.compiler import load_build

    try:
        return load_build(manifest, profiles).manifest_hash
    except OsirisError:
        return None


# -- tags ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TagChange:
    """One run's tags before and after `tag_runs`."""

    run_id: str
    pipeline_slug: str
    before: tuple[str, ...]
    after: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.before != self.after


def tag_runs(
    catalog: RunCatalog,
    index_dir: Path,
    pipeline_slug: str,
    *,
    run_id: str | None = None,
    all_runs: bool = False,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> list[TagChange]:
    """Add and remove tags of a pipeline's latest run (or one run, or all) as index updates."""
    add, remove = _check_tags(add, remove)
    if run_id is not None and all_runs:
        raise UsageError("--run and --all exclude each other", hint="pass one of them")
    if run_id is not None:
        records = [_run_of(catalog, pipeline_slug, run_id)]
        if records[0].pipeline_slug != pipeline_slug:
            raise UsageError(
                f"run '{records[0].run_id}' belongs to pipeline '{records[0].pipeline_slug}', "
                f"not '{pipeline_slug}'",
                hint=f"osiris pipelines tag {records[0].pipeline_slug} --run {records[0].run_id}",
            )
    else:
        limit = None if all_runs else 1
        records = catalog.runs(RunFilter(pipeline=pipeline_slug, limit=limit))
        if not records:
            raise NotFound(f"pipeline '{pipeline_slug}' has no runs", hint=RUNS_HINT)
    legacy = [r.run_id for r in records if r.source == "legacy"]
    if legacy:
        raise UsageError(
            f"run '{legacy[0]}' is in the legacy layout, where tags cannot be recorded",
            hint="osiris migrate plan moves it into the contract layout",
        )
    changes = [
        TagChange(
            r.run_id, r.pipeline_slug, r.tags, tuple(sorted((set(r.tags) | set(add)) - set(remove)))
        )
        for r in records
    ]
    updates = [
        {
            "run_id": c.run_id,
            "pipeline_slug": c.pipeline_slug,
            "tags": list(c.after),
            "kind": UPDATE_KIND,
            "recorded_at": utc_now_iso(),
        }
        for c in changes
        if c.changed
    ]
    # One append (one fsync) for all runs; the same update records append_update writes.
    RunIndexWriter(index_dir).append_many(updates)
    return changes


def _run_of(catalog: RunCatalog, pipeline_slug: str, run_id: str) -> RunRecord:
    """The run `run_id` names, looked for in the pipeline first: run ids count per
    pipeline, so another pipeline's run of the same id is not ambiguous here."""
    if "/" not in run_id:
        try:
            return catalog.get(f"{pipeline_slug}/{run_id}")
        except AmbiguousRunId:
            raise
        except NotFound:
            pass  # another pipeline's run: the lookup below names its pipeline
    return catalog.get(run_id)


def _check_tags(
    add: Sequence[str], remove: Sequence[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The tags to add and to remove, in the one tag model (tags.py)."""
    if not add and not remove:
        raise UsageError("nothing to do", hint="pass --add TAG and/or --remove TAG")
    add, remove = parse_tags(add), parse_tags(remove)
    both = sorted(set(add) & set(remove))
    if both:
        raise UsageError(f"tag '{both[0]}' is both added and removed", hint="pass it once")
    return add, remove
