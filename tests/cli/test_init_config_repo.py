"""`osiris init`, `config show|validate`, `repo ensureignore|commit` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from osiris.cli.main import cli, main
from osiris.core.config_model import OsirisConfig
from osiris.core.fs_config import ENV_OVERRIDES, flatten, load_config
from osiris.core.gitignore import BLOCK_END, BLOCK_START
from osiris.core.scaffold import template_bytes

REPO_ROOT = Path(__file__).resolve().parents[2]
LAYOUT = ["pipelines", "build", "aiop", "run_logs", ".osiris/sessions", ".osiris/cache"]
BLOCK = f"{BLOCK_START}\n/.osiris/\n/run_logs/\n/aiop/**/annex/\n{BLOCK_END}\n"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ENV_OVERRIDES:
        monkeypatch.delenv(var, raising=False)
    # git must not read the developer's config (signing, hooks path) nor lack an identity.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Osiris Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.invalid")


def ok(*args: str) -> str:
    """Run a command that must succeed; return its stdout."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(capsys, *args: str) -> tuple[int, str]:
    """Run through `main()`, which maps errors to exit codes; return (code, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert "Traceback" not in captured.err
    assert captured.err.startswith("error: ")
    return exited.value.code, captured.err


def flatten_yaml(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(flatten_yaml(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        p.relative_to(root).as_posix(): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
        if ".git" not in p.relative_to(root).parts
    }


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def project(tmp_path) -> Path:
    root = tmp_path / "proj"
    ok("init", "--bare", str(root))
    return root


# -- the template ---------------------------------------------------------------------------
def test_docs_sample_is_the_init_template():
    sample = REPO_ROOT / "docs" / "samples" / "osiris.filesystem.yaml"
    assert sample.read_bytes() == template_bytes()


def test_template_validates_and_names_every_key(tmp_path):
    (tmp_path / "osiris.yaml").write_bytes(template_bytes())
    resolved = load_config(tmp_path, env={})
    written = flatten_yaml(yaml.safe_load(template_bytes()))
    assert set(written) == set(flatten(OsirisConfig()))
    assert all(resolved.origin(key) == "file" for key in written)
    # Only the run id format differs from the defaults (contract.md §2: init writes a list).
    expected = {**flatten(OsirisConfig()), "ids.run_id_format": ["incremental", "ulid"]}
    assert flatten(resolved.config) == expected


# -- init -----------------------------------------------------------------------------------
def test_init_creates_the_layout_config_and_gitignore(tmp_path):
    root = tmp_path / "demo"
    out = ok("init", str(root))
    for folder in [*LAYOUT, ".osiris/index"]:
        assert (root / folder).is_dir(), folder
        assert f"created    {folder}/" in out
    assert (root / "osiris.yaml").read_bytes() == template_bytes()
    assert (root / ".gitignore").read_text() == BLOCK
    assert "created    osiris.yaml" in out
    assert "created    .gitignore" in out
    assert not (root / ".git").exists()


def test_init_without_path_uses_project_then_cwd(tmp_path, monkeypatch):
    ok("--project", str(tmp_path / "a"), "init")
    assert (tmp_path / "a" / "osiris.yaml").is_file()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "b")
    ok("init")
    assert (tmp_path / "b" / "osiris.yaml").is_file()


def test_init_keeps_what_is_already_there(tmp_path):
    root = tmp_path / "existing"
    (root / "pipelines").mkdir(parents=True)
    (root / "pipelines" / "orders.yaml").write_text("name: orders\n")
    (root / ".gitignore").write_text("*.pyc\n.env")
    out = ok("init", str(root))
    assert (root / "pipelines" / "orders.yaml").read_text() == "name: orders\n"
    assert (root / ".gitignore").read_text() == "*.pyc\n.env\n\n" + BLOCK
    assert "created    pipelines/\n" not in out
    assert "updated    .gitignore" in out


def test_init_writes_a_sample_pipeline_that_compiles_and_runs(tmp_path, monkeypatch):
    root = tmp_path / "fresh"
    out = ok("init", str(root))
    assert "created    pipelines/my_pipeline.yaml\n" in out
    assert "created    data/sales.csv\n" in out
    assert out.endswith(
        "Next: osiris compile pipelines/my_pipeline.yaml -p dev && "
        "osiris run --last-compile -p dev\n"
    )
    monkeypatch.chdir(root)
    ok("compile", "pipelines/my_pipeline.yaml", "-p", "dev")
    ok("run", "--last-compile", "-p", "dev", "--quiet")
    assert (root / "output/sales_by_country.csv").read_text() == (
        "country,orders,total\nDE,2,165.75\nFR,2,342.1\nIT,2,99.9\n"
    )


def test_init_bare_writes_no_sample_and_a_sample_never_replaces_a_file(tmp_path):
    bare = tmp_path / "bare"
    out = ok("init", "--bare", str(bare))
    assert not (bare / "pipelines/my_pipeline.yaml").exists() and not (bare / "data").exists()
    assert out.endswith(
        "Next: add OML files to pipelines/; `osiris config show` lists every setting.\n"
    )
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "data/sales.csv").write_text("my own data\n")
    ok("init", str(mine))
    assert (mine / "data/sales.csv").read_text() == "my own data\n"
    assert (mine / "pipelines/my_pipeline.yaml").is_file()


def test_init_refuses_an_existing_project_and_writes_nothing(project, capsys):
    (project / "osiris.yaml").write_text("compat: {mode: dual}\n")
    before = snapshot(project)
    code, err = fails(capsys, "init", str(project))
    assert code == 2
    assert f"error: {project / 'osiris.yaml'}: already an Osiris project (hint: pass --force" in err
    assert snapshot(project) == before


def test_init_force_rewrites_and_keeps_every_previous_file(project):
    config = project / "osiris.yaml"
    config.write_text("compat: {mode: dual}\n")
    out = ok("init", "--force", str(project))
    assert config.read_bytes() == template_bytes()
    assert (project / "osiris.yaml.bak").read_text() == "compat: {mode: dual}\n"
    assert "previous file kept as osiris.yaml.bak" in out

    assert "unchanged  osiris.yaml" in ok("init", "--force", str(project))
    assert not (project / "osiris.yaml.bak.1").exists()

    config.write_text("compat: {mode: legacy}\n")
    ok("init", "--force", str(project))
    assert (project / "osiris.yaml.bak").read_text() == "compat: {mode: dual}\n"
    assert (project / "osiris.yaml.bak.1").read_text() == "compat: {mode: legacy}\n"


def test_init_on_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code, err = fails(capsys, "init", str(target))
    assert code == 2
    assert f"error: {target}: not a folder" in err


def test_init_with_a_damaged_gitignore_block_writes_nothing(tmp_path, capsys):
    (tmp_path / ".gitignore").write_text(f"keep\n{BLOCK_START}\n/run_logs/\n")
    before = snapshot(tmp_path)
    code, err = fails(capsys, "init", str(tmp_path))
    assert code == 2
    assert "the osiris block has no end line" in err
    assert snapshot(tmp_path) == before


def test_init_git_creates_a_repository(tmp_path):
    out = ok("init", "--git", str(tmp_path / "g"))
    assert (tmp_path / "g" / ".git").is_dir()
    assert "created    git repository" in out


def test_init_git_inside_a_repository_does_not_nest_one(tmp_path):
    git(tmp_path, "init", "--quiet")
    out = ok("init", "--git", str(tmp_path / "sub"))
    assert not (tmp_path / "sub" / ".git").exists()
    assert "git repository" not in out


# -- config show ----------------------------------------------------------------------------
def test_config_show_json_reports_values_origins_and_paths(project, monkeypatch):
    (project / "osiris.yaml").write_text(
        "filesystem: {build_dir: out/build, profiles: {default: staging}}\n"
    )
    monkeypatch.setenv("OSIRIS_RETENTION_RUN_LOGS_DAYS", "30")
    monkeypatch.setenv("OSIRIS_PROFILE", "prod")
    report = json.loads(
        ok("--project", str(project), "config", "show", "--json", "--fs-mode", "dual")
    )
    values = report["values"]
    assert values["filesystem.build_dir"] == {"value": "out/build", "origin": "file"}
    assert values["filesystem.aiop_dir"] == {"value": "aiop", "origin": "default"}
    assert values["filesystem.profiles.default"] == {
        "value": "prod",
        "origin": "env OSIRIS_PROFILE",
    }
    assert values["filesystem.retention.run_logs_days"] == {
        "value": 30,
        "origin": "env OSIRIS_RETENTION_RUN_LOGS_DAYS",
    }
    assert values["compat.mode"] == {"value": "dual", "origin": "flag"}
    assert set(values) == set(flatten(OsirisConfig()))
    assert report["config_file"] == str(project / "osiris.yaml")
    assert report["base_path"] == str(project)
    assert report["paths"]["build_dir"] == str(project / "out" / "build")
    assert report["paths"]["index_dir"] == str(project / ".osiris" / "index")
    assert (report["fs_mode"], report["profile"]) == ("dual", "prod")


def test_config_show_profile_flag_beats_env(project, monkeypatch):
    monkeypatch.setenv("OSIRIS_PROFILE", "prod")
    args = ["--project", str(project), "config", "show", "--json", "--profile", "ml"]
    report = json.loads(ok(*args))
    assert report["profile"] == "ml"
    assert report["values"]["filesystem.profiles.default"]["origin"] == "flag"


def test_config_show_table_from_a_subfolder(project, monkeypatch):
    monkeypatch.chdir(project / "pipelines")
    monkeypatch.setenv("OSIRIS_FS_CONTRACT", "legacy")
    monkeypatch.setenv("COLUMNS", "160")  # wide enough that rich folds no cell
    out = ok("config", "show")
    assert f"config file: {project / 'osiris.yaml'}" in out
    assert "fs_mode: legacy" in out
    assert "env OSIRIS_FS_CONTRACT" in out
    assert "filesystem.retention.annex_keep_days" in out
    assert "run_logs_dir" in out


def test_config_show_refuses_profile_when_profiles_are_off(project, capsys):
    (project / "osiris.yaml").write_text("filesystem: {profiles: {enabled: false}}\n")
    code, err = fails(capsys, "--project", str(project), "config", "show", "--profile", "dev")
    assert code == 2
    assert "profiles are disabled" in err


def test_config_show_outside_a_project(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, err = fails(capsys, "config", "show")
    assert code == 2
    assert "no osiris.yaml in" in err
    assert "osiris init" in err


# -- config validate ------------------------------------------------------------------------
def test_config_validate_accepts_the_template(project, monkeypatch):
    monkeypatch.chdir(project)
    assert ok("config", "validate") == "osiris.yaml: valid\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("filesystem: {profiles: {default: qa}}\n", "filesystem.profiles.default: Unknown"),
        ("ids: {run_id_format: ksuid}\n", "Unsupported run_id_format token 'ksuid'"),
        ("filesystem: {retention: {run_logs_days: -1}}\n", "(got -1)"),
        ("compat: {mode: nope}\n", "compat.mode"),
        ("filesystem: [unclosed\n", "not valid YAML at line 2, column 1"),
        ("- a list\n", "the top level must be a mapping"),
        ("filesytem: {build_dir: out}\n", "filesytem: unknown key (hint: did you mean"),
    ],
)
def test_config_validate_reports_the_problem_in_one_line(project, capsys, text, expected):
    (project / "osiris.yaml").write_text(text)
    code, err = fails(capsys, "--project", str(project), "config", "validate")
    assert code == 2
    assert err.startswith(f"error: {project / 'osiris.yaml'}: ")
    assert expected in err


def test_config_validate_warns_of_keys_only_upstream_uses(project):
    text = (project / "osiris.yaml").read_text() + "logging:\n  level: INFO\nversion: '2.0'\n"
    (project / "osiris.yaml").write_text(text)
    result = CliRunner().invoke(cli, ["--project", str(project), "config", "validate"])
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "warning: logging: written by upstream Osiris 0.3.x and 0.5.x; this version ignores it",
        "warning: version: written by upstream Osiris 0.3.x and 0.5.x; this version ignores it",
    ]
    assert result.stdout.endswith(": valid\n")


def test_config_validate_names_a_bad_environment_variable(project, capsys, monkeypatch):
    monkeypatch.setenv("OSIRIS_FS_CONTRACT", "mirror")
    code, err = fails(capsys, "--project", str(project), "config", "validate")
    assert code == 2
    assert err.startswith("error: OSIRIS_FS_CONTRACT: compat.mode: ")


# -- repo ensureignore ----------------------------------------------------------------------
def test_ensureignore_merges_once_and_keeps_user_lines(project):
    gitignore = project / ".gitignore"
    gitignore.write_text("# mine\n*.pyc\n!keep.pyc")
    first = ok("--project", str(project), "repo", "ensureignore")
    merged = gitignore.read_bytes()
    assert merged == b"# mine\n*.pyc\n!keep.pyc\n\n" + BLOCK.encode()
    assert "updated the osiris block" in first
    second = ok("--project", str(project), "repo", "ensureignore")
    assert gitignore.read_bytes() == merged
    assert second == f"{gitignore}: already up to date\n"


def test_ensureignore_creates_a_missing_gitignore(project):
    (project / ".gitignore").unlink()
    out = ok("--project", str(project), "repo", "ensureignore")
    assert (project / ".gitignore").read_text() == BLOCK
    assert "created the osiris block" in out


def test_ensureignore_follows_configured_folders_in_place(project):
    gitignore = project / ".gitignore"
    gitignore.write_text("top\n" + BLOCK + "bottom\n")
    (project / "osiris.yaml").write_text(
        "filesystem: {run_logs_dir: logs/runs, aiop_dir: 'ai[op]', index_dir: state/index}\n"
    )
    ok("--project", str(project), "repo", "ensureignore")
    assert gitignore.read_text() == (
        f"top\n{BLOCK_START}\n/.osiris/\n/state/index/\n/logs/runs/\n/ai\\[op]/**/annex/\n"
        f"{BLOCK_END}\nbottom\n"
    )


def test_ensureignore_keeps_crlf_and_odd_bytes(project):
    gitignore = project / ".gitignore"
    gitignore.write_bytes(b"caf\xe9\r\n*.tmp\x0c\r\n")
    ok("--project", str(project), "repo", "ensureignore")
    crlf_block = BLOCK.replace("\n", "\r\n").encode("ascii")
    assert gitignore.read_bytes() == b"caf\xe9\r\n*.tmp\x0c\r\n\r\n" + crlf_block
    (project / "osiris.yaml").write_text("filesystem: {run_logs_dir: runs}\n")
    ok("--project", str(project), "repo", "ensureignore")
    assert gitignore.read_bytes() == b"caf\xe9\r\n*.tmp\x0c\r\n\r\n" + crlf_block.replace(
        b"/run_logs/", b"/runs/"
    )


def test_ensureignore_refuses_a_block_without_end(project, capsys):
    gitignore = project / ".gitignore"
    gitignore.write_text(f"{BLOCK_START}\n/run_logs/\nmine\n")
    code, err = fails(capsys, "--project", str(project), "repo", "ensureignore")
    assert code == 2
    assert f"{gitignore}: the osiris block has no end line" in err
    assert gitignore.read_text() == f"{BLOCK_START}\n/run_logs/\nmine\n"


def test_ignore_patterns_match_what_git_ignores(project):
    git(project, "init", "--quiet")
    for name in [
        "run_logs/dev/p/run-1/events.jsonl",
        ".osiris/index/runs.jsonl",
        "aiop/dev/p/abc/run-1/annex/events.ndjson",
        "aiop/dev/p/abc/run-1/summary.json",
        "build/pipelines/dev/run_logs/abc/manifest.yaml",
    ]:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    untracked = git(project, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert sorted(line[3:] for line in untracked) == [
        ".gitignore",
        "aiop/dev/p/abc/run-1/summary.json",
        "build/pipelines/dev/run_logs/abc/manifest.yaml",
        "osiris.yaml",
    ]


# -- repo commit ----------------------------------------------------------------------------
def test_commit_outside_git_is_refused(project, capsys):
    code, err = fails(capsys, "--project", str(project), "repo", "commit", "-m", "x")
    assert code == 2
    assert "not inside a git repository" in err
    assert "git init" in err


def test_commit_takes_only_contract_paths_that_belong_in_git(project):
    git(project, "init", "--quiet")
    files = {
        "pipelines/orders.yaml": "name: orders\n",
        "build/pipelines/dev/orders/abc/manifest.yaml": "m\n",
        "aiop/dev/orders/abc/run-1/summary.json": "{}\n",
        "aiop/dev/orders/abc/run-1/annex/events.ndjson": "{}\n",
        "run_logs/dev/orders/run-1/events.jsonl": "{}\n",
        "notes.txt": "mine\n",
    }
    for name, text in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text)
    git(project, "add", "notes.txt")

    out = ok("--project", str(project), "repo", "commit", "-m", "first build")
    committed = git(project, "show", "--name-only", "--format=%s", "HEAD").split()
    assert committed == [
        "first",
        "build",
        ".gitignore",
        "aiop/dev/orders/abc/run-1/summary.json",
        "build/pipelines/dev/orders/abc/manifest.yaml",
        "osiris.yaml",
        "pipelines/orders.yaml",
    ]
    assert out.startswith("Committed ")
    assert "5 file(s)" in out
    # The user's own staged change stays staged, outside the Osiris commit.
    assert git(project, "status", "--porcelain").splitlines() == ["A  notes.txt"]


def test_commit_records_deletions(project):
    git(project, "init", "--quiet")
    (project / "pipelines" / "old.yaml").write_text("name: old\n")
    ok("--project", str(project), "repo", "commit", "-m", "add")
    (project / "pipelines" / "old.yaml").unlink()
    (project / "pipelines").rmdir()
    ok("--project", str(project), "repo", "commit", "-m", "remove")
    assert git(project, "ls-files", "pipelines") == ""


def test_commit_with_nothing_new_fails_with_exit_1(project, capsys):
    git(project, "init", "--quiet")
    ok("--project", str(project), "repo", "commit", "-m", "initial")
    code, err = fails(capsys, "--project", str(project), "repo", "commit", "-m", "again")
    assert code == 1
    assert "nothing to commit" in err


def test_commit_skips_paths_the_user_ignores(project):
    git(project, "init", "--quiet")
    (project / ".gitignore").write_text("/build/\n" + BLOCK)
    (project / "build" / "x").write_text("x")
    out = ok("--project", str(project), "repo", "commit", "-m", "no build")
    assert "Skipped (ignored by .gitignore): build" in out
    assert "build/x" not in git(project, "ls-files")


def test_commit_needs_a_message(project, capsys):
    git(project, "init", "--quiet")
    code, err = fails(capsys, "--project", str(project), "repo", "commit", "-m", "  ")
    assert code == 2
    assert "the commit message is empty" in err


# -- a real process -------------------------------------------------------------------------
@pytest.mark.slow
def test_init_then_config_show_in_a_real_process(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ENV_OVERRIDES}

    def osiris(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "osiris", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = osiris("init", "demo", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    shown = osiris("config", "show", "--json", cwd=tmp_path / "demo")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    demo = tmp_path / "demo"
    assert report["config_file"] == str(demo / "osiris.yaml")
    assert report["paths"]["run_logs_dir"] == str(demo / "run_logs")
    assert report["values"]["ids.run_id_format"] == {
        "value": ["incremental", "ulid"],
        "origin": "file",
    }
    assert (report["fs_mode"], report["profile"]) == ("contract", "dev")

    refused = osiris("init", "demo", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1
    assert "already an Osiris project" in refused.stderr
