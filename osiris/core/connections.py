"""`osiris_connections.yaml`: named connections that pipeline steps refer to (`@family.alias`).

The format is upstream's, so its projects work unchanged:

    version: 1
    connections:
      mysql:
        shop:
          default: true          # `@mysql` means this one
          host: ${MYSQL_HOST}    # from the environment, else from the project's `.env`
          password: ${MYSQL_PASSWORD}

A step names a connection in its config (`connection: "@mysql.shop"`); builds keep that
reference and the runner resolves it, so no secret ever reaches a build, a log, an AIOP or
`--json` output. The file is read only when a pipeline names a connection, or by
`osiris connections`.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from osiris.core import yaml_load
from osiris.core.registry import connection_fields
from osiris.core.secrets import ENV_REF, is_secret_key, mask
from osiris.errors import ConfigError

CONNECTIONS_FILE = "osiris_connections.yaml"
ENV_FILE = ".env"
REFERENCE_KEY = "connection"
# Keys that describe the connection entry itself, not how to connect.
META_KEYS = frozenset({"default", "description", "alias"})
_REFERENCE = re.compile(r"@(?P<family>[A-Za-z0-9_-]+)(?:\.(?P<alias>[A-Za-z0-9_.-]+))?")
_HINT = f"define it in {CONNECTIONS_FILE} under connections: <family>: <alias>:"


def is_reference(value: Any) -> bool:
    """True for a `@family` or `@family.alias` string."""
    return isinstance(value, str) and _REFERENCE.fullmatch(value.strip()) is not None


@dataclass(frozen=True)
class Connection:
    """One named connection as written (values may still hold `${VAR}` references)."""

    family: str
    alias: str
    fields: Mapping[str, Any]
    default: bool = False

    @property
    def reference(self) -> str:
        return f"@{self.family}.{self.alias}"

    def settings(self) -> dict[str, Any]:
        """How to connect: the fields without the entry's own keys (`default`, ...)."""
        return {k: v for k, v in self.fields.items() if k not in META_KEYS}

    def masked(self) -> dict[str, Any]:
        """The settings with every secret masked (as `osiris connections list` shows them)."""
        return mask(self.settings())


@dataclass(frozen=True)
class Connections:
    """Every connection of a project, and where they and their variables come from."""

    path: Path
    families: Mapping[str, Mapping[str, Connection]] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # the process env over `.env`

    def all(self) -> list[Connection]:
        return [c for family in self.families.values() for c in family.values()]

    def find(self, reference: str, *, where: str | None = None) -> Connection:
        """The connection `@family.alias` (or `@family`: its default) names."""
        found = _REFERENCE.fullmatch(reference.strip())
        if found is None:
            raise ConfigError(
                f"'{reference}' is not a connection reference",
                path=where,
                key=REFERENCE_KEY,
                hint="write @family.alias, for example @mysql.shop",
            )
        family, alias = found["family"], found["alias"]
        aliases = self.families.get(family)
        if not aliases:
            known = ", ".join(sorted(self.families)) or "none"
            raise ConfigError(
                f"no connection family '{family}' in {self.path.name} (families: {known})",
                path=where,
                key=REFERENCE_KEY,
                hint=_HINT,
            )
        if alias is None:
            return self.check(self._default(family, aliases, where))
        if alias not in aliases:
            raise ConfigError(
                f"no connection '{alias}' in family '{family}' of {self.path.name} "
                f"(aliases: {', '.join(sorted(aliases))})",
                path=where,
                key=REFERENCE_KEY,
                hint=_HINT,
            )
        return self.check(aliases[alias])

    def check(self, connection: Connection) -> Connection:
        """`connection`, once every field is known to its family and of the right type (a
        `${VAR}` value is checked when it is filled in)."""
        for key, value in connection.settings().items():
            if not (isinstance(value, str) and ENV_REF.search(value)):
                self._check_field(connection, key, value)
        return connection

    def _check_field(self, connection: Connection, key: str, value: Any) -> None:
        fields = connection_fields(connection.family)
        if fields is None:
            return  # a family no component reads: nothing to check it against
        where = f"connections.{connection.family}.{connection.alias}.{key}"
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"did you mean '{close[0]}'?" if close else None
            raise ConfigError(
                f"unknown field for a {connection.family} connection",
                path=self.path,
                key=where,
                hint=hint or f"{connection.family} connections take: {', '.join(sorted(fields))}",
            )
        problem = fields[key].problem(value)
        if problem:
            raise ConfigError(problem, path=self.path, key=where)

    def _default(
        self, family: str, aliases: Mapping[str, Connection], where: str | None
    ) -> Connection:
        defaults = [c for c in aliases.values() if c.default]
        if len(defaults) == 1:
            return defaults[0]
        if not defaults and len(aliases) == 1:
            return next(iter(aliases.values()))
        problem = "several defaults" if defaults else "no default"
        raise ConfigError(
            f"'@{family}' names the default connection of '{family}', which has {problem}",
            path=where,
            key=REFERENCE_KEY,
            hint=f"name one: @{family}.<alias>, or mark one alias `default: true`",
        )

    def resolve(self, connection: Connection) -> dict[str, Any]:
        """The connection's settings with every `${VAR}` filled in; a missing one is an error
        naming the file and the key."""
        filled = {
            key: self._fill(value, f"connections.{connection.family}.{connection.alias}.{key}")
            for key, value in connection.settings().items()
        }
        for key, value in filled.items():
            self._check_field(connection, key, value)
        return filled

    def _fill(self, value: Any, key: str) -> Any:
        if isinstance(value, Mapping):
            return {k: self._fill(v, f"{key}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self._fill(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value

        def variable(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.env:
                raise ConfigError(
                    f"environment variable {name} is not set",
                    path=self.path,
                    key=key,
                    hint=f"export {name}=... or add it to {ENV_FILE} beside {CONNECTIONS_FILE}",
                )
            return self.env[name]

        filled = ENV_REF.sub(variable, value)
        # A port read from the environment is a number, as it would be written in the file.
        if key.endswith(".port") and filled != value and filled.isdigit():
            return int(filled)
        return filled

    def unset_variables(self, connection: Connection) -> list[str]:
        """The `${VAR}`s of `connection` that neither the environment nor `.env` sets."""
        names = ENV_REF.findall(repr(connection.settings()))
        return sorted({name for name in names if name not in self.env})

    def secrets(self) -> set[str]:
        """The values that fill the `${VAR}`s of secret fields (`password`, `key`, ...), to
        redact them from errors; a host or a user read from the environment is no secret."""
        names = {
            name
            for connection in self.all()
            for key, value in connection.settings().items()
            if is_secret_key(str(key))
            for name in ENV_REF.findall(repr(value))
        }
        return {self.env[n] for n in names if self.env.get(n)}


def load_connections(
    project_dir: Path, *, env: Mapping[str, str] | None = None, required: bool = True
) -> Connections | None:
    """Read the project's `osiris_connections.yaml` (and its `.env`); None when there is
    none and it is not `required`."""
    path = Path(project_dir) / CONNECTIONS_FILE
    if not path.is_file():
        if not required:
            return None
        raise ConfigError(
            f"no {CONNECTIONS_FILE} in {Path(project_dir)}",
            key=REFERENCE_KEY,
            hint="create it: version: 1, then connections: <family>: <alias>: {...}",
        )
    data = _read(path)
    merged = {**_dotenv(Path(project_dir) / ENV_FILE), **(os.environ if env is None else env)}
    return Connections(path=path, families=_families(data, path), env=merged)


def _read(path: Path) -> Mapping[str, Any]:
    try:
        data = yaml_load.load(path.read_text(encoding="utf-8"))
    except yaml_load.YamlRefused as exc:
        raise ConfigError(f"refused: the file {exc}", path=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the file: {exc}", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"not valid YAML{at}", path=path) from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError("the top level must be a mapping", path=path, hint=_HINT)
    return data


def _families(data: Mapping[str, Any], path: Path) -> dict[str, dict[str, Connection]]:
    connections = data.get("connections") or {}
    if not isinstance(connections, Mapping):
        raise ConfigError("must be a mapping of families", path=path, key="connections")
    families: dict[str, dict[str, Connection]] = {}
    for family, aliases in connections.items():
        key = f"connections.{family}"
        if not isinstance(aliases, Mapping):
            raise ConfigError("must be a mapping of aliases", path=path, key=key, hint=_HINT)
        found = {}
        for alias, fields in aliases.items():
            if not isinstance(fields, Mapping):
                raise ConfigError(
                    "must be a mapping of settings", path=path, key=f"{key}.{alias}", hint=_HINT
                )
            default = fields.get("default", False)
            if not isinstance(default, bool):
                raise ConfigError(
                    f"must be true or false, got {default!r}",
                    path=path,
                    key=f"{key}.{alias}.default",
                )
            found[str(alias)] = Connection(str(family), str(alias), dict(fields), default)
        families[str(family)] = found
    return families


def _dotenv(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    from dotenv import dotenv_values  # python-dotenv: quoting, `export`, comments

    return {k: v for k, v in dotenv_values(path).items() if v is not None}
