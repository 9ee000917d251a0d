"""The documentation holds together: every link leads to a file of the repository, every
`spec.md §N` citation to a section of docs/spec/, and the README's quick start works as
written (run literally, in a fresh folder, by a shell)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "docs" / "spec"
DOCS = sorted([REPO / "README.md", REPO / "CHANGELOG.md", *(REPO / "docs").rglob("*.md")])
LINK = re.compile(r"\]\(([^)\s]+)\)")
CITATION = re.compile(r"\b([a-z-]+\.md) §(\d+)")
SOURCES = sorted([*DOCS, *(REPO / "osiris").rglob("*.py")])


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_link_leads_to_a_file_of_the_repository(doc: Path) -> None:
    broken = []
    for target in LINK.findall(doc.read_text("utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a web address or an anchor in the same page
        if not (doc.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("source", SOURCES, ids=_rel)
def test_every_cited_spec_section_exists(source: Path) -> None:
    missing = []
    for name, section in CITATION.findall(source.read_text("utf-8")):
        spec = SPEC / name
        if not spec.is_file() or not re.search(rf"^## {section}\. ", spec.read_text("utf-8"), re.M):
            missing.append(f"{name} §{section}")
    assert missing == []


def quick_start() -> list[str]:
    """The commands of the README's quick-start block, in order."""
    text = (REPO / "README.md").read_text("utf-8")
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line for line in block.strip().splitlines() if line.strip()]


@pytest.mark.slow
def test_the_readme_quick_start_works_as_written(tmp_path: Path) -> None:
    commands = quick_start()
    assert commands[0].startswith("osiris init ")
    bin_dir = Path(sys.executable).parent  # where this install put the `osiris` script
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSIRIS_")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "success run run-000001" in done.stdout
    outputs = list(tmp_path.rglob("output/*.csv"))
    assert [p.name for p in outputs] == ["sales_by_country.csv"]
    assert outputs[0].read_text("utf-8").splitlines()[0] == "country,orders,total"
