"""Progress bars: on a terminal only, and only once the work has run for a moment.

Each probe runs in a fresh interpreter whose stdin, stdout and stderr are a real
pseudo-terminal, as when a user types the command.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

from osiris.cli.progress import SHOW_AFTER, progress_bar
from tests.helpers.demo import osiris_env


def on_a_terminal(code: str, *args: str, cwd: Path) -> tuple[int, str]:
    """Run `python -c CODE ARGS` on a pseudo-terminal; its exit code and all it printed."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env={**osiris_env(), "COLUMNS": "100", "TERM": "xterm"},
        stdin=follower,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return child.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


STEPS = """\
import sys, time
from osiris.cli.progress import SHOW_AFTER, progress_bar
pause = float(sys.argv[1])
with progress_bar("copying") as update:
    assert update is not None, "no bar on a terminal"
    for done in range(1, 41):
        time.sleep(pause)
        update(done, 40)
print("rich loaded:", "rich" in sys.modules)
"""


def test_work_that_takes_a_while_shows_a_bar_ending_on_its_last_step(tmp_path: Path) -> None:
    code, shown = on_a_terminal(STEPS, str(SHOW_AFTER / 20), cwd=tmp_path)  # 2x SHOW_AFTER
    assert code == 0, shown
    assert "copying" in shown
    assert "40/40" in shown  # not where the last redraw happened to be
    assert "rich loaded: True" in shown


def test_quick_work_shows_no_bar_and_never_loads_rich(tmp_path: Path) -> None:
    code, shown = on_a_terminal(STEPS, "0", cwd=tmp_path)
    assert code == 0, shown
    assert "copying" not in shown and "/40" not in shown
    assert "rich loaded: False" in shown


def test_off_a_terminal_there_is_no_bar() -> None:
    # pytest captures stderr: not a terminal, as in a pipe or CI.
    with progress_bar("copying") as update:
        assert update is None
    with progress_bar("copying", enabled=False) as update:
        assert update is None


ROLLBACK = """\
import atexit, json, sys
atexit.register(lambda: print("rich loaded:", any(m.split(".")[0] == "rich" for m in sys.modules)))
from osiris.cli.main import main
main(sys.argv[1:])
"""


def test_a_quick_rollback_typed_on_a_terminal_draws_no_bar(tmp_path: Path) -> None:
    # A rollback of a small project ends before a bar would mean anything: it prints its
    # result only, and rich's progress module (longer to import than the work) stays out.
    from osiris.compat.migrate import apply
    from tests.helpers.legacy import make_legacy_project
    from tests.helpers.migration import contract

    root = tmp_path / "project"
    make_legacy_project(root)
    (root / "osiris.yaml").write_text("filesystem:\n  profiles:\n    default: dev\n")
    assert apply(contract(root)).migration_id is not None
    args = ["--project", str(root), "migrate", "rollback", "--yes"]
    code, shown = on_a_terminal(ROLLBACK, *args, cwd=tmp_path)
    assert code == 0, shown
    assert "Rolled back migration " in shown
    assert "rolling back" not in shown
    assert "rich loaded: False" in shown
