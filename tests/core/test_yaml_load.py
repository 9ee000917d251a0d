"""Hostile YAML is refused before anything walks it."""

from __future__ import annotations

import pytest
import yaml

from osiris.core.yaml_load import MAX_BYTES, YamlRefused, load


def bomb(levels: int) -> str:
    lines = ["a0: &a0 [lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines)


def test_plain_documents_and_small_aliases_load() -> None:
    assert load("a: &x [1, 2]\nb: *x\n") == {"a": [1, 2], "b": [1, 2]}
    assert load("") is None
    assert load(bomb(3)) is not None  # 1,000 values once expanded


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
def test_an_alias_bomb_is_refused_by_its_expanded_size(loader: type) -> None:
    with pytest.raises(YamlRefused, match="more than 100,000 values once its aliases"):
        load(bomb(10), loader)


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
@pytest.mark.parametrize("depth", [101, 5_000, 50_000])
def test_deep_nesting_is_refused_without_crashing(loader: type, depth: int) -> None:
    # libyaml's own parser would crash the process on 50,000 levels.
    with pytest.raises(YamlRefused, match="nested more than 100 levels"):
        load("[" * depth + "]" * depth, loader)


def test_a_self_referencing_document_is_refused() -> None:
    with pytest.raises(YamlRefused):
        load("a: &a [*a]\n")


def test_a_document_over_the_size_limit_is_refused() -> None:
    with pytest.raises(YamlRefused, match="characters long"):
        load("# " + "x" * MAX_BYTES)
