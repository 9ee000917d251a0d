"""The per-user cache of osiris.yaml work gives exactly what PyYAML and validation give, or
nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from osiris.core import config_cache, config_file, config_validate
from osiris.core.config_file import read_config_file
from osiris.core.fs_config import build_config, flatten, load_config
from osiris.errors import ConfigError

TEMPLATE = Path(__file__).parents[2] / "osiris" / "templates" / "osiris.yaml"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder))
    return folder / "osiris" / "config"


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proj" / "osiris.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.json")) if cache.is_dir() else []


def refusing(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, what: str) -> None:
    """Make `module.name` fail with AssertionError(what), so that a result can only come
    from the cache."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(what)

    monkeypatch.setattr(module, name, refuse)


def without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    refusing(monkeypatch, config_file, "_parse", "parsed")


def test_a_hit_gives_what_pyyaml_gives_without_parsing(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, TEMPLATE.read_text(encoding="utf-8"))
    expected = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
    assert read_config_file(path, cached=True) == expected
    assert len(entries(cache)) == 1
    without_parsing(monkeypatch)
    hit = read_config_file(path, cached=True)
    assert hit == expected
    assert json.dumps(hit) == json.dumps(expected)  # the same key order too
    with pytest.raises(AssertionError, match="parsed"):
        read_config_file(path)  # uncached reads still parse


def test_an_edit_is_parsed_again(tmp_path: Path, cache: Path) -> None:
    path = config(tmp_path, "filesystem: {index_dir: a}\n")
    assert read_config_file(path, cached=True) == {"filesystem": {"index_dir": "a"}}
    path.write_text("filesystem: {index_dir: b}\n", encoding="utf-8")
    assert read_config_file(path, cached=True) == {"filesystem": {"index_dir": "b"}}
    assert len(entries(cache)) == 1


def test_an_entry_serves_only_its_own_file_text_and_pyyaml(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, "compat: {read_fallback: false}\n")
    read_config_file(path, cached=True)
    assert config_cache.load(path, "compat: {read_fallback: false}\n") is not None
    assert config_cache.load(path, "compat: {read_fallback: true}\n") is None
    assert config_cache.load(tmp_path / "other" / "osiris.yaml", path.read_text()) is None
    monkeypatch.setattr(config_cache, "_parser_stamp", lambda: "another PyYAML")
    assert config_cache.load(path, path.read_text()) is None


@pytest.mark.parametrize(
    "text",
    [
        "built: 2025-10-07\n",  # a date
        "1: one\n",  # a key that is not a string
        "a: &shared {x: 1}\nb: *shared\n",  # one node reached twice
        "tags: !!set {a, b}\n",
        "ratio: .inf\n",
        "blob: !!binary aGVsbG8=\n",
    ],
)
def test_data_json_would_change_is_never_cached(tmp_path: Path, cache: Path, text: str) -> None:
    path = config(tmp_path, text)
    assert read_config_file(path, cached=True) == yaml.safe_load(text)
    assert entries(cache) == []


@pytest.mark.parametrize(
    "text",
    ["", "{}\n", "# only a comment\n", "a: [1, 2.5, -0.0, true, null, 'x']\nb: {c: {d: []}}\n"],
)
def test_plain_data_round_trips(
    tmp_path: Path, cache: Path, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, text)
    expected = yaml.safe_load(text) or {}
    assert read_config_file(path, cached=True) == expected
    without_parsing(monkeypatch)
    hit = read_config_file(path, cached=True)
    assert hit == expected
    assert repr(hit) == repr(expected)  # -0.0 stays -0.0, 1 stays an int


@pytest.mark.parametrize("text", ["- a list\n", "a: [\n"])
def test_errors_are_raised_as_before_and_never_cached(
    tmp_path: Path, cache: Path, text: str
) -> None:
    path = config(tmp_path, text)
    with pytest.raises(ConfigError) as plain:
        read_config_file(path)
    with pytest.raises(ConfigError) as cached:
        read_config_file(path, cached=True)
    assert str(cached.value) == str(plain.value)
    assert entries(cache) == []


def test_a_damaged_or_unwritable_cache_only_means_parsing(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, "filesystem: {aiop_dir: packs}\n")
    read_config_file(path, cached=True)
    (entry,) = entries(cache)
    entry.write_text("{not json", encoding="utf-8")
    assert read_config_file(path, cached=True) == {"filesystem": {"aiop_dir": "packs"}}
    entry.unlink()
    cache.chmod(0o500)
    try:
        assert read_config_file(path, cached=True) == {"filesystem": {"aiop_dir": "packs"}}
    finally:
        cache.chmod(0o700)


def test_the_cache_is_never_written_inside_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, "{}\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(path.parent / "cache"))
    assert read_config_file(path, cached=True) == {}
    assert sorted(p.name for p in path.parent.iterdir()) == ["osiris.yaml"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XDG_CACHE_HOME": "/xdg"}, Path("/xdg/osiris/config")),
        ({"XDG_CACHE_HOME": "relative"}, Path.home() / ".cache" / "osiris" / "config"),
        ({}, Path.home() / ".cache" / "osiris" / "config"),
    ],
)
def test_the_cache_folder_follows_xdg(env: dict[str, str], expected: Path) -> None:
    assert config_cache.cache_dir(env) == expected


@pytest.mark.parametrize(
    ("value", "exact"),
    [
        ({"a": [1, 2.0, "x", None, True, {"b": []}]}, True),
        ({1: "a"}, False),
        ({"a": (1, 2)}, False),
        ({"a": float("nan")}, False),
        ({"a": b"x"}, False),
    ],
)
def test_exact_in_json(value: Any, exact: bool) -> None:
    assert config_cache.exact_in_json(value) is exact
    shared: list[int] = []
    assert config_cache.exact_in_json({"a": shared, "b": shared}) is False


# -- validated configurations -----------------------------------------------------------------


def validate_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    refusing(monkeypatch, config_validate, "validate", "validated")


def test_a_validated_configuration_is_rebuilt_without_validating(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, TEMPLATE.read_text(encoding="utf-8"))
    first = load_config(path.parent, env={})
    validate_refused(monkeypatch)
    again = load_config(path.parent, env={})
    assert again.config == first.config
    assert flatten(again.config) == flatten(first.config)
    assert again.origins == first.origins
    assert len(entries(cache)) == 2  # the parsed file and the validated configuration


def test_an_environment_override_is_another_input(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, "filesystem: {profiles: {default: staging}}\n")
    assert load_config(path.parent, env={}).config.filesystem.profiles.default == "staging"
    with_env = load_config(path.parent, env={"OSIRIS_PROFILE": "prod"})
    assert with_env.config.filesystem.profiles.default == "prod"
    assert with_env.origin("filesystem.profiles.default") == "env OSIRIS_PROFILE"
    # A value that was never validated is refused, whatever the cache holds.
    with pytest.raises(ConfigError, match=r"OSIRIS_PROFILE: filesystem\.profiles\.default: "):
        load_config(path.parent, env={"OSIRIS_PROFILE": "qa"})
    validate_refused(monkeypatch)
    assert load_config(path.parent, env={}).config.filesystem.profiles.default == "staging"


def test_another_validator_validates_again(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, "ids: {run_id_format: [incremental]}\n")
    load_config(path.parent, env={})
    monkeypatch.setattr(config_cache, "_rules_stamp", lambda: "another pydantic")
    validate_refused(monkeypatch)
    with pytest.raises(AssertionError, match="validated"):
        load_config(path.parent, env={})


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data.pop("ids"),
        lambda data: data["filesystem"].update(future=1),
        lambda data: data.update(filesystem=[]),
        lambda data: data["filesystem"]["profiles"].update(default="nowhere"),
    ],
    ids=["key-missing", "key-unknown", "section-not-a-mapping", "section-rule-broken"],
)
def test_a_damaged_validated_entry_is_validated_again(
    tmp_path: Path, cache: Path, damage: Any
) -> None:
    path = config(tmp_path, "filesystem: {aiop_dir: packs}\n")
    expected = load_config(path.parent, env={}).config
    for entry in entries(cache):
        stored = json.loads(entry.read_text("utf-8"))
        if "rules" in stored:
            damage(stored["data"])
            entry.write_text(json.dumps(stored), encoding="utf-8")
    assert load_config(path.parent, env={}).config == expected


SECTIONS = {
    "filesystem": st.fixed_dictionaries(
        {},
        optional={
            "aiop_dir": st.sampled_from(["aiop", "../out", "", "packs/x"]),
            "profiles": st.fixed_dictionaries(
                {},
                optional={
                    "values": st.lists(st.sampled_from(["dev", "prod", "a b", ""]), max_size=3),
                    "default": st.sampled_from(["dev", "prod", "qa"]),
                    "enabled": st.sampled_from([True, False, "maybe", 1]),
                },
            ),
            "retention": st.fixed_dictionaries(
                {}, optional={"run_logs_days": st.sampled_from([0, 3, -1, "5", 2.0, True])}
            ),
            "naming": st.fixed_dictionaries(
                {}, optional={"manifest_short_len": st.integers(min_value=1, max_value=20)}
            ),
        },
    ),
    "ids": st.fixed_dictionaries(
        {},
        optional={
            "run_id_format": st.sampled_from(["ulid", "incremental, ulid", "", ["ksuid"], 5])
        },
    ),
    "compat": st.fixed_dictionaries(
        {},
        optional={
            "mode": st.sampled_from(["dual", "contract", "mirror"]),
            "legacy_profiles": st.dictionaries(
                st.sampled_from(["default", "", "qa"]), st.sampled_from(["dev", "nowhere"])
            ),
        },
    ),
}


@settings(max_examples=60, deadline=None)
@given(data=st.fixed_dictionaries({}, optional=SECTIONS))
def test_a_cached_configuration_is_what_validation_gives(data: dict[str, Any]) -> None:
    # Whatever the input, the second resolution (from the cache when the first one kept
    # it) gives the same configuration, or the same error line.
    def resolve() -> str:
        try:
            resolved, _ = build_config(data, config_file=None, env={})
        except ConfigError as exc:
            return exc.one_line()
        return json.dumps(flatten(resolved))

    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", folder)
        first = resolve()
        assert resolve() == first


RESOLVE = """\
import json, sys
from pathlib import Path
from osiris.core.fs_config import flatten, load_config
for _ in range(20):
    print(json.dumps(flatten(load_config(Path(sys.argv[1]), env={}).config)))
"""


def test_processes_sharing_the_cache_all_resolve_the_same_configuration(
    tmp_path: Path, cache: Path
) -> None:
    # Six processes at once, each resolving twenty times: entries are replaced whole, so
    # none ever reads half an entry, and every resolution gives the same configuration.
    path = config(tmp_path, TEMPLATE.read_text(encoding="utf-8"))
    env = {**os.environ, "XDG_CACHE_HOME": str(cache.parents[1])}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", RESOLVE, str(path.parent)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [(child.returncode, err) for child, (_, err) in zip(children, outputs, strict=True)] == [
        (0, "")
    ] * 6
    lines = {line for out, _ in outputs for line in out.splitlines()}
    assert lines == {json.dumps(flatten(load_config(path.parent, env={}).config))}
    assert len(entries(cache)) == 2
    assert all(json.loads(e.read_text("utf-8"))["data"] for e in entries(cache))
