"""One rule for the profile labels other Osiris versions wrote (compat.legacy_profiles)."""

from __future__ import annotations

import pytest

from osiris.core.fs_config import build_config
from osiris.core.profile_map import ProfileMap
from osiris.errors import ConfigError


def profiles(**compat) -> ProfileMap:
    config, _ = build_config({"compat": compat}, config_file=None, env={})
    return ProfileMap.from_config(config)


def test_default_and_none_map_to_the_default_profile_and_names_to_themselves() -> None:
    found = profiles()
    assert [found.contract(x) for x in (None, "", "default", "prod", "qa")] == [
        "dev",
        "dev",
        "dev",
        "prod",
        "qa",
    ]
    assert found.problem("prod") is None
    assert found.problem("qa") == (
        "profile 'qa' is not one of dev, staging, prod, ml, finance, incident_debug: map it "
        "with compat.legacy_profiles.qa: <profile> in osiris.yaml"
    )


def test_the_map_decides_and_is_shown_in_one_line() -> None:
    found = profiles(legacy_profiles={"default": "staging", "qa": "staging"})
    assert (found.contract(None), found.contract("qa"), found.problem("qa")) == (
        "staging",
        "staging",
        None,
    )
    assert found.describe() == (
        "default (or none) -> staging, qa -> staging, any other name -> the profile of that "
        "name (compat.legacy_profiles)"
    )


def test_profiles_off_drop_every_label() -> None:
    config, _ = build_config(
        {"filesystem": {"profiles": {"enabled": False}}}, config_file=None, env={}
    )
    off = ProfileMap.from_config(config)
    assert (off.contract("prod"), off.problem("qa")) == (None, None)


def test_a_map_to_an_unknown_profile_is_a_config_error() -> None:
    with pytest.raises(
        ConfigError, match=r"compat\.legacy_profiles\.default: Unknown profile 'qa'"
    ):
        profiles(legacy_profiles={"default": "qa"})
