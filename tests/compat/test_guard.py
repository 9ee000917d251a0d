"""The legacy-write guard (compat.md §3), exercised through inner pytest sessions."""

from __future__ import annotations

import textwrap

import pytest

# Imported here, so inner sessions reuse it instead of re-importing pydantic on activation.
from osiris.core.fs_config import CONFIG_FILENAME

pytest_plugins = ["pytester"]

ACTIVATE = ("-p", "osiris.compat.guard")
# Hypothesis imports itself at the end of every session, and pytester drops modules an
# inner session imported: ~1 s per inner run for a plugin these runs do not use.
NO_HYPOTHESIS = ("-p", "no:hypothesispytest")

# (write, its target relative to the project, whether the target exists afterwards).
WRITES = [
    pytest.param('open("{top}/new.txt", "w").close()', "{top}/new.txt", False, id="open-w"),
    pytest.param('os.mkdir("{top}/sub")', "{top}/sub", False, id="os.mkdir"),
    pytest.param('Path("{top}/a/b").mkdir(parents=True)', "{top}/a/b", False, id="Path.mkdir"),
    pytest.param(
        'Path("src.txt").write_text("x"); os.rename("src.txt", "{top}/src.txt")',
        "{top}/src.txt",
        False,
        id="os.rename",
    ),
    pytest.param(
        'Path("src.txt").write_text("x"); shutil.copy("src.txt", "{top}")',
        "{top}/src.txt",
        False,
        id="shutil.copy",
    ),
    pytest.param('os.remove("{top}/old.txt")', "{top}/old.txt", True, id="os.remove"),
    pytest.param('shutil.rmtree("{top}")', "{top}", True, id="shutil.rmtree"),
    pytest.param('os.symlink("/tmp", "{top}/link")', "{top}/link", False, id="os.symlink"),
    pytest.param(
        'Path("src.txt").write_text("x"); os.link("src.txt", "{top}/hard")',
        "{top}/hard",
        False,
        id="os.link",
    ),
    pytest.param('os.truncate("{top}/old.txt", 0)', "{top}/old.txt", True, id="os.truncate"),
    pytest.param('os.rmdir("{top}/empty")', "{top}/empty", True, id="os.rmdir"),
    pytest.param(
        'Path("src.txt").write_text("x"); shutil.move("src.txt", "{top}/moved.txt")',
        "{top}/moved.txt",
        False,
        id="shutil.move",
    ),
    pytest.param(
        'Path("tree").mkdir(); Path("tree/f").write_text("x"); '
        'shutil.copytree("tree", "{top}/tree")',
        "{top}/tree",
        False,
        id="shutil.copytree",
    ),
    pytest.param('open("{top}/old.txt", "a").close()', "{top}/old.txt", True, id="open-a"),
    pytest.param('Path("{top}/touched").touch()', "{top}/touched", False, id="Path.touch"),
]


@pytest.fixture(autouse=True)
def _mode_from_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSIRIS_FS_CONTRACT", raising=False)


def make_project(pytester: pytest.Pytester, yaml: str = "") -> None:
    """A project with legacy folders in it; osiris.yaml comes last, so an outer guard allows it."""
    for top in ("logs", "compiled"):
        (pytester.path / top).mkdir()
        (pytester.path / top / "old.txt").write_text("legacy\n")
        (pytester.path / top / "empty").mkdir()
    (pytester.path / CONFIG_FILENAME).write_text(yaml)


def inner_test(pytester: pytest.Pytester, body: str, *, decorator: str = "") -> None:
    """Write one inner test module whose single test runs `body`."""
    pytester.makepyfile(
        "import os, shutil\nfrom pathlib import Path\nimport pytest\n\n"
        f"{decorator}\ndef test_inner():\n{textwrap.indent(body, '    ')}\n"
    )


@pytest.mark.parametrize("top", ["logs", "compiled"])
@pytest.mark.parametrize(("write", "target", "exists_after"), WRITES)
def test_contract_mode_refuses_the_write_and_fails_the_test(
    pytester: pytest.Pytester, top: str, write: str, target: str, exists_after: bool
) -> None:
    make_project(pytester)
    inner_test(pytester, write.format(top=top))

    result = pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE)

    result.assert_outcomes(failed=1)
    path = pytester.path / target.format(top=top)
    output = result.stdout.str()
    assert "LegacyWriteError" in output
    assert f"{path}: legacy layout of the Osiris project {pytester.path}" in output
    assert "compat.mode contract, from default" in output
    assert "fix: write through the contract layout" in output
    assert "@pytest.mark.allow_legacy_writes" in output
    assert path.exists() is exists_after
    # Refused before the change: what was there is untouched.
    assert (pytester.path / top / "old.txt").read_text() == "legacy\n"


def test_a_swallowed_refusal_still_fails_the_test(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    inner_test(pytester, 'try:\n    open("logs/x.txt", "w")\nexcept OSError:\n    pass')

    result = pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*the test wrote the legacy layout:", f"  open {pytester.path / 'logs/x.txt'}: *"]
    )


def test_a_test_failing_after_a_swallowed_refusal_reports_both(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    inner_test(
        pytester,
        'try:\n    os.mkdir("compiled/x")\nexcept OSError:\n    pass\nassert 1 == 2, "unrelated"',
    )

    result = pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE)

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * unrelated",
            "*- legacy writes -*",
            "the test wrote the legacy layout:",
            f"  os.mkdir {pytester.path / 'compiled/x'}: *",
        ]
    )


def test_a_write_in_a_fixture_fails_the_test(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def legacy_file():
            open("compiled/x.txt", "w").close()

        def test_inner(legacy_file):
            pass
        """
    )

    result = pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE)

    result.assert_outcomes(errors=1)
    assert f"open {pytester.path / 'compiled/x.txt'}" in result.stdout.str()


@pytest.mark.parametrize("mode", ["dual", "legacy"])
@pytest.mark.parametrize("source", ["env", "yaml"])
def test_dual_and_legacy_modes_may_write(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, mode: str, source: str
) -> None:
    if source == "env":
        monkeypatch.setenv("OSIRIS_FS_CONTRACT", mode)
        make_project(pytester)
    else:
        make_project(pytester, f"compat:\n  mode: {mode}\n")
    inner_test(pytester, 'open("logs/new.txt", "w").close()\nos.mkdir("compiled/sub")')

    pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE).assert_outcomes(passed=1)
    assert (pytester.path / "logs/new.txt").is_file()
    assert (pytester.path / "compiled/sub").is_dir()


def test_the_environment_outranks_osiris_yaml(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OSIRIS_FS_CONTRACT", "contract")
    make_project(pytester, "compat:\n  mode: dual\n")
    inner_test(pytester, 'open("logs/new.txt", "w").close()')

    result = pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE)

    result.assert_outcomes(failed=1)
    assert "compat.mode contract, from env OSIRIS_FS_CONTRACT" in result.stdout.str()


def test_the_nearest_project_decides(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    (pytester.path / "sub" / "logs").mkdir(parents=True)
    (pytester.path / "sub" / CONFIG_FILENAME).write_text("compat:\n  mode: dual\n")
    inner_test(pytester, 'open("sub/logs/new.txt", "w").close()\nopen("logs/new.txt", "w")')

    result = pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE)

    result.assert_outcomes(failed=1)
    assert (pytester.path / "sub/logs/new.txt").is_file()
    assert f"open {pytester.path / 'logs/new.txt'}" in result.stdout.str()


def test_rewriting_osiris_yaml_during_a_test_takes_effect(pytester: pytest.Pytester) -> None:
    make_project(pytester, "compat:\n  mode: dual\n")
    inner_test(
        pytester,
        'open("logs/a.txt", "w").close()\n'
        'Path("osiris.yaml").write_text("compat:\\n  mode: contract\\n")\n'
        'open("logs/b.txt", "w")',
    )

    result = pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE)

    result.assert_outcomes(failed=1)
    assert "compat.mode contract, from osiris.yaml" in result.stdout.str()
    assert (pytester.path / "logs/a.txt").is_file()
    assert not (pytester.path / "logs/b.txt").exists()


def test_outside_an_osiris_project_nothing_fires(pytester: pytest.Pytester) -> None:
    inner_test(pytester, 'os.mkdir("logs")\nopen("logs/new.txt", "w").close()')

    pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE).assert_outcomes(passed=1)
    assert (pytester.path / "logs/new.txt").is_file()


def test_reads_are_allowed(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    inner_test(
        pytester,
        'assert open("logs/old.txt").read() == "legacy\\n"\n'
        'assert Path("compiled/old.txt").read_bytes() == b"legacy\\n"\n'
        'assert sorted(os.listdir("logs")) == ["empty", "old.txt"]\n'
        'os.close(os.open("compiled/old.txt", os.O_RDONLY))',
    )

    pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE).assert_outcomes(passed=1)


def test_contract_paths_are_allowed(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    inner_test(
        pytester,
        'Path("run_logs/dev/orders").mkdir(parents=True)\n'
        'Path("run_logs/dev/orders/events.jsonl").write_text("{}")\n'
        'Path("build/pipelines").mkdir(parents=True)\n'
        'shutil.copy("logs/old.txt", "build/pipelines/manifest.yaml")\n'
        'Path("logs.txt").write_text("not a folder")',
    )

    pytester.runpytest(*NO_HYPOTHESIS, *ACTIVATE).assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("args", "ini"),
    [
        pytest.param(ACTIVATE, "", id="-p"),
        pytest.param(("--osiris-legacy-guard",), "", id="option"),
        pytest.param((), "[pytest]\nosiris_legacy_guard = true\n", id="ini"),
    ],
)
def test_each_activation_enables_the_guard(
    pytester: pytest.Pytester, args: tuple[str, ...], ini: str
) -> None:
    make_project(pytester)
    if ini:
        pytester.makeini(ini)
    inner_test(pytester, 'open("logs/new.txt", "w").close()')

    pytester.runpytest(*NO_HYPOTHESIS, *args).assert_outcomes(failed=1)
    assert not (pytester.path / "logs/new.txt").exists()


def test_the_installed_plugin_is_inert_until_activated(pytester: pytest.Pytester) -> None:
    make_project(pytester)
    inner_test(pytester, 'open("logs/new.txt", "w").close()')

    result = pytester.runpytest(*NO_HYPOTHESIS, "--strict-markers", "--trace-config")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*osiris.compat.guard*"])
    assert (pytester.path / "logs/new.txt").is_file()


@pytest.mark.parametrize("args", [ACTIVATE, ()], ids=["active", "inert"])
def test_the_marker_opts_a_test_out(pytester: pytest.Pytester, args: tuple[str, ...]) -> None:
    make_project(pytester)
    inner_test(
        pytester,
        'open("logs/new.txt", "w").close()',
        decorator="@pytest.mark.allow_legacy_writes",
    )

    pytester.runpytest(*NO_HYPOTHESIS, "--strict-markers", *args).assert_outcomes(passed=1)
    assert (pytester.path / "logs/new.txt").is_file()
