"""The top-level command: misspelled commands and options get "did you mean", exit 2."""

from __future__ import annotations

import pytest

from tests.helpers.demo import osiris


@pytest.mark.parametrize(
    ("args", "error", "suggested"),
    [
        (["rnu"], "No such command 'rnu'.", "Did you mean 'run'?"),
        (["migrat", "plan"], "No such command 'migrat'.", "Did you mean 'migrate'?"),
        (["runs", "lst"], "No such command 'lst'.", "Did you mean 'list'?"),
        (["runs", "list", "--jsn"], "No such option '--jsn'.", "'--json'"),
    ],
)
def test_a_misspelled_command_or_option_suggests_the_right_one(
    args: list[str], error: str, suggested: str
) -> None:
    result = osiris(*args)
    assert result.code == 2 and result.out == ""
    last = result.err.strip().splitlines()[-1]
    assert last.startswith(f"Error: {error} ") and suggested in last
    assert "Traceback" not in result.err
