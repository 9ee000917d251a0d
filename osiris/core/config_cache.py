"""A per-user cache of `osiris.yaml` work, so that commands skip PyYAML and pydantic.

Importing PyYAML costs ~20 ms (its reader compiles a large Unicode pattern), and validating
with pydantic ~90 ms (its import and the validator it builds): together as much as the
whole of `osiris runs list`, and a third of a small `osiris run`. Two kinds of entries:

- parsed: for one config file, its exact text and what `yaml.safe_load` made of it, used
  only for that same file, that same text and that same PyYAML installation;
- validated: for one input (the file's keys merged with environment and flags, as JSON
  text), what validating it gave, used only for that same input, the same rules
  (`config_model`, `config_file`) and the same pydantic installation.

A hit gives exactly what the work gives. Only data that JSON stores exactly is cached
(mappings with string keys, lists, strings, numbers, booleans, null, no node shared
through a YAML alias); a date, a set or a non-string key is worked out each time.

Entries live in `$XDG_CACHE_HOME/osiris/config` (default `~/.cache/osiris/config`), never
inside the project: a cache folder there is not used. Any problem with the cache (missing,
damaged, not writable) only means doing the work as before.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FORMAT = 1
_SCALARS = (str, int, float, bool, type(None))


def cache_dir(env: Mapping[str, str] | None = None) -> Path | None:
    """Where entries live; None when there is no home folder to hold them."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "osiris" / "config"


def _entry_path(folder: Path, name: str) -> Path:
    import zlib

    return folder / f"{zlib.crc32(os.fsencode(name)):08x}.json"


def _stamp(*modules: str) -> str | None:
    """Which installed files would do the work (each module's location and the state of
    its file), without importing them; None when one cannot be found."""
    from importlib.util import find_spec

    parts = []
    for module in modules:
        try:
            spec = find_spec(module)
            origin = spec.origin if spec else None
            if origin is None:
                return None
            info = os.stat(origin)
        except (ImportError, ValueError, OSError):
            return None
        parts.append(f"{origin}:{info.st_size}:{info.st_mtime_ns}")
    return ";".join(parts)


def _parser_stamp() -> str | None:
    return _stamp("yaml")


def _rules_stamp() -> str | None:
    return _stamp(
        "osiris.core.config_model", "osiris.core.config_file", "pydantic", "pydantic_core"
    )


def _read(path: Path, key: dict[str, Any]) -> Any:
    """The data of the entry at `path` when it was stored under exactly `key`, else None."""
    try:
        with open(path, encoding="utf-8") as handle:
            entry = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("data"), dict):
        return None
    if any(entry.get(name) != value for name, value in key.items()):
        return None
    return entry["data"]


def _write(path: Path, key: dict[str, Any], data: dict[str, Any], project: str | None) -> None:
    if not exact_in_json(data):
        return
    if project and os.path.commonpath([project, os.path.abspath(path)]) == project:
        return  # never write inside the project
    try:
        payload = json.dumps({**key, "data": data}, ensure_ascii=True).encode("ascii")
    except (ValueError, RecursionError):
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(tmp, flags, 0o600), "wb") as handle:
            handle.write(payload)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _parsed_key(config_file: Path, text: str) -> tuple[Path, dict[str, Any]] | None:
    folder = cache_dir()
    stamp = _parser_stamp()
    if folder is None or stamp is None:
        return None
    name = os.path.abspath(config_file)
    key = {"format": FORMAT, "file": name, "parser": stamp, "text": text}
    return _entry_path(folder, name), key


def load(config_file: Path, text: str) -> dict[str, Any] | None:
    """What `store` kept for this file with exactly this text; None on a miss."""
    found = _parsed_key(config_file, text)
    return None if found is None else _read(*found)


def store(config_file: Path, text: str, data: dict[str, Any]) -> None:
    """Keep `data`, parsed from `text`, for `load`; silently skipped when it cannot be kept."""
    found = _parsed_key(config_file, text)
    if found is not None:
        _write(*found, data, project=os.path.dirname(found[1]["file"]))


def _validated_key(merged: dict[str, Any]) -> tuple[Path, dict[str, Any]] | None:
    folder = cache_dir()
    if folder is None or not exact_in_json(merged):
        return None
    stamp = _rules_stamp()
    if stamp is None:
        return None
    try:
        text = json.dumps(merged, ensure_ascii=True)
    except (ValueError, RecursionError):
        return None
    key = {"format": FORMAT, "rules": stamp, "input": text}
    return _entry_path(folder, f"validated:{text}"), key


def load_validated(merged: dict[str, Any]) -> dict[str, Any] | None:
    """What `store_validated` kept for exactly this input; None on a miss."""
    found = _validated_key(merged)
    return None if found is None else _read(*found)


def store_validated(merged: dict[str, Any], config: dict[str, Any]) -> None:
    """Keep `config`, what validating `merged` gave, for `load_validated`."""
    found = _validated_key(merged)
    if found is not None:
        _write(*found, config, project=None)


def exact_in_json(value: Any) -> bool:
    """True when `json.loads(json.dumps(value))` gives back `value` exactly: the same types,
    values and key order, and no object reached twice (which JSON would copy)."""
    seen: set[int] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            if kind is float and not math.isfinite(item):
                return False
            continue
        if kind is not dict and kind is not list:
            return False
        if id(item) in seen:
            return False
        seen.add(id(item))
        if kind is dict:
            if not all(type(k) is str for k in item):
                return False
            stack.extend(item.values())
        else:
            stack.extend(item)
    return True
