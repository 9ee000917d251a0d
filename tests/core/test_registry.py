"""Component specs, driver lookup and the registry fingerprint."""

from __future__ import annotations

import subprocess
import sys

import pytest

from osiris.core.registry import (
    SPECS,
    ConfigKey,
    available,
    driver_for,
    get_spec,
    registry_fingerprint,
)
from osiris.errors import PipelineError


def test_available_components_are_upstreams_and_postgres() -> None:
    assert available() == [
        "duckdb.processor",
        "filesystem.csv_extractor",
        "filesystem.csv_writer",
        "graphql.extractor",
        "mysql.extractor",
        "mysql.writer",
        "postgres.extractor",
        "postgres.writer",
        "posthog.extractor",
        "supabase.extractor",
        "supabase.writer",
    ]


def test_a_misspelt_component_gets_a_did_you_mean() -> None:
    with pytest.raises(PipelineError) as info:
        get_spec("mysql.extracter")
    assert info.value.one_line() == (
        "unknown component 'mysql.extracter' (hint: did you mean 'mysql.extractor'?)"
    )
    with pytest.raises(PipelineError) as info:
        get_spec("kafka.consumer")
    assert info.value.hint == "see osiris components list"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_spec_has_a_driver(name: str) -> None:
    assert callable(driver_for(name).run)


def test_defaults_fill_only_missing_optional_keys() -> None:
    spec = get_spec("filesystem.csv_writer")
    assert spec.with_defaults({"path": "o.csv", "newline": "crlf"}) == {
        "path": "o.csv",
        "newline": "crlf",
        "delimiter": ",",
        "header": True,
        "encoding": "utf-8",
    }


def test_int_keys_refuse_bools() -> None:
    assert ConfigKey("int").problem(True) == "expected int, got bool True"
    assert ConfigKey("int").problem(3) is None


def test_fingerprint_is_stable_and_tracks_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    first = registry_fingerprint()
    assert first == registry_fingerprint()
    assert first.startswith("sha256:") and len(first) == 71
    monkeypatch.delitem(SPECS, "duckdb.processor")
    assert registry_fingerprint() != first


def test_cli_and_compiler_imports_stay_light() -> None:
    code = (
        "import sys, osiris.cli.main, osiris.cli.compile, osiris.core.compiler; "
        "assert 'duckdb' not in sys.modules, 'duckdb imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
