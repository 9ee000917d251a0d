"""Fixtures for the reader commands: a project with real runs, recorded once per module."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.recorded import record_runs


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("recorded") / "proj"
    return root, record_runs(root)


@pytest.fixture
def project(template: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    return Path(shutil.copytree(template[0], tmp_path / "proj", symlinks=True))


@pytest.fixture
def ids(template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return template[1]
