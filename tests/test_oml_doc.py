"""Every example of docs/oml.md does what the page says: each ```yaml block starts with
`# expect: runs` (compiles and runs) or `# expect: error TEXT` (compile exits 2 with TEXT
in its error lines). They are compiled in a copy of examples/orders, as `bad.yaml`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.demo import copy_demo_project, osiris

DOC = Path(__file__).resolve().parents[1] / "docs" / "oml.md"
BLOCK = re.compile(r"```yaml\n(# expect: (runs|error) ?(.*?)\n.*?)```", re.S)
EXAMPLES = [m.groups() for m in BLOCK.finditer(DOC.read_text("utf-8"))]


def test_the_page_has_examples_of_both_kinds() -> None:
    assert {kind for _, kind, _ in EXAMPLES} == {"runs", "error"}
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize(("text", "kind", "expected"), EXAMPLES, ids=range(len(EXAMPLES)))
def test_each_example_does_what_the_page_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, kind: str, expected: str
) -> None:
    project = copy_demo_project(tmp_path / "orders", pipelines=[])
    (project / "pipelines" / "bad.yaml").write_text(text, "utf-8")
    monkeypatch.chdir(project)
    if kind == "runs":
        ran = osiris("run", "pipelines/bad.yaml", "--quiet")
        assert ran.code == 0, ran.err
        assert ran.out.startswith("success run ")
        return
    compiled = osiris("compile", "pipelines/bad.yaml")
    assert compiled.code == 2, compiled.out + compiled.err
    assert expected in compiled.err, compiled.err
    assert not (project / "build").exists()
