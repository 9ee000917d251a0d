"""The checks of each OML step (pipeline.md "Steps"): id, component, mode, needs and config
(with its `${params.x}` placeholders resolved), and the execution order the needs give.

`oml` reads the file and checks the document around the steps (top-level keys, name, params,
profiles); its `_Checker` builds on `_StepChecker` here.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from osiris.core.connections import CONNECTIONS_FILE, REFERENCE_KEY, Connections
from osiris.core.registry import ComponentSpec, family
from osiris.core.secrets import is_env_ref, is_secret_key
from osiris.drivers.base import table_name
from osiris.errors import OsirisError, PipelineError, PipelineProblems

MODES = ("read", "transform", "write")
STEP_KEYS = ("id", "component", "mode", "config", "needs")
PARAM_ENV_PREFIX = "OSIRIS_PARAM_"
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


class _StepChecker:
    """Checks each step of a pipeline; `oml._Checker` adds the document-level checks."""

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
