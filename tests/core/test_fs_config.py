"""osiris.yaml: defaults, validation, env overrides, precedence, origins, base_path (pyfakefs)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from osiris.core.config_model import OsirisConfig
from osiris.core.fs_config import (
    ENV_OVERRIDES,
    build_config,
    flatten,
    load_config,
    upstream_keys,
)
from osiris.errors import ConfigError, ProjectNotFound

PROJECT = "/work/proj"


def at(*parts: str) -> Path:
    # Built inside the test: pyfakefs patches pathlib, and a Path made at import time would
    # never compare equal to the ones the code under test returns.
    return Path(PROJECT, *parts)


# contract.md §2, written out rather than read from the models, so a changed default shows.
CONTRACT_DEFAULTS = {
    "filesystem.base_path": "",
    "filesystem.pipelines_dir": "pipelines",
    "filesystem.build_dir": "build",
    "filesystem.aiop_dir": "aiop",
    "filesystem.run_logs_dir": "run_logs",
    "filesystem.sessions_dir": ".osiris/sessions",
    "filesystem.cache_dir": ".osiris/cache",
    "filesystem.index_dir": ".osiris/index",
    "filesystem.profiles.enabled": True,
    "filesystem.profiles.values": ["dev", "staging", "prod", "ml", "finance", "incident_debug"],
    "filesystem.profiles.default": "dev",
    "filesystem.naming.manifest_dir": "{pipeline_slug}/{manifest_short}-{manifest_hash}",
    "filesystem.naming.run_dir": "{pipeline_slug}/{run_ts}_{run_id}-{manifest_short}",
    "filesystem.naming.aiop_run_dir": "{run_id}",
    "filesystem.naming.run_ts_format": "iso_basic_z",
    "filesystem.naming.manifest_short_len": 7,
    "filesystem.artifacts.manifest": True,
    "filesystem.artifacts.plan": True,
    "filesystem.artifacts.fingerprints": True,
    "filesystem.artifacts.run_summary": True,
    "filesystem.artifacts.cfg": True,
    "filesystem.artifacts.save_events_tail": 0,
    "filesystem.retention.run_logs_days": 7,
    "filesystem.retention.aiop_keep_runs_per_pipeline": 200,
    "filesystem.retention.annex_keep_days": 14,
    "filesystem.retention.migrated_grace_days": 30,
    "ids.run_id_format": ["iso_ulid"],
    "ids.manifest_hash_algo": "sha256_slug",
    "compat.mode": "contract",
    "compat.read_fallback": True,
}


def write_config(fs, text: str, folder: str = PROJECT) -> None:
    fs.create_file(Path(folder, "osiris.yaml"), contents=textwrap.dedent(text))


def load(folder: str = PROJECT, *, env: dict[str, str] | None = None, flags=None):
    return load_config(Path(folder), env=env or {}, flags=flags)


def config_error(text: str, fs, *, env: dict[str, str] | None = None) -> str:
    write_config(fs, text)
    with pytest.raises(ConfigError) as caught:
        load(env=env)
    message = caught.value.one_line()
    assert "\n" not in message
    return message


# -- defaults -------------------------------------------------------------------------------
def test_an_empty_file_gives_every_contract_default(fs):
    write_config(fs, "")
    resolved = load()
    assert flatten(resolved.config) == CONTRACT_DEFAULTS
    assert {resolved.origin(key) for key in CONTRACT_DEFAULTS} == {"default"}


def test_a_key_without_a_value_counts_as_not_set(fs):
    write_config(
        fs,
        """
        filesystem:
          base_path:
          profiles:
        ids:
        """,
    )
    resolved = load()
    assert flatten(resolved.config) == CONTRACT_DEFAULTS
    assert resolved.origin("filesystem.base_path") == "default"


def test_file_values_replace_defaults_and_are_marked_file(fs):
    write_config(
        fs,
        """
        filesystem:
          build_dir: out/build
          profiles: {default: prod}
          retention: {run_logs_days: 0}
        ids: {run_id_format: [incremental, ulid]}
        """,
    )
    resolved = load()
    values = flatten(resolved.config)
    assert values["filesystem.build_dir"] == "out/build"
    assert values["filesystem.profiles.default"] == "prod"
    assert values["filesystem.retention.run_logs_days"] == 0
    assert values["ids.run_id_format"] == ["incremental", "ulid"]
    assert resolved.origin("filesystem.build_dir") == "file"
    assert resolved.origin("filesystem.aiop_dir") == "default"


def test_run_id_format_accepts_a_comma_string(fs):
    write_config(fs, "ids: {run_id_format: 'incremental, ulid'}")
    assert load().config.ids.run_id_format == ["incremental", "ulid"]


def test_a_misspelled_section_is_refused_with_did_you_mean(fs):
    write_config(fs, "filesytem:\n  build_dir: out\n")
    with pytest.raises(ConfigError) as caught:
        load()
    assert caught.value.exit_code == 2
    assert caught.value.lines() == [
        f"{at('osiris.yaml')}: filesytem: unknown key (hint: did you mean 'filesystem'?)"
    ]


def test_every_unknown_key_at_every_level_is_reported_at_once(fs):
    write_config(
        fs,
        """
        filesystem:
          retention: {run_log_days: 3}
          naming: {future_naming: 3}
        ids: {run_id_fromat: [ulid]}
        """,
    )
    with pytest.raises(ConfigError) as caught:
        load()
    where = at("osiris.yaml")
    assert caught.value.lines() == [
        f"{where}: filesystem.retention.run_log_days: unknown key "
        "(hint: did you mean 'filesystem.retention.run_logs_days'?)",
        f"{where}: filesystem.naming.future_naming: unknown key (hint: the keys here are: "
        "manifest_dir, run_dir, aiop_run_dir, run_ts_format, manifest_short_len)",
        f"{where}: ids.run_id_fromat: unknown key (hint: did you mean 'ids.run_id_format'?)",
    ]


def test_free_form_sections_take_any_key(fs):
    write_config(fs, "compat:\n  legacy_profiles: {anything: dev}\n")
    assert load().config.compat.legacy_profiles == {"anything": "dev"}


@pytest.mark.parametrize("release", ["v030", "v035", "v057"])
def test_keys_an_upstream_release_wrote_are_warnings_naming_it(release):
    source = Path(__file__).resolve().parents[1] / "fixtures/upstream" / release / "osiris.yaml"
    data = yaml.safe_load(source.read_text("utf-8"))
    data.get("filesystem", {}).pop("base_path", None)  # the fixture's machine, not ours
    build_config(data, config_file=None, env={})  # no error: nothing in it is a typo
    warnings = upstream_keys(data)
    assert "logging: written by upstream Osiris 0.3.x and 0.5.x; this version ignores it" in (
        warnings
    )
    if release == "v057":
        assert (
            "filesystem.mcp_logs_dir: written by upstream Osiris 0.5.x; this version ignores it"
            in warnings
        )
    else:
        assert "sessions: written by upstream Osiris 0.3.x; this version ignores it" in warnings


# -- validation -----------------------------------------------------------------------------
def test_unknown_default_profile_lists_the_allowed_ones(fs):
    message = config_error("filesystem: {profiles: {default: qa}}", fs)
    assert message.startswith(f"{PROJECT}/osiris.yaml: filesystem.profiles.default: ")
    assert (
        "Unknown profile 'qa'. Allowed profiles: dev, staging, prod, ml, finance, "
        "incident_debug (filesystem.profiles.values)." in message
    )


def test_narrowing_profile_values_must_keep_the_default(fs):
    message = config_error("filesystem: {profiles: {values: [blue, green]}}", fs)
    assert "filesystem.profiles.default" in message
    assert "Unknown profile 'dev'. Allowed profiles: blue, green" in message


def test_default_profile_is_free_when_profiles_are_disabled(fs):
    write_config(fs, "filesystem: {profiles: {enabled: false, default: anything}}")
    resolved = load()
    assert resolved.resolve_profile() is None


def test_requested_profile_is_refused_when_profiles_are_disabled(fs):
    write_config(fs, "filesystem: {profiles: {enabled: false}}")
    with pytest.raises(ConfigError, match="profiles are disabled, so '--profile prod'"):
        load().resolve_profile("prod")


def test_requested_profile_must_be_listed(fs):
    write_config(fs, "")
    with pytest.raises(ConfigError, match=r"Unknown profile 'qa'\. Allowed profiles: dev,"):
        load().resolve_profile("qa")
    assert load().resolve_profile("prod") == "prod"


@pytest.mark.parametrize("name", ["a/b", "..", "", "x__y", "-x", "p d"])
def test_profile_values_must_be_folder_names(fs, name):
    message = config_error(f"filesystem: {{profiles: {{values: ['{name}']}}}}", fs)
    assert "filesystem.profiles.values" in message
    assert f"profile '{name}' is not a folder name" in message


def test_profile_values_must_not_be_empty(fs):
    message = config_error("filesystem: {profiles: {values: []}}", fs)
    assert "filesystem.profiles.values: must list at least one profile" in message


@pytest.mark.parametrize("length", [3, 16])
def test_manifest_short_len_bounds_are_accepted(fs, length):
    write_config(fs, f"filesystem: {{naming: {{manifest_short_len: {length}}}}}")
    assert load().config.filesystem.naming.manifest_short_len == length


@pytest.mark.parametrize(("length", "bound"), [(2, "greater than or equal to 3"), (17, "16")])
def test_manifest_short_len_outside_3_to_16_is_refused(fs, length, bound):
    message = config_error(f"filesystem: {{naming: {{manifest_short_len: {length}}}}}", fs)
    assert "filesystem.naming.manifest_short_len" in message
    assert bound in message
    assert f"(got {length})" in message


def test_unsupported_run_id_token_names_the_token_and_the_supported_ones(fs):
    message = config_error("ids: {run_id_format: [incremental, ksuid]}", fs)
    assert "ids.run_id_format" in message
    assert (
        "Unsupported run_id_format token 'ksuid'. "
        "Supported: incremental, ulid, iso_ulid, uuidv4, snowflake." in message
    )


def test_run_id_format_must_name_a_token(fs):
    message = config_error("ids: {run_id_format: ''}", fs)
    assert "ids.run_id_format: must name at least one token" in message


@pytest.mark.parametrize(
    "key",
    [
        "retention.run_logs_days",
        "retention.aiop_keep_runs_per_pipeline",
        "retention.annex_keep_days",
        "artifacts.save_events_tail",
    ],
)
def test_negative_counts_are_refused(fs, key):
    section, leaf = key.split(".")
    message = config_error(f"filesystem: {{{section}: {{{leaf}: -1}}}}", fs)
    assert f"filesystem.{key}: Input should be greater than or equal to 0 (got -1)" in message


def test_compat_mode_must_be_a_known_mode(fs):
    message = config_error("compat: {mode: mirror}", fs)
    assert "compat.mode" in message
    assert "'legacy', 'dual' or 'contract'" in message
    assert "(got 'mirror')" in message


def test_manifest_hash_algo_has_one_value(fs):
    message = config_error("ids: {manifest_hash_algo: md5}", fs)
    assert "ids.manifest_hash_algo" in message
    assert "sha256_slug" in message


def test_run_ts_format_must_be_known_or_strftime(fs):
    message = config_error("filesystem: {naming: {run_ts_format: hourly}}", fs)
    assert "filesystem.naming.run_ts_format" in message
    assert "'hourly' is not a timestamp format" in message
    write_config(fs, "filesystem: {naming: {run_ts_format: '%Y-%m-%d'}}", folder="/other")
    assert load("/other").config.filesystem.naming.run_ts_format == "%Y-%m-%d"


def test_naming_templates_may_only_use_known_tokens(fs):
    message = config_error("filesystem: {naming: {run_dir: '{pipeline_slug}/{hostname}'}}", fs)
    assert "filesystem.naming.run_dir: unknown token {hostname}" in message


@pytest.mark.parametrize("value", ["../elsewhere", "a/../..", ".", "''"])
def test_contract_folders_must_stay_inside_the_project(fs, value):
    message = config_error(f"filesystem: {{run_logs_dir: {value}}}", fs)
    assert "filesystem.run_logs_dir: must name a folder inside the project" in message


def test_wrong_type_names_file_key_and_value(fs):
    message = config_error("filesystem: {profiles: {enabled: maybe}}", fs)
    assert message.startswith(f"{PROJECT}/osiris.yaml: filesystem.profiles.enabled: ")
    assert "(got 'maybe')" in message
    assert "(hint: see docs/samples/osiris.filesystem.yaml" in message


def test_bad_yaml_names_the_file_and_position(fs):
    message = config_error("filesystem:\n  build_dir: [unclosed\n", fs)
    assert message.startswith(f"{PROJECT}/osiris.yaml: not valid YAML at line ")


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just text\n", "str")])
def test_top_level_must_be_a_mapping(fs, text, kind):
    message = config_error(text, fs)
    assert f"the top level must be a mapping, not {kind}" in message


def test_a_section_that_is_not_a_mapping_is_refused(fs):
    message = config_error("filesystem: 5", fs)
    assert "filesystem: Input should be a valid dictionary" in message


# -- environment and flags ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("var", "raw", "key", "value"),
    [
        ("OSIRIS_PROFILE", "prod", "filesystem.profiles.default", "prod"),
        ("OSIRIS_FILESYSTEM_BASE", "/srv/acme", "filesystem.base_path", "/srv/acme"),
        ("OSIRIS_BASE_PATH", "/srv/alias", "filesystem.base_path", "/srv/alias"),
        ("OSIRIS_RUN_ID_FORMAT", "incremental,ulid", "ids.run_id_format", ["incremental", "ulid"]),
        ("OSIRIS_RETENTION_RUN_LOGS_DAYS", "30", "filesystem.retention.run_logs_days", 30),
        ("OSIRIS_FS_CONTRACT", "dual", "compat.mode", "dual"),
    ],
)
def test_each_environment_override(fs, var, raw, key, value):
    write_config(fs, "")
    resolved = load(env={var: raw})
    assert flatten(resolved.config)[key] == value
    assert resolved.origin(key) == f"env {var}"


def test_every_documented_variable_is_covered():
    assert set(ENV_OVERRIDES) == {
        "OSIRIS_PROFILE",
        "OSIRIS_FILESYSTEM_BASE",
        "OSIRIS_BASE_PATH",
        "OSIRIS_RUN_ID_FORMAT",
        "OSIRIS_RETENTION_RUN_LOGS_DAYS",
        "OSIRIS_FS_CONTRACT",
    }


def test_primary_base_variable_wins_over_its_alias(fs):
    write_config(fs, "")
    env = {"OSIRIS_FILESYSTEM_BASE": "/srv/primary", "OSIRIS_BASE_PATH": "/srv/alias"}
    resolved = load(env=env)
    assert resolved.base_path == Path("/srv/primary")
    assert resolved.origin("filesystem.base_path") == "env OSIRIS_FILESYSTEM_BASE"


def test_an_empty_primary_variable_leaves_the_alias_in_charge(fs):
    write_config(fs, "")
    resolved = load(env={"OSIRIS_FILESYSTEM_BASE": "", "OSIRIS_BASE_PATH": "/srv/alias"})
    assert resolved.base_path == Path("/srv/alias")


def test_empty_variables_are_ignored(fs):
    write_config(fs, "filesystem: {profiles: {default: staging}}")
    resolved = load(env=dict.fromkeys(ENV_OVERRIDES, ""))
    assert resolved.config.filesystem.profiles.default == "staging"
    assert resolved.origin("filesystem.profiles.default") == "file"


def test_precedence_flag_over_env_over_file_over_default(fs):
    write_config(fs, "filesystem: {profiles: {default: staging}}\ncompat: {mode: legacy}\n")
    key = "filesystem.profiles.default"
    assert load().config.filesystem.profiles.default == "staging"
    with_env = load(env={"OSIRIS_PROFILE": "prod", "OSIRIS_FS_CONTRACT": "dual"})
    assert (with_env.config.filesystem.profiles.default, with_env.origin(key)) == (
        "prod",
        "env OSIRIS_PROFILE",
    )
    assert with_env.config.compat.mode == "dual"
    with_flag = load(env={"OSIRIS_PROFILE": "prod"}, flags={key: "ml", "compat.mode": None})
    assert (with_flag.config.filesystem.profiles.default, with_flag.origin(key)) == ("ml", "flag")
    assert (with_flag.config.compat.mode, with_flag.origin("compat.mode")) == ("legacy", "file")
    assert with_flag.origin("filesystem.build_dir") == "default"


def test_a_bad_environment_value_names_the_variable(fs):
    message = config_error("", fs, env={"OSIRIS_PROFILE": "qa"})
    assert message.startswith("OSIRIS_PROFILE: filesystem.profiles.default: Unknown profile 'qa'.")


@pytest.mark.parametrize(
    ("var", "raw", "expected"),
    [
        ("OSIRIS_RUN_ID_FORMAT", "ulid,ksuid", "Unsupported run_id_format token 'ksuid'"),
        ("OSIRIS_RETENTION_RUN_LOGS_DAYS", "week", "(got 'week')"),
        ("OSIRIS_RETENTION_RUN_LOGS_DAYS", "-3", "greater than or equal to 0"),
        ("OSIRIS_FS_CONTRACT", "mirror", "'legacy', 'dual' or 'contract'"),
    ],
)
def test_bad_environment_values(fs, var, raw, expected):
    message = config_error("", fs, env={var: raw})
    assert message.startswith(f"{var}: {ENV_OVERRIDES[var]}: ")
    assert expected in message


def test_a_bad_flag_value_names_the_command_line(fs):
    write_config(fs, "")
    with pytest.raises(ConfigError) as caught:
        load(flags={"filesystem.profiles.default": "qa"})
    assert caught.value.one_line().startswith("command line: filesystem.profiles.default: ")


# -- project discovery and base_path --------------------------------------------------------
def test_empty_base_path_is_the_folder_holding_the_file(fs):
    write_config(fs, "filesystem: {base_path: ''}")
    resolved = load()
    assert resolved.base_path == at()
    assert resolved.config_file == at("osiris.yaml")
    assert resolved.project_dir == at()


def test_relative_base_path_resolves_against_the_file_folder(fs):
    write_config(fs, "filesystem: {base_path: data/../state}")
    assert load().base_path == at("state")


def test_absolute_base_path_is_kept(fs):
    write_config(fs, "filesystem: {base_path: /srv/osiris/acme}")
    resolved = load()
    assert resolved.base_path == Path("/srv/osiris/acme")
    assert resolved.project_dir == at()


def test_relative_env_base_path_resolves_against_the_file_folder(fs):
    write_config(fs, "")
    assert load(env={"OSIRIS_FILESYSTEM_BASE": "runtime"}).base_path == at("runtime")


def test_the_file_is_found_from_a_subfolder(fs):
    write_config(fs, "filesystem: {profiles: {default: prod}}")
    fs.create_dir(at("pipelines", "deep"))
    resolved = load_config(cwd=at("pipelines", "deep"), env={})
    assert resolved.config_file == at("osiris.yaml")
    assert resolved.base_path == at()
    assert resolved.config.filesystem.profiles.default == "prod"


def test_the_nearest_file_wins(fs):
    write_config(fs, "")
    write_config(fs, "", folder=f"{PROJECT}/nested")
    resolved = load_config(cwd=at("nested"), env={})
    assert resolved.config_file == at("nested", "osiris.yaml")


def test_project_flag_names_the_folder_without_searching_upward(fs):
    write_config(fs, "")
    fs.create_dir(at("sub"))
    resolved = load_config(at(), cwd=Path("/"), env={})
    assert resolved.config_file == at("osiris.yaml")
    with pytest.raises(ProjectNotFound, match=r"no osiris\.yaml in /work/proj/sub"):
        load_config(at("sub"), env={})


def test_project_flag_must_name_a_folder(fs):
    with pytest.raises(ProjectNotFound) as caught:
        load_config(Path("/missing"), env={})
    assert caught.value.one_line() == (
        "/missing: no such folder (hint: --project takes the folder holding osiris.yaml)"
    )


def test_no_file_anywhere_is_an_error_pointing_to_init(fs):
    fs.create_dir("/empty/dir")
    with pytest.raises(ProjectNotFound) as caught:
        load_config(cwd=Path("/empty/dir"), env={})
    assert "no osiris.yaml in /empty/dir or any parent folder" in caught.value.one_line()
    assert "osiris init" in caught.value.one_line()


def test_without_a_file_defaults_can_be_rooted_at_the_folder(fs):
    fs.create_dir("/empty")
    resolved = load_config(Path("/empty"), env={}, require_file=False)
    assert resolved.config_file is None
    assert resolved.base_path == Path("/empty")
    assert resolved.config == OsirisConfig()
