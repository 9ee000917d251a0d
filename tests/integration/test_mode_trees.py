"""The demo pipeline compiled and run once in each rollout mode writes exactly its tree.

The trees are pinned by file names (`tests/golden/data/modes/<mode>.txt`), with the parts
that change between runs normalised: legacy session ids, `run_ts`, the manifest hash.
Run ids are deterministic (`incremental`). After an intended change, rewrite and review:
    OSIRIS_UPDATE_GOLDEN=1 .venv/bin/pytest tests/integration/test_mode_trees.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.helpers.demo import osiris
from tests.helpers.projects import make_orders_project
from tests.helpers.tree import snapshot

GOLDEN = Path(__file__).parents[1] / "golden" / "data" / "modes"
UPDATE = os.environ.get("OSIRIS_UPDATE_GOLDEN") == "1"
MODES = ("legacy", "dual", "contract")
INPUTS = ("data", "pipelines", "osiris.yaml")
CONTRACT_TOPS = {"build", "run_logs", "aiop", ".osiris"}
LEGACY_TOPS = {"logs", "compiled"}
SESSION = re.compile(r"\b(compile|run)_\d{13}\b")
RUN_TS = re.compile(r"\b\d{8}T\d{6}Z")


def normalised_tree(root: Path, manifest_hash: str) -> list[str]:
    """Every path the commands wrote (folders end in `/`), with volatile parts replaced."""
    names = []
    for rel, info in snapshot(root, ignore=INPUTS).items():
        name = rel.replace(manifest_hash, "<hash>").replace(manifest_hash[:7], "<short>")
        name = RUN_TS.sub("<run_ts>", SESSION.sub(r"\1_<ms>", name))
        names.append(name + ("/" if info.kind == "dir" else ""))
    return sorted(names)


@pytest.fixture(scope="module", params=MODES)
def mode_project(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    mode = request.param
    root = make_orders_project(
        tmp_path_factory.mktemp(mode) / "proj", config={"compat": {"mode": mode}}
    )
    project = ["--project", str(root)]
    compiled = osiris(*project, "compile", "pipelines/orders.yaml", "--json")
    assert compiled.code == 0, compiled.err
    ran = osiris(*project, "run", "--last-compile", "--run-id-format", "incremental", "--json")
    assert ran.code == 0, ran.out + ran.err
    assert compiled.json()["fs_mode"] == ran.json()["fs_mode"] == mode
    return mode, root, compiled.json()["manifest_hash"]


def test_each_mode_writes_exactly_its_tree(mode_project) -> None:
    mode, root, manifest_hash = mode_project
    actual = normalised_tree(root, manifest_hash)
    golden = GOLDEN / f"{mode}.txt"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text("\n".join(actual) + "\n", "utf-8")
    assert actual == golden.read_text("utf-8").splitlines()


def test_each_mode_writes_only_its_layouts(mode_project) -> None:
    mode, root, _ = mode_project
    tops = {path.name for path in root.iterdir()} - set(INPUTS) - {"output"}
    expected = {
        "legacy": LEGACY_TOPS,
        "dual": CONTRACT_TOPS | LEGACY_TOPS,
        "contract": CONTRACT_TOPS,
    }[mode]
    assert tops == expected


def test_dual_tree_is_the_contract_tree_plus_the_legacy_tree() -> None:
    def names(mode: str, *, folders: bool) -> set[str]:
        lines = (GOLDEN / f"{mode}.txt").read_text("utf-8").splitlines()
        return {line for line in lines if line.endswith("/") == folders}

    both = names("contract", folders=False) | names("legacy", folders=False)
    assert names("dual", folders=False) == both
    # Every step folder holds its cleaned_config.json, so the mirror has every folder too.
    both = names("contract", folders=True) | names("legacy", folders=True)
    assert names("dual", folders=True) == both
