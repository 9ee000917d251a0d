"""The bundled demo project (`examples/orders`) and two ways to run `osiris` on it in tests.

`osiris(...)` runs the CLI in-process through the real entry point (`main`), so exit codes
and error lines are exactly what the console script produces; `osiris_process(...)` runs
`python -m osiris` as a real child process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from osiris.cli.main import main

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "orders"
DEMO_PIPELINE = "pipelines/orders_by_country.yaml"
DEMO_SLUG = "orders-by-country"


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def copy_demo_project(dest: Path, *, pipelines: Iterable[str] | None = None) -> Path:
    """Copy examples/orders to `dest` (only the named `pipelines/` files, if given)."""
    wanted = None if pipelines is None else set(pipelines)

    def skip(folder: str, names: list[str]) -> list[str]:
        if wanted is None or Path(folder).name != "pipelines":
            return []
        return [name for name in names if name not in wanted]

    shutil.copytree(EXAMPLE_DIR, dest, ignore=skip)
    return Path(dest)


def osiris_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without any `OSIRIS_*` variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSIRIS_")}
    env.update(extra or {})
    return env


def osiris(*args: str, env: Mapping[str, str] | None = None) -> CliResult:
    """Run `osiris ARGS` in-process as the console script does, without `OSIRIS_*` variables
    other than those in `env`."""
    scrubbed: dict[str, str | None] = {k: None for k in os.environ if k.startswith("OSIRIS_")}
    scrubbed.update(env or {})
    with CliRunner().isolation(env=scrubbed) as (out, err, _):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        return CliResult(code, out.getvalue().decode(), err.getvalue().decode())


def osiris_process(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 60
) -> CliResult:
    """Run `python -m osiris ARGS` in `cwd` as a child process, without `OSIRIS_*` variables."""
    done = subprocess.run(
        [sys.executable, "-m", "osiris", *args],
        cwd=cwd,
        env=osiris_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


def answered_or_refused(done: CliResult) -> None:
    """Exit 0 (1: a check that found problems), or 2 with an `error:` line per problem."""
    assert done.code in (0, 1, 2), done.err
    lines = done.err.splitlines()
    assert all(line.startswith(("error: ", "warning: ")) for line in lines), done.err
    if done.code == 2:
        assert any(line.startswith("error: ") for line in lines), done.err
