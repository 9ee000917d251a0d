"""Secret keys, masking and run-time `${ENV_VAR}` resolution."""

from __future__ import annotations

import pytest

from osiris.core.secrets import MASK, is_env_ref, is_secret_key, mask, resolve_env_refs
from osiris.errors import OsirisError


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "PASSWORD",
        "db_password",
        "token",
        "access_token",
        "api_key",
        "key",
        "secret",
        "dsn",
        "connection_string",
        "private_key",
        "aws-secret-key",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["path", "primary_key", "sort_key", "keys", "tokenizer", "query"])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_env_ref_is_exactly_one_reference() -> None:
    assert is_env_ref("${DB_PASSWORD}")
    assert not is_env_ref("x${DB_PASSWORD}")
    assert not is_env_ref("${params.x}")
    assert not is_env_ref(3)


def test_mask_is_a_deep_copy_with_secrets_replaced() -> None:
    config = {"path": "a.csv", "auth": {"password": "p", "user": "u"}, "tokens": [{"token": "t"}]}
    masked = mask(config)
    assert masked == {
        "path": "a.csv",
        "auth": {"password": MASK, "user": "u"},
        "tokens": [{"token": MASK}],
    }
    assert config["auth"]["password"] == "p"


def test_mask_scrubs_secrets_inside_text() -> None:
    text = "connect postgres://bob:s3cret@db:5432/x failed; password=hunter2 token: abc"
    assert mask(text) == (
        f"connect postgres://bob:{MASK}@db:5432/x failed; password={MASK} token: {MASK}"
    )
    assert mask("path=data/orders.csv") == "path=data/orders.csv"


def test_resolve_env_refs_replaces_every_reference() -> None:
    config = {"dsn": "${DSN}", "nested": ["${A}-${B}", 3], "query": "SELECT 1"}
    env = {"DSN": "pg://x", "A": "1", "B": "2"}
    assert resolve_env_refs(config, env) == {
        "dsn": "pg://x",
        "nested": ["1-2", 3],
        "query": "SELECT 1",
    }


def test_a_missing_env_var_names_the_step_key_and_variable() -> None:
    with pytest.raises(OsirisError) as info:
        resolve_env_refs({"auth": {"password": "${DB_PASSWORD}"}}, {}, step_id="extract")
    assert info.value.exit_code == 2
    assert info.value.one_line() == (
        "step extract: config.auth.password: environment variable DB_PASSWORD is not set "
        "(hint: export DB_PASSWORD=... before running)"
    )


def test_env_ref_values_and_redact_hide_resolved_secrets():
    from osiris.core.secrets import env_ref_values, redact

    config = {"query": "SELECT * FROM t WHERE k = '${API_TOKEN}'", "nested": ["${USER_NAME}"]}
    env = {"API_TOKEN": "s3cr3t-value", "USER_NAME": "alice", "OTHER": "unused"}
    values = env_ref_values(config, env)
    assert values == {"s3cr3t-value", "alice"}
    text = "Binder Error: column s3cr3t-value not found (user alice)"
    assert redact(text, values) == "Binder Error: column ***MASKED*** not found (user ***MASKED***)"
