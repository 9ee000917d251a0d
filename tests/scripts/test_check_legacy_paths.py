"""scripts/check_legacy_paths.py: legacy path literals outside `compat/` (compat.md §3)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_legacy_paths.py"

PLANTED = '''\
"""logs/ and compiled/ in a docstring are prose, not paths."""
import os
from pathlib import Path

import click


def legacy(root, sid):
    a = "logs/run_1"
    b = root / "compiled"
    c = os.path.join(root, "logs")
    d = f"{root}/logs/{sid}"
    e = Path(".last_compile.json")
    f = ".osiris_cache"
    return a, b, c, d, e, f


@click.group("logs")
def contract(root):
    """Names that only look legacy."""
    return root / "run_logs", {"compiled": True}, "dist/logs", f"{root}/run_logs/x"
'''


def check(*packages: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, packages)], capture_output=True, text=True
    )


def make_package(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text)
    return package


def test_planted_literals_are_listed_with_file_and_line(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"mod.py": PLANTED})

    result = check(package)

    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "pkg/mod.py:9: 'logs/run_1'",
        "pkg/mod.py:10: 'compiled'",
        "pkg/mod.py:11: 'logs'",
        "pkg/mod.py:12: f'{root}/logs/{sid}'",
        "pkg/mod.py:13: '.last_compile.json'",
        "pkg/mod.py:14: '.osiris_cache'",
    ]
    assert "6 legacy path literal(s) outside compat/" in result.stderr


def test_the_pragma_marks_a_documented_exception(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """\
        LEGACY = "logs/.last_compile.json"  # legacy-path: ok
        OTHER = (
            "compiled/manifest.yaml"  # legacy-path: ok
        )
        MISSED = "compiled/x"  # legacy path, but not the pragma
        """
    )
    package = make_package(tmp_path, {"mod.py": source})

    result = check(package)

    assert result.returncode == 1
    assert result.stdout.splitlines() == ["pkg/mod.py:5: 'compiled/x'"]


def test_the_compat_folder_may_name_legacy_paths(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"compat/__init__.py": "", "compat/layout.py": PLANTED})

    result = check(package)

    assert (result.returncode, result.stdout) == (0, "")


def test_a_clean_tree_exits_0_silently(tmp_path: Path) -> None:
    package = make_package(tmp_path, {"mod.py": 'RUN_LOGS = "run_logs"\nBUILD = "build"\n'})

    result = check(package)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_osiris_package_is_clean() -> None:
    result = check()

    assert result.returncode == 0, result.stdout
