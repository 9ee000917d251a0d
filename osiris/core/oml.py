"""OML v0.1.0 (pipeline.md): read, validate and resolve a pipeline source file.

Every problem is one `PipelineError` naming the file, the step and the key, e.g.
`pipelines/x.yaml: steps[1] (aggregate): config.query: required key missing`.
The checks of each step are in `oml_steps`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from osiris.core import yaml_load
from osiris.core.connections import Connections
from osiris.core.fs_paths import slugify

# The step checks moved to `oml_steps`; the `x as x` imports keep each moved name
# importable from here.
from osiris.core.oml_steps import _FALSE as _FALSE
from osiris.core.oml_steps import _MISSING, PARAM_ENV_PREFIX, OmlStep, _StepChecker
from osiris.core.oml_steps import _PARAM_REF as _PARAM_REF
from osiris.core.oml_steps import _STEP_ID as _STEP_ID
from osiris.core.oml_steps import _TRUE as _TRUE
from osiris.core.oml_steps import MODES as MODES
from osiris.core.oml_steps import STEP_KEYS as STEP_KEYS
from osiris.core.oml_steps import _as_text as _as_text
from osiris.core.oml_steps import _coerce as _coerce
from osiris.core.oml_steps import _did_you_mean as _did_you_mean
from osiris.core.oml_steps import _required as _required
from osiris.core.registry import SPECS, ComponentSpec
from osiris.core.yaml_lines import key_lines, line_of
from osiris.errors import NotFound, PipelineError, PipelineProblems, UsageError

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
PARAM_KEYS = ("default", "description")
# Keys of older or foreign pipeline formats, refused with what to write instead.
REFUSED_KEYS = {
    "version": 'OML is versioned by oml_version, e.g. oml_version: "0.1.0"',
    "connectors": "OML v0.1.0 has no connectors: put connection settings in each step's config",
    "tasks": "OML calls them steps: rename tasks to steps",
    "outputs": "outputs are steps: add a filesystem.csv_writer step",
}
_OML_VERSION = re.compile(r"0\.\d+(\.\d+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


class _Checker(_StepChecker):
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
