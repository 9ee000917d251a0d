"""OML v0.1.0 (pipeline.md): read, validate and resolve a pipeline source file.

Every problem is one `PipelineError` naming the file, the step and the key, e.g.
`pipelines/x.yaml: steps[1] (aggregate): config.query: required key missing`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from osiris.core import yaml_load
from osiris.core.connections import CONNECTIONS_FILE, REFERENCE_KEY, Connections
from osiris.core.fs_paths import slugify
from osiris.core.registry import SPECS, ComponentSpec, family
from osiris.core.secrets import is_env_ref, is_secret_key
from osiris.core.yaml_lines import key_lines, line_of
from osiris.drivers.base import table_name
from osiris.errors import NotFound, OsirisError, PipelineError, PipelineProblems, UsageError

MODES = ("read", "transform", "write")
TOP_LEVEL_KEYS = (
    "oml_version",
    "name",
    "steps",
    "description",
    "metadata",
    "params",
    "profiles",
    "schedule",
)
STEP_KEYS = ("id", "component", "mode", "config", "needs")
PARAM_KEYS = ("default", "description")
# Keys of older or foreign pipeline formats, refused with what to write instead.
REFUSED_KEYS = {
    "version": 'OML is versioned by oml_version, e.g. oml_version: "0.1.0"',
    "connectors": "OML v0.1.0 has no connectors: put connection settings in each step's config",
    "tasks": "OML calls them steps: rename tasks to steps",
    "outputs": "outputs are steps: add a filesystem.csv_writer step",
}
PARAM_ENV_PREFIX = "OSIRIS_PARAM_"
_OML_VERSION = re.compile(r"0\.\d+(\.\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Upstream step ids may hold dots (`Extract.Orders`); the table is `df_Extract_Orders`.
_STEP_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_PARAM_REF = re.compile(r"\$\{params\.([^}]*)\}")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_MISSING = object()


@dataclass(frozen=True)
class OmlStep:
    """A validated step: params resolved, spec defaults filled, secrets still `${ENV}`."""

    id: str
    component: str
    mode: str
    needs: tuple[str, ...]
    config: dict[str, Any]


@dataclass(frozen=True)
class Pipeline:
    """A validated pipeline for one profile; `steps` are in execution order."""

    name: str
    slug: str
    oml_version: str
    metadata: dict[str, Any]
    params: dict[str, Any]
    steps: tuple[OmlStep, ...]
    document: dict[str, Any]


def parse_param_args(pairs: Iterable[str]) -> dict[str, str]:
    """Parse `--param name=value` arguments; a later value for a name wins."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not _NAME.fullmatch(name.strip()):
            raise UsageError(
                f"--param '{pair}': expected name=value", hint="for example --param min_amount=100"
            )
        params[name.strip()] = value
    return params


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (YAML silently keeps one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' appears twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_oml(path: Path, *, display: str | None = None) -> dict[str, Any]:
    """Parse an OML file into plain JSON-compatible data (dates become ISO strings)."""
    where = display or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound("no such pipeline file", path=where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PipelineError(f"cannot read the file: {exc}", path=where) from None
    try:
        data = yaml_load.load(text, _UniqueKeyLoader)
    except yaml_load.YamlRefused as exc:
        raise PipelineError(
            f"refused: the file {exc}", path=where, hint="pipeline files are plain, small YAML"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None)
        raise PipelineError(
            f"not valid YAML{at}" + (f": {problem}" if problem else ""), path=where
        ) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise PipelineError(
            f"the top level must be a mapping, not {kind}",
            path=where,
            hint="an OML file starts with oml_version, name and steps",
        )
    return _plain(data, where, "")


def _plain(value: Any, where: str, key: str) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v, where, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, where, f"{key}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    raise PipelineError(
        f"unsupported YAML value of type {type(value).__name__}", path=where, key=key
    )


def load_pipeline(
    path: Path,
    *,
    profile: str | None = None,
    cli_params: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    display: str | None = None,
    specs: Mapping[str, ComponentSpec] | None = None,
    connections: Callable[[], Connections | None] | None = None,
) -> Pipeline:
    """Read and validate an OML file, resolving params for `profile`; each problem names
    its line (`pipelines/x.yaml:12: steps[1] (agg): config.query: ...`)."""
    where = display or str(path)
    document = read_oml(path, display=where)
    try:
        return validate_pipeline(
            document,
            where=where,
            profile=profile,
            cli_params=cli_params,
            env=env,
            specs=specs,
            connections=connections,
        )
    except PipelineError as exc:
        _add_lines(exc, Path(path).read_text(encoding="utf-8"), where)
        raise


def _add_lines(error: PipelineError, text: str, where: str) -> None:
    lines = key_lines(text)
    for problem in getattr(error, "problems", [error]):
        line = line_of(lines, problem.key) if problem.key else None
        if line is not None and problem.path == where:
            problem.path = f"{where}:{line}"
    if isinstance(error, PipelineProblems):
        error.path = error.problems[0].path


def validate_pipeline(
    document: Mapping[str, Any],
    *,
    where: str,
    profile: str | None = None,
    cli_params: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    specs: Mapping[str, ComponentSpec] | None = None,
    connections: Callable[[], Connections | None] | None = None,
) -> Pipeline:
    """Validate parsed OML and resolve its params (precedence: pipeline.md "Params").

    `connections` gives the project's named connections when a step names one (None: no
    step may)."""
    check = _Checker(where, specs if specs is not None else SPECS, connections)
    return check.pipeline(
        dict(document), profile, dict(cli_params or {}), os.environ if env is None else env
    )


class _Checker:
    def __init__(
        self,
        where: str,
        specs: Mapping[str, ComponentSpec],
        connections: Callable[[], Connections | None] | None = None,
    ) -> None:
        self.where = where
        self.specs = specs
        self._connections = connections
        self._loaded: Connections | None = None

    def connection_settings(self, reference: str, key: str) -> set[str]:
        """The setting names the connection `reference` gives (exit 2 when it names none)."""
        if self._loaded is None:
            loaded = self._connections() if self._connections else None
            if loaded is None:
                self.fail(
                    f"names the connection {reference}, but the project has no {CONNECTIONS_FILE}",
                    key,
                    "create it beside osiris.yaml (see docs/connections.md)",
                )
            self._loaded = loaded
        try:
            return set(self._loaded.find(reference).settings())
        except OsirisError as exc:
            self.fail(exc.message, key, exc.hint)

    def fail(self, message: str, key: str | None = None, hint: str | None = None) -> NoReturn:
        raise PipelineError(message, path=self.where, key=key, hint=hint)

    @staticmethod
    def collect(check: Callable[..., Any], *args: Any) -> list[PipelineError]:
        """The problem `check(*args)` raises, as a list (empty when there is none)."""
        try:
            check(*args)
        except PipelineError as exc:
            return [exc]
        return []

    def pipeline(
        self,
        doc: dict[str, Any],
        profile: str | None,
        cli_params: dict[str, str],
        env: Mapping[str, str],
    ) -> Pipeline:
        for key in doc:
            if key in REFUSED_KEYS:
                self.fail("not an OML v0.1.0 key", key, REFUSED_KEYS[key])
            if key not in TOP_LEVEL_KEYS:
                self.fail("unknown key", key, f"OML keys: {', '.join(TOP_LEVEL_KEYS)}")
        oml_version = self.oml_version(doc)
        name = doc.get("name")
        if not isinstance(name, str) or not slugify(name):
            self.fail(
                "required key missing" if name is None else "must be a name with letters or digits",
                "name",
                "for example name: orders-by-country",
            )
        if not isinstance(doc.get("description", ""), str):
            self.fail("must be a string", "description")
        metadata = doc.get("metadata") or {}
        if not isinstance(metadata, dict):
            self.fail("must be a mapping", "metadata")
        params = self.params(doc, profile, cli_params, env)
        steps = self.steps(doc, params)
        return Pipeline(
            name=name,
            slug=slugify(name),
            oml_version=oml_version,
            metadata=metadata,
            params={k: v for k, v in params.items() if v is not _MISSING},
            steps=steps,
            document=doc,
        )

    def oml_version(self, doc: dict[str, Any]) -> str:
        value = doc.get("oml_version")
        hint = 'write oml_version: "0.1.0" (quoted)'
        if value is None:
            self.fail("required key missing", "oml_version", hint)
        if not isinstance(value, str):
            self.fail(f"must be a quoted string, not {value!r}", "oml_version", hint)
        if not _OML_VERSION.fullmatch(value):
            self.fail(f"unsupported version '{value}': this Osiris reads 0.x", "oml_version", hint)
        return value

    # -- params ----------------------------------------------------------------------------
    def params(
        self,
        doc: dict[str, Any],
        profile: str | None,
        cli_params: dict[str, str],
        env: Mapping[str, str],
    ) -> dict[str, Any]:
        declared = doc.get("params") or {}
        if not isinstance(declared, dict):
            self.fail("must be a mapping of name -> {default: value}", "params")
        values: dict[str, Any] = {}
        for name, spec in declared.items():
            if not _NAME.fullmatch(name):
                self.fail("a param name uses letters, digits and _ only", f"params.{name}")
            if isinstance(spec, dict):
                for key in spec:
                    if key not in PARAM_KEYS:
                        self.fail("unknown key", f"params.{name}.{key}", "use default, description")
                spec = spec.get("default")
            # `min_amount: 0` is shorthand for `min_amount: {default: 0}`; null: no default.
            values[name] = _MISSING if spec is None else spec
        known = list(declared)
        for name in values:
            env_name = PARAM_ENV_PREFIX + name.upper()
            if env_name in env:
                values[name] = env[env_name]
        values.update(self.profile_params(doc, profile, known))
        for name, value in cli_params.items():
            if name not in values:
                raise UsageError(
                    f"--param {name}: not a param of this pipeline",
                    path=self.where,
                    hint=", ".join(known) or "none declared",
                )
            values[name] = value
        return values

    def profile_params(
        self, doc: dict[str, Any], profile: str | None, known: list[str]
    ) -> dict[str, Any]:
        profiles = doc.get("profiles") or {}
        if not isinstance(profiles, dict):
            self.fail("must be a mapping of profile -> {params: {...}}", "profiles")
        for name, body in profiles.items():
            if not isinstance(body, dict):
                self.fail("must be a mapping like {params: {...}}", f"profiles.{name}")
            for key in body:
                if key != "params":
                    self.fail("unknown key", f"profiles.{name}.{key}", "a profile has params only")
            params = body.get("params") or {}
            if not isinstance(params, dict):
                self.fail("must be a mapping", f"profiles.{name}.params")
            for param in params:
                if param not in known:
                    self.fail(
                        "not a declared param",
                        f"profiles.{name}.params.{param}",
                        ", ".join(known) or "none declared",
                    )
        if profile is None or profile not in profiles:
            return {}
        return profiles[profile].get("params") or {}

    # -- steps -----------------------------------------------------------------------------
    def steps(self, doc: dict[str, Any], params: dict[str, Any]) -> tuple[OmlStep, ...]:
        raw_steps = doc.get("steps")
        if raw_steps is None:
            self.fail("required key missing", "steps", "list the steps: id, component, mode")
        if not isinstance(raw_steps, list) or not raw_steps:
            self.fail("must be a non-empty list of steps", "steps")
        ids = self.step_ids(raw_steps)
        steps: list[OmlStep] = []
        problems: list[PipelineError] = []
        for index, raw in enumerate(raw_steps):
            # Every step is checked, so one compile reports all of a pipeline's problems.
            try:
                steps.append(self.step(index, raw, ids, params))
            except PipelineError as exc:
                problems.append(exc)
        if problems:
            raise problems[0] if len(problems) == 1 else PipelineProblems(problems)
        return self.execution_order(steps)

    def step_ids(self, raw_steps: list[Any]) -> list[str]:
        ids: list[str] = []
        tables: dict[str, str] = {}
        for index, raw in enumerate(raw_steps):
            where = f"steps[{index}]"
            if not isinstance(raw, dict):
                self.fail("must be a mapping with id, component, mode and config", where)
            step_id = raw.get("id")
            if step_id is None:
                self.fail("required key missing", f"{where}: id")
            if not isinstance(step_id, str) or not _STEP_ID.fullmatch(step_id):
                self.fail(
                    f"{step_id!r} is not a valid step id",
                    f"{where}: id",
                    "letters, digits, - and _, starting with a letter or digit",
                )
            if step_id in ids:
                self.fail(f"duplicate step id '{step_id}'", f"{where} ({step_id}): id")
            # Two ids with one table name (or one cfg file on a case-blind disk) would collide.
            clash_key = table_name(step_id).lower()
            if clash_key in tables:
                self.fail(
                    f"clashes with step '{tables[clash_key]}' (same table {table_name(step_id)})",
                    f"{where} ({step_id}): id",
                    "give the steps clearly different ids",
                )
            tables[clash_key] = step_id
            ids.append(step_id)
        return ids

    def step(
        self, index: int, raw: dict[str, Any], ids: list[str], params: dict[str, Any]
    ) -> OmlStep:
        step_id = ids[index]
        where = f"steps[{index}] ({step_id})"
        for key in raw:
            if key not in STEP_KEYS:
                self.fail("unknown key", f"{where}: {key}", _did_you_mean(key, STEP_KEYS))
        component = raw.get("component")
        if not isinstance(component, str) or not component:
            self.fail("required key missing", f"{where}: component")
        spec = self.specs.get(component)
        if spec is None:
            self.fail(
                f"unknown component '{component}'",
                f"{where}: component",
                _did_you_mean(component, sorted(self.specs), "see osiris components list"),
            )
        mode = raw.get("mode")
        if mode is None:
            self.fail(
                "required key missing",
                f"{where}: mode",
                f"{component} supports: {', '.join(spec.modes)}",
            )
        if mode not in MODES:
            self.fail(f"unknown mode {mode!r}", f"{where}: mode", _did_you_mean(str(mode), MODES))
        if mode not in spec.modes:
            self.fail(
                f"{component} does not support mode '{mode}'",
                f"{where}: mode",
                f"supported: {', '.join(spec.modes)}",
            )
        needs = self.needs(index, raw, ids, where)
        if spec.upstream is not None and len(needs) != spec.upstream:
            self.fail(
                f"{component} reads exactly {spec.upstream} upstream step(s), got {len(needs)}",
                f"{where}: needs",
            )
        config = self.config(raw, spec, params, where)
        return OmlStep(id=step_id, component=component, mode=mode, needs=needs, config=config)

    def needs(self, index: int, raw: dict[str, Any], ids: list[str], where: str) -> tuple[str, ...]:
        if "needs" not in raw:
            return (ids[index - 1],) if index else ()  # pipeline.md: default is the previous step
        needs = raw["needs"]
        if isinstance(needs, str):
            needs = [needs]
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            self.fail("must be a list of step ids", f"{where}: needs")
        for need in needs:
            if need not in ids:
                self.fail(f"unknown step '{need}'", f"{where}: needs", f"steps: {', '.join(ids)}")
            if need == ids[index]:
                self.fail(f"cycle: {need} -> {need}", f"{where}: needs")
        if len(set(needs)) != len(needs):
            self.fail("lists a step twice", f"{where}: needs")
        return tuple(needs)

    def execution_order(self, steps: list[OmlStep]) -> tuple[OmlStep, ...]:
        # Stable topological order: always the earliest step in the file whose needs are done.
        done: set[str] = set()
        ordered: list[OmlStep] = []
        pending = list(steps)
        while pending:
            ready = next((s for s in pending if set(s.needs) <= done), None)
            if ready is None:
                cycle = self.cycle(pending)
                first = next(i for i, s in enumerate(steps) if s.id == cycle[0])
                self.fail(f"cycle: {' -> '.join(cycle)}", f"steps[{first}] ({cycle[0]}): needs")
            ordered.append(ready)
            done.add(ready.id)
            pending.remove(ready)
        return tuple(ordered)

    @staticmethod
    def cycle(pending: list[OmlStep]) -> list[str]:
        order = {s.id: i for i, s in enumerate(pending)}
        by_id = {s.id: s for s in pending}
        path = [pending[0].id]
        while True:
            following = next(n for n in by_id[path[-1]].needs if n in by_id)
            if following in path:
                loop = path[path.index(following) :]
                start = min(range(len(loop)), key=lambda i: order[loop[i]])
                loop = loop[start:] + loop[:start]
                return [*loop, loop[0]]
            path.append(following)

    # -- config ----------------------------------------------------------------------------
    def config(
        self, raw: dict[str, Any], spec: ComponentSpec, params: dict[str, Any], where: str
    ) -> dict[str, Any]:
        config = raw.get("config", {})
        if config is None:
            config = {}
        if not isinstance(config, dict):
            self.fail("must be a mapping", f"{where}: config")
        problems = self.collect(self.literal_secrets, config, f"{where}: config")
        for key in config:
            if key not in spec.config:
                accepted = f"{spec.name} accepts: {', '.join(spec.config)}"
                problems += self.collect(
                    self.fail,
                    "unknown key",
                    f"{where}: config.{key}",
                    _did_you_mean(key, list(spec.config), accepted),
                )
        if problems:
            raise problems[0] if len(problems) == 1 else PipelineProblems(problems)
        resolved: dict[str, Any] = {}
        for key, value in config.items():
            resolved[key] = self.substitute(value, params, f"{where}: config.{key}")
        given = set(resolved)
        reference = resolved.get(REFERENCE_KEY)
        if isinstance(reference, str) and spec.config.get(REFERENCE_KEY) is not None:
            problem = spec.config[REFERENCE_KEY].problem(reference)
            if problem:
                self.fail(problem, f"{where}: config.{REFERENCE_KEY}")
            wanted = family(spec.name)
            if reference.strip().split(".", 1)[0] != f"@{wanted}":
                self.fail(
                    f"{spec.name} takes a {wanted} connection, not {reference}",
                    f"{where}: config.{REFERENCE_KEY}",
                    f'name one of your {wanted} connections: "@{wanted}.<alias>"',
                )
            supplied = self.connection_settings(reference, f"{where}: config.{REFERENCE_KEY}")
            given |= supplied & set(spec.connection_keys)
        for key in spec.settings_required:
            if key not in given:
                self.fail(
                    "required key missing",
                    f"{where}: config.{key}",
                    f'name a connection (connection: "@{spec.name.split(".")[0]}.<alias>") '
                    f"or give {', '.join(spec.settings_required)}",
                )
        if spec.one_of and sum(k in given for k in spec.one_of) != 1:
            self.fail(
                f"give exactly one of {', '.join(spec.one_of)}",
                f"{where}: config",
                f"for example {spec.one_of[0]}: ...",
            )
        for key, key_spec in spec.config.items():
            if key_spec.required and key not in resolved:
                problems += self.collect(
                    self.fail,
                    "required key missing",
                    f"{where}: config.{key}",
                    f"{spec.name} needs: {', '.join(_required(spec))}",
                )
            if key not in resolved:
                continue
            value = resolved[key]
            if isinstance(config[key], str) and _PARAM_REF.fullmatch(config[key]):
                value = _coerce(value, key_spec.type)
                resolved[key] = value
            problem = key_spec.problem(value)
            if problem:
                problems += self.collect(self.fail, problem, f"{where}: config.{key}")
        if problems:
            raise problems[0] if len(problems) == 1 else PipelineProblems(problems)
        return spec.with_defaults(resolved)

    def literal_secrets(self, value: Any, key: str) -> None:
        if isinstance(value, dict):
            for name, child in value.items():
                if is_secret_key(name) and child not in (None, "") and not is_env_ref(child):
                    self.fail(
                        "literal secret in the pipeline file",
                        f"{key}.{name}",
                        f"reference an environment variable instead, e.g. ${{{name.upper()}}}",
                    )
                self.literal_secrets(child, f"{key}.{name}")
        elif isinstance(value, list):
            for i, child in enumerate(value):
                self.literal_secrets(child, f"{key}[{i}]")

    def substitute(self, value: Any, params: dict[str, Any], key: str) -> Any:
        if isinstance(value, dict):
            return {k: self.substitute(v, params, f"{key}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.substitute(v, params, f"{key}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        whole = _PARAM_REF.fullmatch(value)
        if whole:
            return self.param_value(whole.group(1), params, key)
        return _PARAM_REF.sub(lambda m: _as_text(self.param_value(m.group(1), params, key)), value)

    def param_value(self, name: str, params: dict[str, Any], key: str) -> Any:
        if name not in params:
            self.fail(
                f"unresolved placeholder ${{params.{name}}}: no such param",
                key,
                f"declare it under params: (declared: {', '.join(params) or 'none'})",
            )
        value = params[name]
        if value is _MISSING:
            self.fail(
                f"unresolved placeholder ${{params.{name}}}: the param has no value",
                key,
                f"give it a default, set {PARAM_ENV_PREFIX}{name.upper()} or pass --param {name}=",
            )
        return value


def _did_you_mean(name: str, known: Iterable[str], otherwise: str | None = None) -> str:
    """`did you mean 'x'?` for a misspelt name, else `otherwise` (or the known names)."""
    known = list(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return otherwise or f"known: {', '.join(known)}"


def _required(spec: ComponentSpec) -> list[str]:
    return [key for key, key_spec in spec.config.items() if key_spec.required]


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _coerce(value: Any, type_name: str) -> Any:
    # Env and --param values are strings; a whole-value placeholder may feed a bool/int key.
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    if type_name == "bool" and text in _TRUE + _FALSE:
        return text in _TRUE
    if type_name == "int" and re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    return value
