"""Project trees written by the real upstream releases, kept under `tests/fixtures/upstream/`.

`copy_upstream(name, dest)` copies one of them (symlinks as links) and recreates the empty
folders git cannot keep (listed in `empty_dirs.txt`). `tests/fixtures/upstream/README.md`
says how each tree was made and what was changed in it (only the original project path).
"""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
V030, V035, V057 = "v030", "v035", "v057"
# The project folder each tree was written in (the same length as the real one it replaces),
# which no longer exists: every absolute path in the tree names it, as after a move.
ORIGINAL_ROOT = {
    V030: "/home/analyst/projects/etl-v0-3-0",
    V035: "/home/analyst/projects/legacy-etl",
    V057: "/home/analyst/projects/shop-v0507",
}


def copy_upstream(name: str, dest: Path, *, base_path: str | None = "") -> Path:
    """Copy the upstream tree `name` to `dest` and return `dest`.

    A 0.5.x tree's `osiris.yaml` names its original (absolute) project folder as
    `filesystem.base_path`; `base_path` replaces that value (`""`: the folder itself, as a
    user fixes a moved project), and None keeps the file as upstream wrote it.
    """
    source = FIXTURES / name
    shutil.copytree(source, dest, symlinks=True)
    for line in (FIXTURES / "empty_dirs.txt").read_text(encoding="utf-8").splitlines():
        folder, _, rel = line.partition("/")
        if folder == name and rel:
            (dest / rel).mkdir(parents=True, exist_ok=True)
    config = dest / "osiris.yaml"
    original = ORIGINAL_ROOT[name]
    if base_path is not None and f'base_path: "{original}"' in config.read_text("utf-8"):
        text = config.read_text("utf-8").replace(f'"{original}"', f'"{base_path}"')
        config.write_text(text, encoding="utf-8")
    return Path(dest)
