"""`osiris aiop export`: a deterministic zip of a run's AIOP pack, regenerated if missing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from osiris.core.run_index import (
    AmbiguousRunId,
)
from osiris.errors import NotFound, UsageError

if TYPE_CHECKING:
    from osiris.core.fs_paths import FilesystemContract

from osiris.core.fsio import open_regular
from osiris.core.run_index import parse_moment
from osiris.core.run_sources import (
    EVENTS,
    UNFINISHED,
    RunCatalog,
    RunFolder,
    edge_events,
    is_regular_file,
)

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class PackExport:
    """Where `export_pack` wrote its zip, from which pack, and whether it rebuilt the pack."""

    run_id: str
    zip_path: Path
    pack_dir: Path
    regenerated: bool
    files: tuple[str, ...]


def export_pack(
    catalog: RunCatalog,
    contract: FilesystemContract,
    run_id_or_prefix: str,
    out: str | None,
    *,
    cwd: Path,
) -> PackExport:
    """Zip a run's AIOP pack; a missing pack is first rebuilt from the run's logs and kept.

    `out` is the zip file, or a folder to write `<run_id>-aiop.zip` into: one that exists,
    or one written with a trailing slash (created when missing)."""
    try:
        pack: RunFolder | None = catalog.pack(run_id_or_prefix)
    except AmbiguousRunId:
        raise
    except NotFound:
        pack = None
    if pack is not None:
        destination = _zip_destination(out, pack.run_id, cwd)
        files = zip_folder(pack.path, destination, root=pack.run_id)
        return PackExport(pack.run_id, destination, pack.path, False, files)
    from osiris.core.aiop import pack_from_run_dir, write_pack

    folder = _logs_for_export(catalog, run_id_or_prefix)
    home = _pack_home(catalog, contract, folder)
    # Checked before the pack is written: a refused export leaves nothing behind.
    destination = _zip_destination(out, folder.run_id, cwd)
    write_pack(home, pack_from_run_dir(folder.path))
    files = zip_folder(home, destination, root=folder.run_id)
    return PackExport(folder.run_id, destination, home, True, files)


def _logs_for_export(catalog: RunCatalog, run_id_or_prefix: str) -> RunFolder:
    try:
        folder = catalog.log_folder(run_id_or_prefix)
    except AmbiguousRunId:
        raise
    except NotFound:
        raise NotFound(
            f"run '{run_id_or_prefix}' has neither an AIOP pack nor run logs",
            hint="osiris aiop list and osiris logs list show what is on disk",
        ) from None
    if folder.status == UNFINISHED:
        raise UsageError(
            f"run '{folder.run_id}' has not ended (no run_end event), so its pack cannot be built",
            path=folder.path,
            hint="export it once the run has finished",
        )
    return folder


def _pack_home(catalog: RunCatalog, contract: FilesystemContract, folder: RunFolder) -> Path:
    """Where a run's pack belongs: its index record's `aiop_path`, else the contract's name."""
    if folder.record is not None and folder.record.aiop_path:
        home = catalog.source_of(folder.record).resolve_path(folder.record.aiop_path)
        if home is not None:
            return home
    from osiris.core.fs_paths import RunNaming, safe_token

    start = edge_events(folder.path / EVENTS)[0]
    digest = start.get("manifest_hash")
    started = parse_moment(start.get("ts"))
    if not digest or started is None or not folder.pipeline_slug:
        raise UsageError(
            f"run '{folder.run_id}' does not say its pipeline, manifest hash and start time",
            path=folder.path / EVENTS,
            hint="its run_start event is missing or damaged",
        )
    naming = RunNaming(
        pipeline_slug=folder.pipeline_slug,
        profile=folder.profile,
        manifest_hash=digest,
        manifest_short=contract.manifest_short(digest),
        run_id=safe_token(folder.run_id),
        run_ts=contract.run_ts(started),
        tags=folder.tags,
    )
    return contract.aiop_run_dir(naming)


def _zip_destination(out: str | None, run_id: str, cwd: Path) -> Path:
    name = f"{run_id}-aiop.zip"
    if out is None:
        destination = cwd / name
    elif out.endswith(("/", os.sep)) or Path(out).is_dir():
        folder = cwd / out
        if not folder.is_dir():
            _make_folder(folder)
        destination = folder / name
    else:
        destination = cwd / out
    if os.path.lexists(destination):
        raise UsageError(
            "already exists; an export never overwrites a file",
            path=destination,
            hint="choose another -o FILE or remove the old one",
        )
    if not destination.parent.is_dir():
        raise UsageError("no such folder", path=destination.parent, hint="create it first")
    return destination


def _make_folder(folder: Path) -> None:
    if os.path.lexists(folder):
        raise UsageError("is a file, not a folder", path=folder, hint="name a folder")
    folder.mkdir(parents=True)


def zip_folder(folder: Path, destination: Path, *, root: str) -> tuple[str, ...]:
    """Write the regular files under `folder` into a new zip, sorted, with fixed timestamps."""
    import zipfile

    files = sorted(_regular_files(folder))
    try:
        handle = open(destination, "xb")  # noqa: SIM115 - closed by the with below
    except FileExistsError:
        raise UsageError(
            "already exists; an export never overwrites a file", path=destination
        ) from None
    try:
        with handle, zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for rel in files:
                info = zipfile.ZipInfo(f"{root}/{rel}", date_time=_ZIP_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                with open_regular(folder / rel) as source:
                    archive.writestr(info, source.read())
    except BaseException:
        destination.unlink(missing_ok=True)
        raise
    return tuple(files)


def _regular_files(folder: Path) -> Iterator[str]:
    for dirpath, _dirnames, filenames in os.walk(folder, followlinks=False):
        for name in filenames:
            if is_regular_file(os.path.join(dirpath, name)):
                yield Path(dirpath, name).relative_to(folder).as_posix()
