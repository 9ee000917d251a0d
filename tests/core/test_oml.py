"""OML validation: every error names file, step and key; params and secrets resolve as specified."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from osiris.core.oml import load_pipeline, parse_param_args, validate_pipeline
from osiris.core.registry import SPECS, ComponentSpec, ConfigKey
from osiris.errors import NotFound, PipelineError, UsageError
from tests.helpers.projects import ORDERS_OML

WHERE = "pipelines/x.yaml"


def orders_doc() -> dict[str, Any]:
    return yaml.safe_load(ORDERS_OML)


def validate(doc: dict[str, Any], **kwargs: Any):
    kwargs.setdefault("env", {})
    return validate_pipeline(doc, where=WHERE, **kwargs)


def error_of(doc: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(PipelineError) as info:
        validate(doc, **kwargs)
    assert info.value.exit_code == 2
    return info.value.one_line()


def with_step(doc: dict[str, Any], index: int, **changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    doc["steps"][index].update(changes)
    return doc


# -- a valid pipeline ---------------------------------------------------------------------------
def test_the_pipeline_md_example_validates_with_defaults_filled() -> None:
    pipeline = validate(orders_doc())
    assert pipeline.name == pipeline.slug == "orders-by-country"
    assert [s.id for s in pipeline.steps] == ["extract-orders", "aggregate", "write-summary"]
    extract = pipeline.steps[0]
    assert extract.config == {
        "path": "data/orders.csv",
        "delimiter": ",",
        "header": True,
        "encoding": "utf-8",
    }
    assert pipeline.steps[2].config["newline"] == "lf"
    assert "amount >= 0 GROUP BY" in pipeline.steps[1].config["query"]
    assert pipeline.params == {"min_amount": 0}


def test_slug_comes_from_the_name() -> None:
    doc = orders_doc()
    doc["name"] = "Orders by Country!"
    assert validate(doc).slug == "orders-by-country"


def test_needs_default_to_the_previous_step() -> None:
    doc = orders_doc()
    for step in doc["steps"]:
        step.pop("needs", None)
    assert [s.needs for s in validate(doc).steps] == [(), ("extract-orders",), ("aggregate",)]


def test_forward_needs_run_in_dependency_order() -> None:
    doc = orders_doc()
    doc["steps"][0]["needs"] = []
    doc["steps"] = [doc["steps"][2], doc["steps"][0], doc["steps"][1]]
    order = [s.id for s in validate(doc).steps]
    assert order == ["extract-orders", "aggregate", "write-summary"]


# -- top level ---------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["oml_version", "name", "steps"])
def test_required_top_level_keys(key: str) -> None:
    doc = orders_doc()
    del doc[key]
    assert error_of(doc).startswith(f"{WHERE}: {key}: required key missing")


def test_oml_version_must_be_a_quoted_string() -> None:
    doc = orders_doc()
    doc["oml_version"] = 0.1
    assert error_of(doc) == (
        f'{WHERE}: oml_version: must be a quoted string, not 0.1 (hint: write oml_version: "0.1.0" '
        "(quoted))"
    )


def test_oml_version_must_be_0x() -> None:
    doc = orders_doc()
    doc["oml_version"] = "1.0.0"
    assert "unsupported version '1.0.0': this Osiris reads 0.x" in error_of(doc)


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("version", "oml_version"),
        ("connectors", "config"),
        ("tasks", "rename tasks to steps"),
        ("outputs", "filesystem.csv_writer"),
    ],
)
def test_refused_legacy_keys_have_a_hint(key: str, hint: str) -> None:
    doc = orders_doc()
    doc[key] = {}
    message = error_of(doc)
    assert message.startswith(f"{WHERE}: {key}: not an OML v0.1.0 key (hint: ")
    assert hint in message


def test_unknown_top_level_key_lists_the_allowed_ones() -> None:
    doc = orders_doc()
    doc["stepz"] = []
    assert error_of(doc).startswith(f"{WHERE}: stepz: unknown key (hint: OML keys: oml_version")


def test_steps_must_be_a_non_empty_list() -> None:
    doc = orders_doc()
    doc["steps"] = []
    assert error_of(doc) == f"{WHERE}: steps: must be a non-empty list of steps"


# -- steps -------------------------------------------------------------------------------------
def test_duplicate_step_ids() -> None:
    doc = with_step(orders_doc(), 1, id="extract-orders")
    assert error_of(doc) == (
        f"{WHERE}: steps[1] (extract-orders): id: duplicate step id 'extract-orders'"
    )


def test_ids_with_the_same_table_name_clash() -> None:
    doc = with_step(orders_doc(), 1, id="extract_orders")
    assert "clashes with step 'extract-orders' (same table df_extract_orders)" in error_of(doc)


def test_invalid_step_id() -> None:
    doc = with_step(orders_doc(), 0, id="../evil")
    assert error_of(doc).startswith(f"{WHERE}: steps[0]: id: '../evil' is not a valid step id")


def test_a_misspelt_component_gets_a_did_you_mean() -> None:
    doc = with_step(orders_doc(), 0, component="filesystem.csv_extracter")
    assert error_of(doc) == (
        f"{WHERE}: steps[0] (extract-orders): component: unknown component "
        "'filesystem.csv_extracter' (hint: did you mean 'filesystem.csv_extractor'?)"
    )
    doc = with_step(orders_doc(), 0, component="kafka.consumer")
    assert error_of(doc).endswith("(hint: see osiris components list)")


def test_mode_must_be_supported_by_the_component() -> None:
    doc = with_step(orders_doc(), 0, mode="write")
    assert error_of(doc) == (
        f"{WHERE}: steps[0] (extract-orders): mode: filesystem.csv_extractor does not support "
        "mode 'write' (hint: supported: read)"
    )


def test_unknown_mode() -> None:
    doc = with_step(orders_doc(), 0, mode="extract")
    assert "steps[0] (extract-orders): mode: unknown mode 'extract'" in error_of(doc)


def test_unknown_step_key() -> None:
    doc = with_step(orders_doc(), 1, uses="duckdb")
    assert error_of(doc).startswith(f"{WHERE}: steps[1] (aggregate): uses: unknown key")


def test_unknown_needs() -> None:
    doc = with_step(orders_doc(), 1, needs=["extract"])
    assert error_of(doc).startswith(
        f"{WHERE}: steps[1] (aggregate): needs: unknown step 'extract' (hint: steps: extract-orders"
    )


def test_a_step_needing_itself_is_a_cycle() -> None:
    doc = with_step(orders_doc(), 1, needs=["aggregate"])
    assert error_of(doc) == f"{WHERE}: steps[1] (aggregate): needs: cycle: aggregate -> aggregate"


def test_cycles_are_named() -> None:
    doc = with_step(orders_doc(), 1, needs=["write-summary"])
    assert error_of(doc) == (
        f"{WHERE}: steps[1] (aggregate): needs: cycle: aggregate -> write-summary -> aggregate"
    )


def test_writer_needs_exactly_one_upstream() -> None:
    doc = with_step(orders_doc(), 2, needs=["aggregate", "extract-orders"])
    assert error_of(doc) == (
        f"{WHERE}: steps[2] (write-summary): needs: filesystem.csv_writer reads exactly 1 "
        "upstream step(s), got 2"
    )


# -- config ------------------------------------------------------------------------------------
def test_missing_required_config_key() -> None:
    doc = with_step(orders_doc(), 1, config={})
    assert error_of(doc) == (
        f"{WHERE}: steps[1] (aggregate): config.query: required key missing "
        "(hint: duckdb.processor needs: query)"
    )


def test_unknown_config_key_lists_the_accepted_ones() -> None:
    doc = with_step(orders_doc(), 0, config={"path": "data/orders.csv", "sep": ";"})
    assert error_of(doc) == (
        f"{WHERE}: steps[0] (extract-orders): config.sep: unknown key "
        "(hint: filesystem.csv_extractor accepts: connection, path, delimiter, header, "
        "encoding, columns, skip_rows, limit, parse_dates, dtype, na_values, chunk_size, "
        "skip_blank_lines, comment, compression)"
    )


def test_a_misspelt_config_key_gets_a_did_you_mean() -> None:
    doc = with_step(orders_doc(), 0, config={"path": "data/orders.csv", "delimeter": ";"})
    assert error_of(doc) == (
        f"{WHERE}: steps[0] (extract-orders): config.delimeter: unknown key "
        "(hint: did you mean 'delimiter'?)"
    )


def test_every_problem_of_every_step_is_reported_at_once() -> None:
    doc = with_step(orders_doc(), 0, mode="raed", config={"pth": "x.csv"})
    doc = with_step(doc, 1, config={"query": "SELECT 1", "qurey": "x"})
    with pytest.raises(PipelineError) as info:
        validate(doc)
    assert info.value.lines() == [
        f"{WHERE}: steps[0] (extract-orders): mode: unknown mode 'raed' "
        "(hint: did you mean 'read'?)",
        f"{WHERE}: steps[1] (aggregate): config.qurey: unknown key (hint: did you mean 'query'?)",
    ]


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("header", "maybe", "config.header: expected bool, got string 'maybe'"),
        ("delimiter", 1, "config.delimiter: expected str, got int 1"),
        ("path", ["a"], "config.path: expected string, got list ['a']"),
        ("newline", "cr", "config.newline: 'cr' is not allowed (choose one of: lf, crlf)"),
        ("path", "/etc/out.csv", "config.path: '/etc/out.csv' must be relative to the project"),
        ("path", "../out.csv", "config.path: '../out.csv' points outside the project"),
    ],
)
def test_wrong_config_types(key: str, value: Any, message: str) -> None:
    config = {"path": "output/x.csv", key: value}
    doc = with_step(orders_doc(), 2, config=config)
    assert error_of(doc).startswith(f"{WHERE}: steps[2] (write-summary): {message}")


def test_config_must_be_a_mapping() -> None:
    doc = with_step(orders_doc(), 1, config="SELECT 1")
    assert error_of(doc) == f"{WHERE}: steps[1] (aggregate): config: must be a mapping"


# -- params ------------------------------------------------------------------------------------
def min_amount(**kwargs: Any) -> Any:
    return validate(orders_doc(), **kwargs).params["min_amount"]


def test_param_precedence_default_env_profile_cli() -> None:
    env = {"OSIRIS_PARAM_MIN_AMOUNT": "50"}
    assert min_amount() == 0
    assert min_amount(env=env) == "50"
    assert min_amount(env=env, profile="prod") == 100
    assert min_amount(env=env, profile="prod", cli_params={"min_amount": "7"}) == "7"
    assert min_amount(profile="dev") == 0  # a profile the OML does not mention changes nothing


def test_params_land_in_the_config() -> None:
    pipeline = validate(orders_doc(), cli_params={"min_amount": "250"})
    assert "amount >= 250 GROUP BY" in pipeline.steps[1].config["query"]


def test_whole_value_param_keeps_its_type_or_is_coerced() -> None:
    doc = orders_doc()
    doc["params"]["has_header"] = {"default": False}
    doc["steps"][0]["config"]["header"] = "${params.has_header}"
    assert validate(doc).steps[0].config["header"] is False
    env = {"OSIRIS_PARAM_HAS_HEADER": "yes"}
    assert validate(doc, env=env).steps[0].config["header"] is True


def test_unknown_param_placeholder() -> None:
    doc = with_step(orders_doc(), 1, config={"query": "SELECT ${params.limit}"})
    assert error_of(doc) == (
        f"{WHERE}: steps[1] (aggregate): config.query: unresolved placeholder ${{params.limit}}: "
        "no such param (hint: declare it under params: (declared: min_amount))"
    )


def test_param_without_value() -> None:
    doc = orders_doc()
    doc["params"]["min_amount"] = {"description": "no default"}
    message = error_of(doc)
    assert "config.query: unresolved placeholder ${params.min_amount}: the param has no value" in (
        message
    )
    assert "OSIRIS_PARAM_MIN_AMOUNT" in message
    assert validate(doc, cli_params={"min_amount": "5"}).params == {"min_amount": "5"}


def test_cli_param_must_be_declared() -> None:
    with pytest.raises(UsageError) as info:
        validate(orders_doc(), cli_params={"min_amont": "5"})
    assert info.value.one_line() == (
        f"{WHERE}: --param min_amont: not a param of this pipeline (hint: min_amount)"
    )


def test_profile_param_must_be_declared() -> None:
    doc = orders_doc()
    doc["profiles"]["prod"]["params"]["limit"] = 3
    assert error_of(doc).startswith(f"{WHERE}: profiles.prod.params.limit: not a declared param")


def test_parse_param_args() -> None:
    assert parse_param_args(["a=1", "b=x=y", "a=2", "c="]) == {"a": "2", "b": "x=y", "c": ""}
    for bad in ["noequals", "=1", "bad-name=1"]:
        with pytest.raises(UsageError, match="expected name=value"):
            parse_param_args([bad])


# -- secrets -----------------------------------------------------------------------------------
SECRET_SPECS = {
    **SPECS,
    "postgres.extractor": ComponentSpec(
        name="postgres.extractor",
        modes=("read",),
        driver="tests.none:Driver",
        config={
            "dsn": ConfigKey("str", required=True),
            "password": ConfigKey("str"),
            "options": ConfigKey("str"),
        },
    ),
}


def secret_doc(config: dict[str, Any]) -> dict[str, Any]:
    doc = orders_doc()
    doc["steps"][0] = {
        "id": "extract-orders",
        "component": "postgres.extractor",
        "mode": "read",
        "config": config,
    }
    return doc


def test_literal_secret_is_refused_without_echoing_it() -> None:
    doc = secret_doc({"dsn": "${PG_DSN}", "password": "hunter2"})
    message = error_of(doc, specs=SECRET_SPECS)
    assert message.startswith(
        f"{WHERE}: steps[0] (extract-orders): config.password: literal secret in the pipeline file"
    )
    assert "${PASSWORD}" in message
    assert "hunter2" not in message


def test_env_reference_secrets_are_kept_for_run_time() -> None:
    pipeline = validate(
        secret_doc({"dsn": "${PG_DSN}", "password": "${PG_PASSWORD}"}), specs=SECRET_SPECS
    )
    assert pipeline.steps[0].config["password"] == "${PG_PASSWORD}"


def test_param_placeholders_are_not_a_secret_source() -> None:
    doc = secret_doc({"dsn": "${params.min_amount}"})
    assert "config.dsn: literal secret" in error_of(doc, specs=SECRET_SPECS)


def test_secret_check_comes_before_unknown_keys() -> None:
    doc = with_step(orders_doc(), 0, config={"path": "data/orders.csv", "api_key": "abc"})
    assert "config.api_key: literal secret" in error_of(doc)


# -- reading files -----------------------------------------------------------------------------
def test_load_pipeline_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "orders.yaml"
    path.write_text(ORDERS_OML, "utf-8")
    assert load_pipeline(path, env={}).slug == "orders-by-country"


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nsteps: [\n", "utf-8")
    with pytest.raises(PipelineError, match=r"^p\.yaml: not valid YAML at line 3"):
        load_pipeline(path, display="p.yaml", env={})


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(ORDERS_OML + "name: other\n", "utf-8")
    with pytest.raises(PipelineError, match="key 'name' appears twice"):
        load_pipeline(path, env={})


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", "utf-8")
    with pytest.raises(PipelineError, match="the top level must be a mapping, not empty"):
        load_pipeline(path, env={})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no such pipeline file"):
        load_pipeline(tmp_path / "nope.yaml", env={})


def test_dates_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "dated.yaml"
    path.write_text(ORDERS_OML + "metadata: {since: 2025-01-31}\n", "utf-8")
    assert load_pipeline(path, env={}).metadata == {"since": "2025-01-31"}


def test_every_problem_names_its_line(tmp_path: Path) -> None:
    oml = tmp_path / "bad.yaml"
    oml.write_text(
        'oml_version: "0.1.0"\n'
        "name: bad\n"
        "steps:\n"
        "  - id: extract\n"
        "    component: filesystem.csv_extractr\n"
        "    mode: read\n"
        "    config: {path: data/orders.csv}\n"
        "  - id: agg\n"
        "    component: duckdb.processor\n"
        "    mode: transform\n"
        "    config:\n"
        "      qurey: SELECT 1\n"
        "  - id: write\n"
        "    component: filesystem.csv_writer\n"
        "    mode: write\n"
        "    config: {}\n",
        "utf-8",
    )
    with pytest.raises(PipelineError) as caught:
        load_pipeline(oml, display="pipelines/bad.yaml")
    assert [line.split(" (hint")[0] for line in caught.value.lines()] == [
        "pipelines/bad.yaml:5: steps[0] (extract): component: unknown component "
        "'filesystem.csv_extractr'",
        "pipelines/bad.yaml:12: steps[1] (agg): config.qurey: unknown key",
        # A missing key is at its section's line.
        "pipelines/bad.yaml:16: steps[2] (write): config.path: required key missing",
    ]
