"""FilesystemContract paths, the token renderer, and path safety for any token value."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osiris.core.config_model import OsirisConfig
from osiris.core.fs_config import build_config, load_config
from osiris.core.fs_paths import (
    FilesystemContract,
    RunNaming,
    format_run_ts,
    inside,
    render,
    safe_token,
    slugify,
)
from osiris.errors import ConfigError, UsageError

BASE = Path("/proj")
HASH = "3f92ac1b6b0e4d2a9c8f7e6d5c4b3a2910f0e1d2c3b4a5968778695a4b3c2d1e"
STARTED = datetime(2025, 10, 7, 14, 22, 19, tzinfo=timezone.utc)


def validated(data: dict) -> OsirisConfig:
    config, _ = build_config(data, config_file=None, env={})
    return config


def contract(**filesystem) -> FilesystemContract:
    return FilesystemContract(validated({"filesystem": filesystem}), BASE)


def naming(profile: str | None = "dev", **overrides) -> RunNaming:
    values = {
        "pipeline_slug": "orders-etl",
        "profile": profile,
        "manifest_hash": HASH,
        "manifest_short": HASH[:7],
        "run_id": "run-000124_01J9Z8KQ8R",
        "run_ts": "20251007T142219Z",
    }
    return RunNaming(**{**values, **overrides})


# -- every path of the contract (contract.md §1, §5, §6) ------------------------------------
def test_top_level_layout():
    assert contract().layout() == {
        "base_path": BASE,
        "pipelines_dir": BASE / "pipelines",
        "build_dir": BASE / "build",
        "aiop_dir": BASE / "aiop",
        "run_logs_dir": BASE / "run_logs",
        "sessions_dir": BASE / ".osiris/sessions",
        "cache_dir": BASE / ".osiris/cache",
        "index_dir": BASE / ".osiris/index",
    }
    assert contract().osiris_dir == BASE / ".osiris"
    assert contract().migrations_dir == BASE / ".osiris/migrations"


def test_build_paths_with_profiles():
    c = contract()
    build = BASE / f"build/pipelines/dev/orders-etl/3f92ac1-{HASH}"
    assert c.build_pipelines_dir("dev") == BASE / "build/pipelines/dev"
    assert c.build_path("orders-etl", HASH, "dev") == build
    assert c.manifest_path("orders-etl", HASH, "dev") == build / "manifest.yaml"


def test_run_and_aiop_paths_with_profiles():
    c = contract()
    assert c.run_logs_root("prod") == BASE / "run_logs/prod"
    assert c.run_dir(naming("prod")) == (
        BASE / "run_logs/prod/orders-etl/20251007T142219Z_run-000124_01J9Z8KQ8R-3f92ac1"
    )
    assert c.aiop_root("prod") == BASE / "aiop/prod"
    assert c.aiop_manifest_dir("orders-etl", HASH, "prod") == (
        BASE / f"aiop/prod/orders-etl/3f92ac1-{HASH}"
    )
    assert c.aiop_run_dir(naming("prod")) == (
        BASE / f"aiop/prod/orders-etl/3f92ac1-{HASH}/run-000124_01J9Z8KQ8R"
    )


def test_index_paths():
    c = contract()
    index = BASE / ".osiris/index"
    assert c.runs_index == index / "runs.jsonl"
    assert c.pipeline_index("Orders ETL") == index / "by_pipeline/orders-etl.jsonl"
    assert c.latest_pointer("orders-etl") == index / "latest/orders-etl.txt"
    assert c.last_compile_pointer == index / "last_compile.txt"
    assert c.counters_db == index / "counters.sqlite"


def test_profiles_off_drop_the_profile_segment_everywhere():
    c = contract(profiles={"enabled": False})
    assert c.build_path("orders-etl", HASH, "dev") == (
        BASE / f"build/pipelines/orders-etl/3f92ac1-{HASH}"
    )
    assert c.run_dir(naming("dev")).parent == BASE / "run_logs/orders-etl"
    assert c.aiop_run_dir(naming(None)) == (
        BASE / f"aiop/orders-etl/3f92ac1-{HASH}/run-000124_01J9Z8KQ8R"
    )


def test_no_profile_means_no_segment_even_with_profiles_on():
    assert contract().run_logs_root(None) == BASE / "run_logs"


def test_configured_folders_and_base_path():
    c = FilesystemContract(
        validated({"filesystem": {"build_dir": "out/build", "index_dir": "/var/osiris/index"}}),
        Path("/srv/acme"),
    )
    assert c.build_pipelines_dir("dev") == Path("/srv/acme/out/build/pipelines/dev")
    assert c.runs_index == Path("/var/osiris/index/runs.jsonl")


def test_base_path_from_the_file_reaches_every_path(fs):
    fs.create_file("/repo/osiris.yaml", contents="filesystem: {base_path: state}\n")
    c = FilesystemContract.from_resolved(load_config(Path("/repo"), env={}))
    assert c.run_logs_dir == Path("/repo/state/run_logs")
    assert c.osiris_dir == Path("/repo/state/.osiris")


def test_manifest_short_follows_the_configured_length():
    c = contract(naming={"manifest_short_len": 12})
    assert c.manifest_short(HASH) == HASH[:12]
    assert c.build_path("p", HASH, None).name == f"{HASH[:12]}-{HASH}"


def test_custom_templates():
    c = contract(naming={"run_dir": "{run_id}", "aiop_run_dir": "{run_ts}-{user}"})
    run = naming(user="ana")
    assert c.run_dir(run) == BASE / "run_logs/dev/run-000124_01J9Z8KQ8R"
    assert c.aiop_run_dir(run).name == "20251007T142219Z-ana"


def test_relative_and_absolute_round_trip():
    c = contract()
    path = c.run_dir(naming())
    stored = c.relative(path)
    assert stored == "run_logs/dev/orders-etl/20251007T142219Z_run-000124_01J9Z8KQ8R-3f92ac1"
    assert c.absolute(stored) == path
    assert c.relative(Path("/elsewhere/x")) == "/elsewhere/x"
    assert c.absolute("/elsewhere/x") == Path("/elsewhere/x")


def test_a_configured_folder_cannot_escape_the_project():
    # Built without validation, which would refuse it first.
    config = OsirisConfig(filesystem=replace(OsirisConfig().filesystem, aiop_dir="../x"))
    with pytest.raises(ConfigError, match="points outside the project"):
        FilesystemContract(config, BASE)


# -- run_ts ---------------------------------------------------------------------------------
def test_run_ts_formats():
    assert format_run_ts(STARTED, "iso_basic_z") == "20251007T142219Z"
    assert format_run_ts(STARTED, "epoch_ms") == "1759846939000"
    assert format_run_ts(STARTED, "none") == ""
    assert format_run_ts(STARTED, "%Y/%m/%d %H:%M") == "2025-10-07-14-22"


def test_run_ts_is_utc():
    local = STARTED.astimezone(timezone(timedelta(hours=2)))
    assert format_run_ts(local, "iso_basic_z") == "20251007T142219Z"


# -- renderer (contract.md §3) --------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"pipeline_slug": "p", "run_ts": "T", "run_id": "r", "manifest_short": "m"}, "p/T_r-m"),
        ({"pipeline_slug": "p", "run_id": "r", "manifest_short": "m"}, "p/r-m"),
        ({"pipeline_slug": "p", "run_ts": "T", "manifest_short": "m"}, "p/T_m"),
        ({"pipeline_slug": "p", "run_ts": "T", "run_id": "r"}, "p/T_r"),
        ({"run_ts": "T", "run_id": "r", "manifest_short": "m"}, "T_r-m"),
        ({"pipeline_slug": "p", "manifest_short": "m"}, "p/m"),
    ],
)
def test_empty_tokens_collapse_and_trim(values, expected):
    assert render("{pipeline_slug}/{run_ts}_{run_id}-{manifest_short}", values) == expected


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a//{run_id}//b", "a/b"),
        ("a--{run_id}--b", "a-b"),
        ("a__{run_id}__b", "a_b"),
        ("a_-{run_id}_-b", "a_b"),
        ("-{run_id}_/_{run_id}-", ""),
        ("/abs/{run_id}", "abs"),
        ("a\\{run_id}\\b", "a/b"),
    ],
)
def test_doubled_separators_collapse(template, expected):
    if expected:
        assert render(template, {}) == expected
    else:
        with pytest.raises(UsageError, match="renders to an unusable path"):
            render(template, {})


def test_tags_are_sorted_and_joined_with_plus():
    assert render("{tags}", {"tags": ["zeta", "Alpha", "b c", ""]}) == "Alpha+b-c+zeta"


def test_unknown_token_is_a_config_error():
    with pytest.raises(ConfigError, match=r"unknown token \{hostname\}"):
        render("{hostname}/{run_id}", {"run_id": "r"})


@pytest.mark.parametrize("template", ["../{run_id}", "{run_id}/..", "a/./.."])
def test_dot_segments_are_refused(template):
    with pytest.raises(UsageError):
        render(template, {"run_id": "r"})


def test_inside_refuses_escape():
    assert inside(BASE, "a/b") == BASE / "a/b"
    with pytest.raises(UsageError, match="escapes its root"):
        inside(BASE, "a/../../etc")


def _inside_by_parents(root: Path, relative: str) -> Path | None:
    # The rule `inside` keeps, spelled with pathlib: the joined path or one of its parents
    # is the root.
    candidate = Path(os.path.normpath(root / relative))
    base = Path(os.path.normpath(root))
    return candidate if candidate == base or base in candidate.parents else None


@given(
    root=st.sampled_from(["/", "/base", "/base/", "/base/sub"]),
    parts=st.lists(st.sampled_from(["a", "b", "..", ".", "", "/", "/etc", "base", "sub"])),
)
def test_inside_agrees_with_comparing_parents(root: str, parts: list[str]) -> None:
    relative = "/".join(parts)
    expected = _inside_by_parents(Path(root), relative)
    if expected is None:
        with pytest.raises(UsageError, match="escapes its root"):
            inside(Path(root), relative)
    else:
        assert inside(Path(root), relative) == expected


@pytest.mark.parametrize(("root", "relative"), [(".", ".."), (".", "../x"), ("rel", "../x")])
def test_inside_refuses_escaping_a_relative_root(root: str, relative: str) -> None:
    # pathlib counts `.` among the parents of `..`: the text rule does not.
    with pytest.raises(UsageError, match="escapes its root"):
        inside(Path(root), relative)
    assert inside(Path(root), "a/../b") == Path(root) / "b"


# -- names ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Orders ETL", "orders-etl"),
        ("orders_etl", "orders_etl"),
        ("  __Weird//Name!!__ ", "weird-name"),
        ("ÄÖÜ sales", "aou-sales"),
        ("a-_b", "a-_b"),
    ],
)
def test_slugify(name, slug):
    assert slugify(name) == slug


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Run-ABC", "Run-ABC"),
        ("../../etc/passwd", "etc-passwd"),
        ("..", ""),
        (".hidden", "hidden"),
        ("a b\\c", "a-b-c"),
        ("v1.2+build", "v1.2+build"),
        (None, ""),
        (42, "42"),
    ],
)
def test_safe_token(value, token):
    assert safe_token(value) == token


# -- any token value stays inside its root (hypothesis) -------------------------------------
_SAFE = re.compile(r"[A-Za-z0-9._+-]*")


@given(st.text())
def test_safe_token_is_path_safe_and_stable(value):
    token = safe_token(value)
    assert _SAFE.fullmatch(token)
    assert token not in {".", ".."}
    assert safe_token(token) == token
    assert slugify(slugify(value)) == slugify(value)


@given(
    slug=st.text(),
    profile=st.one_of(st.none(), st.text()),
    manifest_hash=st.text(),
    run_id=st.text(),
    run_ts=st.text(),
    tags=st.lists(st.text(), max_size=3),
)
def test_any_token_values_render_inside_their_root(
    slug, profile, manifest_hash, run_id, run_ts, tags
):
    c = contract(naming={"aiop_run_dir": "{run_id}_{tags}"})
    run = RunNaming(
        pipeline_slug=slug,
        profile=profile,
        manifest_hash=manifest_hash,
        manifest_short=manifest_hash[:7],
        run_id=run_id,
        run_ts=run_ts,
        tags=tuple(tags),
    )
    # The index stores these strings; each must appear verbatim in the path it points to.
    stored = {
        "slug": slugify(slug),
        "profile": safe_token(profile),
        "hash": safe_token(manifest_hash),
        "short": safe_token(manifest_hash[:7]),
        "run_id": safe_token(run_id),
        "run_ts": safe_token(run_ts),
        "tags": "+".join(sorted(filter(None, map(safe_token, tags)))),
    }
    manifest_dir = ("slug", "short", "hash")
    # root, path maker, the tokens of each template rendered on the way
    cases = [
        (c.run_logs_dir, lambda: c.run_dir(run), [("slug", "run_ts", "run_id", "short")]),
        (c.aiop_dir, lambda: c.aiop_run_dir(run), [manifest_dir, ("run_id", "tags")]),
        (
            c.build_dir / "pipelines",
            lambda: c.build_path(slug, manifest_hash, profile),
            [manifest_dir],
        ),
    ]
    for root, make, templates in cases:
        try:
            path = make()
        except UsageError:
            # Only a template whose every token is empty may refuse to render.
            assert any(not any(stored[t] for t in tokens) for tokens in templates)
            continue
        parts = path.relative_to(root).parts
        assert not {".", ".."} & set(parts)
        if stored["profile"]:
            assert parts[0] == stored["profile"]
        for token in {t for tokens in templates for t in tokens}:
            if stored[token]:
                assert any(stored[token] in part for part in parts), (token, parts)
        if stored["slug"]:
            assert stored["slug"] in parts


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("ünïcode pipe", "unicode-pipe"),
        ("Åbo Ørsted", "abo-orsted"),
        ("Привет мир", "privet-mir"),
        ("café—crème", "cafe-creme"),
        ("Orders by Country", "orders-by-country"),
    ],
)
def test_names_in_other_scripts_are_transliterated_not_dropped(name: str, slug: str) -> None:
    assert slugify(name) == slug
