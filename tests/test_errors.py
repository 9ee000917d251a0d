"""How errors become one line and an exit code (osiris/errors.py): an OSError the machine
caused, and names that hold line breaks."""

from __future__ import annotations

import errno
from pathlib import Path

from osiris.errors import EXIT_BAD_INPUT, EXIT_FAILED, ConfigError, environment_error


def test_a_file_that_could_not_be_created_names_its_folder(tmp_path: Path) -> None:
    never_made = tmp_path / "index" / ".latest.txt.x1y2.tmp"
    error = environment_error(PermissionError(errno.EACCES, "Permission denied", str(never_made)))
    assert error is not None and error.exit_code == EXIT_BAD_INPUT
    assert error.one_line() == (
        f"{never_made.parent}: this folder cannot be written: permission denied "
        "(hint: fix the folder's permissions)"
    )


def test_an_existing_file_that_cannot_be_written_is_named_itself(tmp_path: Path) -> None:
    existing = tmp_path / "runs.jsonl"
    existing.write_text("")
    error = environment_error(OSError(errno.EROFS, "Read-only file system", str(existing)))
    assert error is not None and error.exit_code == EXIT_BAD_INPUT
    assert error.one_line().startswith(f"{existing}: the file system is read-only")


def test_a_full_disk_is_a_failure_not_bad_input(tmp_path: Path) -> None:
    error = environment_error(OSError(errno.ENOSPC, "No space left", str(tmp_path / "x")))
    assert error is not None and error.exit_code == EXIT_FAILED
    assert "no space left on the device" in error.one_line()


def test_other_os_errors_are_not_the_environments_fault() -> None:
    assert environment_error(OSError(errno.EBADF, "Bad file descriptor")) is None


def test_a_name_holding_line_breaks_or_control_characters_stays_on_one_line() -> None:
    # A key of a damaged osiris.yaml may hold anything; the error is still one line.
    error = ConfigError("unknown key", path="osiris.yaml", key="compat.\x1e\nx\u2028", hint="a\tb")
    assert error.one_line() == r"osiris.yaml: compat.\x1e\x0ax\u2028: unknown key (hint: a" + "\tb)"
    assert len(error.one_line().splitlines()) == 1
