"""AIOP export: a deterministic zip, never overwriting, regenerated from run logs if missing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from osiris.core.aiop_export import export_pack
from osiris.core.fs_config import load_config
from osiris.core.fs_paths import FilesystemContract
from osiris.core.run_sources import (
    ProjectDirs,
    catalog_for,
)
from osiris.errors import NotFound, UsageError
from tests.helpers.runs import HASH, index, record, write_run


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return tmp_path / "proj"


@pytest.fixture
def project(tmp_path: Path) -> FilesystemContract:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "osiris.yaml").write_text("{}\n")
    return FilesystemContract.from_resolved(load_config(root))


def test_export_zips_the_pack_in_sorted_order_with_fixed_times(
    project: FilesystemContract, tmp_path: Path
) -> None:
    base = project.base_path
    rec = record("r-1", "2025-10-07T10:00:00.000Z")
    index(base, rec)
    pack = base / rec.aiop_path
    (pack / "annex").mkdir(parents=True)
    (pack / "summary.json").write_text('{"run_id": "r-1"}\n')
    (pack / "run-card.md").write_text("# Run r-1\n")
    (pack / "annex/events.ndjson").write_text("{}\n")
    (pack / "annex/linked.ndjson").symlink_to(tmp_path / "secret")
    catalog = catalog_for(ProjectDirs.from_contract(project))
    first = export_pack(catalog, project, "r-1", str(tmp_path / "a.zip"), cwd=tmp_path)
    second = export_pack(catalog, project, "r-1", None, cwd=tmp_path)
    assert second.zip_path == tmp_path / "r-1-aiop.zip"
    assert first.zip_path.read_bytes() == second.zip_path.read_bytes()
    with zipfile.ZipFile(first.zip_path) as archive:
        assert archive.namelist() == [
            "r-1/annex/events.ndjson",
            "r-1/run-card.md",
            "r-1/summary.json",
        ]
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert archive.read("r-1/summary.json") == b'{"run_id": "r-1"}\n'
    assert not first.regenerated
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    assert export_pack(catalog, project, "r-1", str(out_dir), cwd=tmp_path).zip_path == (
        out_dir / "r-1-aiop.zip"
    )
    # A trailing slash means a folder, made when missing; relative to the working folder.
    made = export_pack(catalog, project, "r-1", "new/dir/", cwd=tmp_path)
    assert made.zip_path == tmp_path / "new/dir/r-1-aiop.zip" and made.zip_path.is_file()
    assert not (tmp_path / "new/dir").is_file()
    (tmp_path / "plain").write_text("a file")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        export_pack(catalog, project, "r-1", "plain/", cwd=tmp_path)


def test_export_never_overwrites(project: FilesystemContract, tmp_path: Path) -> None:
    rec = record("r-1", "2025-10-07T10:00:00.000Z")
    index(project.base_path, rec)
    (project.base_path / rec.aiop_path).mkdir(parents=True)
    (project.base_path / rec.aiop_path / "summary.json").write_text("{}")
    (tmp_path / "taken.zip").write_bytes(b"mine")
    catalog = catalog_for(ProjectDirs.from_contract(project))
    with pytest.raises(UsageError, match="already exists; an export never overwrites a file"):
        export_pack(catalog, project, "r-1", str(tmp_path / "taken.zip"), cwd=tmp_path)
    assert (tmp_path / "taken.zip").read_bytes() == b"mine"
    with pytest.raises(UsageError, match="no such folder"):
        export_pack(catalog, project, "r-1", str(tmp_path / "none/x.zip"), cwd=tmp_path)


def test_a_missing_pack_is_rebuilt_from_the_run_logs_into_its_home(
    project: FilesystemContract, tmp_path: Path
) -> None:
    base = project.base_path
    rec = record("r-1", "2025-10-07T10:00:00.000Z")
    index(base, rec)
    write_run(base, rec)
    catalog = catalog_for(ProjectDirs.from_contract(project))
    result = export_pack(catalog, project, "r-1", None, cwd=tmp_path)
    home = base / rec.aiop_path
    assert (result.regenerated, result.pack_dir) == (True, home)
    summary = json.loads((home / "summary.json").read_text())
    assert (summary["run_id"], summary["status"]) == ("r-1", "success")
    assert result.files == (
        "annex/errors.ndjson",
        "annex/events.ndjson",
        "annex/metrics.ndjson",
        "run-card.md",
        "summary.json",
    )
    # The rebuilt pack is kept: the next export zips it as it is.
    again = export_pack(catalog, project, "r-1", str(tmp_path / "again.zip"), cwd=tmp_path)
    assert not again.regenerated


def test_an_unindexed_run_gets_its_pack_at_the_contract_path(
    project: FilesystemContract, tmp_path: Path
) -> None:
    rec = record("r-loose", "2025-10-07T10:00:00.000Z")
    write_run(project.base_path, rec)
    catalog = catalog_for(ProjectDirs.from_contract(project))
    result = export_pack(catalog, project, "r-loose", None, cwd=tmp_path)
    expected = project.base_path / f"aiop/dev/orders/{HASH[:7]}-{HASH}/r-loose"
    assert result.pack_dir == expected and (expected / "summary.json").is_file()


def test_export_refuses_unfinished_runs_and_runs_with_nothing_left(
    project: FilesystemContract, tmp_path: Path
) -> None:
    base = project.base_path
    write_run(base, record("r-running", "2025-10-07T10:00:00.000Z"), ended=False)
    index(base, record("r-gone", "2025-10-01T10:00:00.000Z"))
    catalog = catalog_for(ProjectDirs.from_contract(project))
    with pytest.raises(UsageError, match="has not ended"):
        export_pack(catalog, project, "r-running", None, cwd=tmp_path)
    with pytest.raises(NotFound) as caught:
        export_pack(catalog, project, "r-gone", None, cwd=tmp_path)
    assert caught.value.one_line() == (
        "run 'r-gone' has neither an AIOP pack nor run logs "
        "(hint: osiris aiop list and osiris logs list show what is on disk)"
    )
    assert not (base / "aiop").exists() and list(tmp_path.glob("*.zip")) == []
