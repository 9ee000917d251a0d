"""Secrets in pipeline config: which keys hold them, masking, and `${ENV_VAR}` resolution."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from osiris.errors import OsirisError

MASK = "***MASKED***"
SECRET_KEYS = frozenset(
    {"password", "token", "api_key", "secret", "key", "dsn", "connection_string"}
)
# `key` alone is too common a suffix (`primary_key`, `sort_key`) to match as `*_key`.
_SECRET_SUFFIXES = (
    *(f"_{name}" for name in sorted(SECRET_KEYS - {"key"})),
    "_access_key",
    "_private_key",
    "_secret_key",
    "_service_key",
    "_anon_key",
)
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ONLY_ENV_REF = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
# `scheme://user:password@host` inside any string (DSNs in error messages).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]+:)[^@\s]+(?=@)")
# `password=...`, `"token": "..."` and the like inside free text.
_KEY_VALUE = re.compile(
    r"(?P<head>[\"']?(?P<key>[A-Za-z_][A-Za-z0-9_]*)[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"',;&})]+)"
)


def is_secret_key(key: str) -> bool:
    """True when a config key names a secret (`password`, `db_password`, `api_key`, ...)."""
    normalized = key.strip().lower().replace("-", "_")
    return normalized in SECRET_KEYS or f"_{normalized}".endswith(_SECRET_SUFFIXES)


def is_env_ref(value: Any) -> bool:
    """True when `value` is exactly one `${ENV_VAR}` reference (the only allowed secret form)."""
    return isinstance(value, str) and _ONLY_ENV_REF.fullmatch(value.strip()) is not None


def mask(obj: Any) -> Any:
    """A deep copy of `obj` with every secret value replaced by `***MASKED***`."""
    if isinstance(obj, Mapping):
        return {
            k: (MASK if isinstance(k, str) and is_secret_key(k) and v is not None else mask(v))
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return type(obj)(mask(item) for item in obj)
    if isinstance(obj, str):
        return _mask_text(obj)
    return obj


def _mask_text(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)

    def replace(match: re.Match[str]) -> str:
        if is_secret_key(match.group("key")) and not is_env_ref(match.group("value")):
            return match.group("head") + MASK
        return match.group(0)

    return _KEY_VALUE.sub(replace, text)


def resolve_env_refs(config: Any, env: Mapping[str, str], *, step_id: str | None = None) -> Any:
    """A copy of `config` with every `${ENV_VAR}` replaced from `env`; a missing one is an error."""
    return _resolve(config, env, step_id, "config")


def _resolve(value: Any, env: Mapping[str, str], step_id: str | None, where: str) -> Any:
    if isinstance(value, Mapping):
        return {k: _resolve(v, env, step_id, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, env, step_id, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise OsirisError(
                f"environment variable {name} is not set",
                path=f"step {step_id}" if step_id else None,
                key=where,
                hint=f"export {name}=... before running",
            )
        return env[name]

    return ENV_REF.sub(replace, value)


def env_ref_values(config: Any, env: Mapping[str, str]) -> set[str]:
    """The values `${ENV_VAR}` references in `config` resolve to (to redact them from errors)."""
    if isinstance(config, Mapping):
        return set().union(*(env_ref_values(v, env) for v in config.values()))
    if isinstance(config, list):
        return set().union(*(env_ref_values(v, env) for v in config))
    if not isinstance(config, str):
        return set()
    return {env[name] for name in ENV_REF.findall(config) if env.get(name)}


def secret_values(settings: Mapping[str, Any]) -> set[str]:
    """The values of every secret key in `settings` (nested mappings too), to redact."""
    found: set[str] = set()
    for key, value in settings.items():
        if isinstance(value, Mapping):
            found |= secret_values(value)
        elif is_secret_key(str(key)) and isinstance(value, str) and value:
            found.add(value)
    return found


def redact(text: str, values: set[str]) -> str:
    """`text` masked as `mask` does, with every given value replaced by `***MASKED***`."""
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, MASK)
    return _mask_text(text)
