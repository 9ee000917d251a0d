"""`osiris pipelines list | tag`: latest builds per profile, last runs, tags as index updates."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.demo import osiris
from tests.helpers.projects import make_orders_project

WIDE = {"COLUMNS": "200"}


def pipelines(project: Path, *args: str, env: dict[str, str] | None = None):
    return osiris("--project", str(project), "pipelines", *args, env=env)


def tags_of(project: Path) -> dict[str, list[str]]:
    runs = osiris("--project", str(project), "runs", "list", "--json").json()
    return {r["run_id"]: r["tags"] for r in runs}


def index_bytes(project: Path) -> bytes:
    return (project / ".osiris" / "index" / "runs.jsonl").read_bytes()


# -- list -----------------------------------------------------------------------------------


def test_an_empty_project_has_no_pipelines(tmp_path: Path) -> None:
    root = make_orders_project(tmp_path / "empty")
    result = pipelines(root, "list")
    assert (result.code, result.out, result.err) == (0, "No compiled pipelines found.\n", "")
    assert pipelines(root, "list", "--json").json() == []


def test_list_gives_the_latest_build_per_profile_and_the_last_run(
    project: Path, ids: dict[str, str]
) -> None:
    data = pipelines(project, "list", "--json").json()
    assert [(d["pipeline_slug"], d["profile"], d["latest_pointer"]) for d in data] == [
        ("broken-orders", "dev", True),
        ("orders-by-country", "dev", False),
        ("orders-by-country", "prod", True),
    ]
    assert [(d["last_run"]["run_id"], d["last_run"]["status"]) for d in data] == [
        (ids["failed"], "failed"),
        (ids["dev"], "success"),
        (ids["prod"], "success"),
    ]
    prod = data[2]
    digest = prod["manifest_hash"]
    assert prod["manifest_path"] == (
        f"build/pipelines/prod/orders-by-country/{digest[:7]}-{digest}/manifest.yaml"
    )
    assert prod["built_at"].endswith("Z")


def test_list_table(project: Path, ids: dict[str, str]) -> None:
    result = pipelines(project, "list", env=WIDE)
    lines = result.out.splitlines()
    assert lines[0].split() == [
        "pipeline",
        "profile",
        "build",
        "latest",
        "built",
        "last",
        "run",
        "status",
    ]
    first = lines[2].split()
    assert first[:4] == ["broken-orders", "dev", first[2], "yes"]
    assert first[-2:] == [ids["failed"], "failed"]


def test_a_build_without_runs_has_no_last_run(tmp_path: Path) -> None:
    root = make_orders_project(tmp_path / "fresh")
    compiled = osiris("--project", str(root), "compile", str(root / "pipelines/orders.yaml"))
    assert compiled.code == 0
    data = pipelines(root, "list", "--json").json()
    assert [(d["pipeline_slug"], d["last_run"]) for d in data] == [("orders-by-country", None)]
    assert "orders-by-country" in pipelines(root, "list").out


# -- tag ------------------------------------------------------------------------------------


def test_tag_without_run_tags_the_latest_run(project: Path, ids: dict[str, str]) -> None:
    result = pipelines(project, "tag", "orders-by-country", "--add", "release", "--add", "v1")
    assert (result.code, result.err) == (0, "")
    assert result.out == f"{ids['prod']}: tags (none) -> release, v1\n"
    assert tags_of(project) == {
        ids["failed"]: [],
        ids["prod"]: ["release", "v1"],
        ids["dev"]: ["nightly"],
    }
    listed = osiris("--project", str(project), "runs", "list", "--tag", "release", "--json")
    assert [r["run_id"] for r in listed.json()] == [ids["prod"]]


def test_tag_one_run_by_prefix(project: Path, ids: dict[str, str]) -> None:
    result = pipelines(
        project, "tag", "orders-by-country", "--run", ids["dev"][:-3], "--remove", "nightly",
        "--add", "keep", "--json",
    )  # fmt: skip
    assert result.json() == [
        {
            "run_id": ids["dev"],
            "pipeline_slug": "orders-by-country",
            "tags": ["keep"],
            "before": ["nightly"],
            "after": ["keep"],
            "changed": True,
        }
    ]
    assert tags_of(project)[ids["dev"]] == ["keep"]
    listed = osiris("--project", str(project), "runs", "list", "--tag", "nightly", "--json")
    assert listed.json() == []


def test_tag_all_runs_of_a_pipeline(project: Path, ids: dict[str, str]) -> None:
    result = pipelines(project, "tag", "orders-by-country", "--all", "--add", "audited")
    assert result.out.splitlines() == [
        f"{ids['prod']}: tags (none) -> audited",
        f"{ids['dev']}: tags nightly -> audited, nightly",
    ]
    again = pipelines(project, "tag", "orders-by-country", "--all", "--add", "audited")
    assert again.out.splitlines()[0] == f"{ids['prod']}: unchanged (audited)"
    assert tags_of(project)[ids["failed"]] == []


def test_tags_change_no_paths(project: Path, ids: dict[str, str]) -> None:
    before = osiris("--project", str(project), "runs", "show", ids["prod"], "--json").json()
    pipelines(project, "tag", "orders-by-country", "--add", "x")
    after = osiris("--project", str(project), "runs", "show", ids["prod"], "--json").json()
    assert {k: v for k, v in after.items() if k != "tags"} == {
        k: v for k, v in before.items() if k != "tags"
    }


BAD_TAG_HINT = "use letters, digits, '.', '_' and '-', starting with a letter or digit"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ([], "nothing to do (hint: pass --add TAG and/or --remove TAG)"),
        (["--add", "bad tag"], f"tag 'bad tag' is not allowed (hint: {BAD_TAG_HINT})"),
        (["--add", "a", "--remove", "a"], "tag 'a' is both added and removed (hint: pass it once)"),
        (["--add", "a", "--all", "--run", "x"], "--run and --all exclude each other (hint: pass "
         "one of them)"),
        (["--add", "a", "--run", "nope"], "no run 'nope' in the index (hint: osiris runs list "
         "shows run ids)"),
    ],
)  # fmt: skip
def test_bad_tag_requests_exit_2_and_write_nothing(
    project: Path, args: list[str], error: str
) -> None:
    before = index_bytes(project)
    result = pipelines(project, "tag", "orders-by-country", *args)
    assert (result.code, result.out, result.err) == (2, "", f"error: {error}\n")
    assert index_bytes(project) == before


def test_tagging_a_run_of_another_pipeline_is_refused(project: Path, ids: dict[str, str]) -> None:
    result = pipelines(project, "tag", "orders-by-country", "--run", ids["failed"], "--add", "a")
    assert result.code == 2
    assert result.err == (
        f"error: run '{ids['failed']}' belongs to pipeline 'broken-orders', not "
        f"'orders-by-country' (hint: osiris pipelines tag broken-orders --run {ids['failed']})\n"
    )


def test_tagging_a_pipeline_without_runs_exits_2(project: Path) -> None:
    result = pipelines(project, "tag", "no-such-pipeline", "--add", "a")
    assert result.code == 2
    assert result.err == (
        "error: pipeline 'no-such-pipeline' has no runs (hint: osiris runs list shows run ids)\n"
    )


def test_tagging_an_ambiguous_prefix_exits_2(project: Path, ids: dict[str, str]) -> None:
    # Looked for in the pipeline only: its two runs match, the other pipeline's does not.
    result = pipelines(project, "tag", "orders-by-country", "--run", ids["dev"][:2], "--add", "a")
    assert result.code == 2 and "matches 2 runs: orders-by-country/" in result.err
    assert "broken-orders/" not in result.err
