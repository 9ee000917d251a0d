"""Legacy-write guard (compat.md §3): a pytest plugin failing tests that write the legacy layout.

Installed as a `pytest11` entry point, so pytest loads it in every session of every project
that installs Osiris; it stays inert (no audit hook, no per-test work) unless activated with
`-p osiris.compat.guard`, `--osiris-legacy-guard` or the ini option `osiris_legacy_guard = true`.

Once active it adds one process-wide audit hook (audit hooks cannot be removed). During each
test phase the hook refuses, by raising `LegacyWriteError`, any write under `logs/` or
`compiled/` of an Osiris project whose mode is `contract`, so the write never happens; it also
records the write, so the test fails even when the code under test swallows the error.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from osiris.compat.legacy_layout import COMPILED_DIR, LOGS_DIR
from osiris.errors import OsirisError

PLUGIN_NAME = "osiris.compat.guard"
OPTION = "--osiris-legacy-guard"
INI_OPTION = "osiris_legacy_guard"
ALLOW_MARKER = "allow_legacy_writes"
MODE_ENV = "OSIRIS_FS_CONTRACT"

_LEGACY_TOP = frozenset({LOGS_DIR.name, COMPILED_DIR.name})
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
# Audit event -> (path argument, its dir_fd argument or None) for each path it changes.
# Only the link side of os.symlink/os.link is written; os.replace raises os.rename and
# os.unlink raises os.remove. Metadata events (chmod, utime, xattr) create nothing.
_TARGETS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "open": ((0, None),),
    "os.mkdir": ((0, 2),),
    "os.rename": ((0, 2), (1, 3)),
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.symlink": ((1, 2),),
    "os.link": ((1, 3),),
    "os.truncate": ((0, None),),
    "shutil.copyfile": ((1, None),),
    "shutil.copytree": ((1, None),),
    "shutil.move": ((0, None), (1, None)),
    "shutil.rmtree": ((0, 1),),
}


class LegacyWriteError(PermissionError):
    """A write to the legacy layout of a project in contract mode, refused by the guard."""


@dataclass(frozen=True)
class Violation:
    """One refused write: the audit event, the absolute path, and why it is legacy."""

    event: str
    path: str
    project: str
    mode_origin: str

    def describe(self) -> str:
        """One line naming the operation, the path, and where the contract mode came from."""
        return (
            f"{self.event} {self.path}: legacy layout of the Osiris project {self.project} "
            f"(compat.mode contract, from {self.mode_origin})"
        )


FIX = (
    "write through the contract layout (osiris.core.fs_paths: run_logs/, build/, aiop/), "
    "or set compat.mode to dual/legacy while the project is mid-rollout, or mark a test "
    f"that builds a legacy fixture with @pytest.mark.{ALLOW_MARKER}"
)


class LegacyWriteGuard:
    """Per-session guard: watches the writes of the test phase in progress."""

    def __init__(self) -> None:
        # Imported on activation only: the configuration (and pydantic, when it validates)
        # would add to every pytest session of every project that installs Osiris.
        from osiris.core.fs_config import CONFIG_FILENAME, load_config

        self._config_filename = CONFIG_FILENAME
        self._load_config = load_config
        self.watching = False
        self.violations: list[Violation] = []
        self._projects: dict[str, str | None] = {}
        self._modes: dict[tuple[str, str], str | None] = {}

    def check(self, event: str, args: tuple[Any, ...]) -> None:
        """Raise `LegacyWriteError` (and record it) if the event changes a guarded path."""
        __tracebackhide__ = True  # end the test's traceback at the write, not in here
        for index, dir_fd_index in _TARGETS[event]:
            dir_fd = args[dir_fd_index] if dir_fd_index is not None else None
            path = _absolute(args[index], dir_fd)
            if path is None:
                continue
            if os.path.basename(path) == self._config_filename:
                self.forget()
            violation = self._violation(event, path)
            if violation is not None:
                self.violations.append(violation)
                raise LegacyWriteError(f"{violation.describe()}\nfix: {FIX}")

    def forget(self) -> None:
        """Drop cached project folders and modes (an osiris.yaml may have changed)."""
        self._projects.clear()
        self._modes.clear()

    def _violation(self, event: str, path: str) -> Violation | None:
        if _LEGACY_TOP.isdisjoint(path.split(os.sep)):
            return None
        project = self._project_of(os.path.dirname(path))
        if project is None:
            return None
        if os.path.relpath(path, project).split(os.sep, 1)[0] not in _LEGACY_TOP:
            return None
        origin = self._contract_origin(project)
        return None if origin is None else Violation(event, path, project, origin)

    def _project_of(self, folder: str) -> str | None:
        visited = []
        while folder not in self._projects:
            visited.append(folder)
            if os.path.isfile(os.path.join(folder, self._config_filename)):
                self._projects[folder] = folder
                break
            parent = os.path.dirname(folder)
            if parent == folder:
                self._projects[folder] = None
                break
            folder = parent
        found = self._projects[folder]
        self._projects.update(dict.fromkeys(visited, found))
        return found

    def _contract_origin(self, project: str) -> str | None:
        """Where the project's `contract` mode comes from, or None when it is dual/legacy."""
        env_value = os.environ.get(MODE_ENV, "")
        key = (project, env_value)
        if key not in self._modes:
            try:
                resolved = self._load_config(Path(project), env={MODE_ENV: env_value})
            except OsirisError:
                # Osiris itself would refuse to run here; the default mode applies.
                self._modes[key] = "default (osiris.yaml is invalid)"
            else:
                mode = resolved.config.compat.mode
                origin = resolved.origin("compat.mode")
                shown = self._config_filename if origin == "file" else origin
                self._modes[key] = shown if mode == "contract" else None
        return self._modes[key]

    # Old-style hooks only: the plugin is loaded by every pytest a project may pin, and
    # `wrapper=True` needs pluggy 1.2, so it would break the sessions of older ones.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """Start watching before the test's fixtures are set up, unless the test opts out."""
        self.watching = item.get_closest_marker(ALLOW_MARKER) is None
        self.forget()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        """Fail the phase that wrote the legacy layout, even when the code caught the refusal."""
        outcome = yield
        report = outcome.get_result()
        violations, self.violations = self.violations, []
        if call.when == "teardown":
            self.watching = False
        # An uncaught LegacyWriteError already failed the phase and names the write.
        if not violations or (call.excinfo and call.excinfo.errisinstance(LegacyWriteError)):
            return
        lines = "\n".join(f"  {v.describe()}" for v in violations)
        text = f"the test wrote the legacy layout:\n{lines}\nfix: {FIX}"
        if report.failed:
            report.sections.append(("legacy writes", text))
        else:
            report.outcome = "failed"
            report.longrepr = text


def _absolute(raw: Any, dir_fd: Any) -> str | None:
    """The absolute path an audit argument names; None for descriptors and fd-relative paths."""
    if not isinstance(raw, (str, bytes, os.PathLike)):
        return None
    path = os.fsdecode(os.fspath(raw))
    if not os.path.isabs(path):
        # dir_fd is -1 or None when absent; fd-relative calls (shutil.rmtree's inner
        # unlinks) are left alone, the rmtree call itself is checked by its own event.
        if isinstance(dir_fd, int) and dir_fd >= 0:
            return None
        path = os.path.join(os.getcwd(), path)
    return os.path.normpath(path)


# The innermost pytest session (pytester nests them in one process) owns the hook:
# (config, guard or None when that session did not activate the guard).
_sessions: list[tuple[pytest.Config, LegacyWriteGuard | None]] = []
_busy = threading.local()
_hook_installed = False


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Called for every audited operation in the process: return as early as possible.
    __tracebackhide__ = True
    if event not in _TARGETS or not _sessions:
        return
    guard = _sessions[-1][1]
    if guard is None or not guard.watching or getattr(_busy, "active", False):
        return
    if event == "open" and not args[2] & _WRITE_FLAGS:
        return
    # Reading osiris.yaml raises `open` events of its own.
    _busy.active = True
    try:
        guard.check(event, args)
    finally:
        _busy.active = False


def _requested(config: pytest.Config) -> bool:
    return bool(
        PLUGIN_NAME in (config.option.plugins or [])
        or config.getoption(INI_OPTION)
        or config.getini(INI_OPTION)
    )


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add `--osiris-legacy-guard` and the ini option `osiris_legacy_guard`."""
    help_text = "fail tests that write logs/ or compiled/ of an Osiris project in contract mode"
    parser.getgroup("osiris").addoption(
        OPTION, action="store_true", dest=INI_OPTION, help=help_text
    )
    parser.addini(INI_OPTION, help_text, type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    """Register the opt-out marker, and activate the guard when asked to."""
    global _hook_installed
    config.addinivalue_line(
        "markers", f"{ALLOW_MARKER}: let this test write the legacy layout (osiris.compat.guard)"
    )
    guard = LegacyWriteGuard() if _requested(config) else None
    if guard is not None:
        config.pluginmanager.register(guard, "osiris-legacy-guard-session")
        if not _hook_installed:
            sys.addaudithook(_audit)
            _hook_installed = True
    _sessions.append((config, guard))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Hand the hook back to the enclosing session, if any."""
    _sessions[:] = [entry for entry in _sessions if entry[0] is not config]
