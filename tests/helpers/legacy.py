"""Builds legacy (0.3) project trees exactly as legacy-layout.md describes them.

Paths are spelled out here from the spec, not taken from `osiris.compat`, so tests of the
reader check it against an independent reading of the spec. Works on a real folder and
on pyfakefs alike (pathlib and os only).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from osiris.compat.legacy_layout import SessionKind

ALL_QUIRKS = frozenset(
    {
        "truncated_jsonl",
        "missing_files",
        "failed_run",
        "failed_compile",
        "interrupted_run",
        "null_profile",
        "default_profile",
        "named_profile",
        "aiop_first_run_names",
        "aiop_session_names",
        "aiop_folders",
        "aiop_gz",
        "latest_cycle",
        "top_level_compiled",
        "compiled_named",
        "unknown_items",
        "debug_log",
        "generic_sessions",
        "same_hash_compiles",
    }
)

# pipeline.id -> the stem of its step ids
PIPELINES = {"orders-etl": "orders", "mysql_to_csv": "movies", "Customers Sync": "customers"}
NAMED_PROFILE = "prod"
_PROFILE_QUIRKS = (("null_profile", None), ("default_profile", "default"))
_BASE_MS = 1_759_838_400_000  # 2025-10-07T12:00:00Z
_SQLITE_HEADER = b"SQLite format 3\x00" + bytes(84)
_EMPTY_ZIP = b"PK\x05\x06" + bytes(18)


@dataclass(frozen=True)
class ExpectedSession:
    """What a correct reader must derive from one `logs/<session_id>/` folder."""

    session_id: str
    kind: SessionKind
    status: str
    started_at: datetime
    pipeline_id: str | None = None
    profile: str | None = None  # legacy null / "default" already read as None
    manifest: dict[str, Any] | None = None
    compiled: dict[str, Any] | None = None  # the manifest as compiled: what the hash is of
    rows_in: int | None = None
    rows_out: int | None = None
    duration_ms: int | None = None


@dataclass(frozen=True)
class ExpectedAiop:
    """One run's AIOP files as written (paths relative to the project root)."""

    session_id: str
    variant: str  # first_run | session_named | folder
    paths: tuple[str, ...]
    gz: bool = False


@dataclass(frozen=True)
class ExpectedTree:
    """A top-level `compiled/` or `compiled/<name>/` tree."""

    rel: str
    pipeline_id: str
    profile: str | None
    manifest: dict[str, Any]


@dataclass(frozen=True)
class LegacyProjectInfo:
    """Everything `make_legacy_project` wrote that a reader should find."""

    root: Path
    quirks: frozenset[str]
    sessions: tuple[ExpectedSession, ...]
    aiops: tuple[ExpectedAiop, ...]
    last_compile: str | None  # the session `logs/.last_compile.json` names
    compiled_trees: tuple[ExpectedTree, ...]
    unknown_items: tuple[str, ...]
    user_outputs: tuple[str, ...]
    damaged: tuple[str, ...]  # files a reader must warn about
    same_hash: tuple[str, ...]  # compile sessions of identical content at different times

    def session(self, session_id: str) -> ExpectedSession:
        return next(s for s in self.sessions if s.session_id == session_id)

    def of_kind(self, kind: SessionKind) -> list[ExpectedSession]:
        return [s for s in self.sessions if s.kind is kind]


def _fp(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _normal(profile: str | None) -> str | None:
    return None if profile in (None, "default") else profile


@dataclass
class _Builder:
    root: Path
    rng: random.Random
    quirks: frozenset[str]
    ms: int = _BASE_MS
    sessions: list[ExpectedSession] = field(default_factory=list)
    aiops: list[ExpectedAiop] = field(default_factory=list)
    trees: list[ExpectedTree] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    index_lines: list[dict[str, Any]] = field(default_factory=list)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- writing ------------------------------------------------------------------------
    def write(self, rel: str, data: str | bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            data = data.encode()
        path.write_bytes(data)
        return path

    def write_json(self, rel: str, value: Any, *, indent: int | None = 2) -> None:
        self.write(rel, json.dumps(value, indent=indent) + "\n")

    def write_jsonl(self, rel: str, records: list[dict[str, Any]]) -> None:
        self.write(rel, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))

    def mkdir(self, rel: str) -> None:
        (self.root / rel).mkdir(parents=True, exist_ok=True)

    def tick(self) -> int:
        self.ms += self.rng.randint(30_000, 900_000)
        return self.ms

    @staticmethod
    def moment(ms: int) -> datetime:
        return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)

    def iso(self, ms: int) -> str:
        return self.moment(ms).isoformat()

    def stamped(self, sid: str, start_ms: int, records: list[dict[str, Any]]) -> list[dict]:
        return [
            {"ts": self.iso(start_ms + 100 * i), "session": sid, **record}
            for i, record in enumerate(records)
        ]

    # -- manifests ----------------------------------------------------------------------
    def manifest(self, pipeline_id: str, profile: str | None, sid: str, ms: int) -> dict:
        stem = PIPELINES[pipeline_id]
        extract, write = f"extract-{stem}", f"write-{stem}"
        return {
            "pipeline": {
                "id": pipeline_id,
                "version": "0.1.0",
                "fingerprints": {
                    "oml_fp": _fp(pipeline_id),
                    "registry_fp": _fp("registry"),
                    "compiler_fp": _fp("osiris-compiler/0.3.0"),
                    "params_fp": _fp("{}"),
                    # legacy-layout.md §3: the legacy manifest_fp includes the compile time
                    "manifest_fp": _fp(f"{pipeline_id}/{ms}"),
                    "profile": profile,
                },
            },
            "steps": [
                {
                    "id": extract,
                    "driver": "mysql.extractor",
                    "cfg_path": f"cfg/{extract}.json",
                    "needs": [],
                },
                {
                    "id": write,
                    "driver": "filesystem.csv_writer",
                    "cfg_path": f"cfg/{write}.json",
                    "needs": [extract],
                },
            ],
            "meta": {
                "oml_version": "0.1.0",
                "profile": profile,
                "run_id": sid,
                "generated_at": self.iso(ms),
                "toolchain": {
                    "compiler": "osiris-compiler/0.3.0",
                    "registry": "osiris-registry/0.3.0",
                },
            },
            "name": pipeline_id,
        }

    def tree(self, rel: str, manifest: dict[str, Any], ms: int) -> None:
        self.write(f"{rel}/manifest.yaml", yaml.safe_dump(manifest, sort_keys=False))
        for step in manifest["steps"]:
            self.write_json(f"{rel}/{step['cfg_path']}", {"component": step["driver"]})
        profile = manifest["meta"]["profile"]
        fingerprints = manifest["pipeline"]["fingerprints"]
        self.write_json(
            f"{rel}/meta.json",
            {
                "compiled_at": self.iso(ms),
                "fingerprints": dict(fingerprints),
                "oml_version": "0.1.0",
                "profile": profile,
            },
        )
        self.write_json(f"{rel}/effective_config.json", {"params": {}, "profile": profile})

    # -- sessions -----------------------------------------------------------------------
    def compile(self, pipeline_id: str, profile: str | None, *, failed: bool = False) -> str:
        ms = self.tick()
        sid = f"compile_{ms}"
        base = f"logs/{sid}"
        manifest = self.manifest(pipeline_id, profile, sid, ms)
        outcome = (
            {"event": "compile_error", "error": "step 'extract' names no component"}
            if failed
            else {"event": "compile_complete", "manifest_path": f"{base}/compiled/manifest.yaml"}
        )
        events = [
            {
                "event": "run_start",
                "command": "compile",
                "oml_path": f"pipelines/{pipeline_id}.yaml",
            },
            {"event": "compile_start", "pipeline": pipeline_id},
            outcome,
            {"event": "run_end", "duration_seconds": 0.3, "end_time": self.iso(ms + 300)},
        ]
        self.write_jsonl(f"{base}/events.jsonl", self.stamped(sid, ms, events))
        metric = {"metric": "compilation_duration", "value": 0.2, "unit": "seconds"}
        self.write_jsonl(f"{base}/metrics.jsonl", self.stamped(sid, ms, [metric]))
        self.mkdir(f"{base}/artifacts")
        if failed:
            self.mkdir(f"{base}/compiled")
        else:
            self.tree(f"{base}/compiled", manifest, ms)
            self.write_json(f"{base}/.last.json", self.pointer(sid, ms))
            self.manifests[sid] = manifest
        self.sessions.append(
            ExpectedSession(
                session_id=sid,
                kind=SessionKind.COMPILE,
                status="failed" if failed else "success",
                started_at=self.moment(ms),
                pipeline_id=None if failed else pipeline_id,
                profile=None if failed else _normal(profile),
                manifest=None if failed else manifest,
                compiled=None if failed else manifest,
                duration_ms=300,
            )
        )
        return sid

    def pointer(self, sid: str, ms: int) -> dict[str, Any]:
        return {
            "session_id": sid,
            "manifest_path": f"logs/{sid}/compiled/manifest.yaml",
            "compiled_dir": f"logs/{sid}/compiled",
            "generated_at": self.iso(ms),
        }

    def run(
        self,
        pipeline_id: str,
        profile: str | None,
        *,
        compiled_by: str | None = None,
        outcome: str = "success",
        truncated: bool = False,
        missing: bool = False,
    ) -> ExpectedSession:
        ms = self.tick()
        sid = f"run_{ms}"
        base = f"logs/{sid}"
        if compiled_by is None:
            # started from an OML file: the run session compiles into its own compiled/
            source = f"{base}/compiled/manifest.yaml"
            manifest = self.manifest(pipeline_id, profile, sid, ms)
            self.tree(f"{base}/compiled", manifest, ms)
        else:
            source = f"logs/{compiled_by}/compiled/manifest.yaml"
            manifest = self.manifests[compiled_by]
        own = {**manifest, "metadata": {"source_manifest_path": source}}
        self.write(f"{base}/manifest.yaml", yaml.safe_dump(own, sort_keys=False))
        extract, write = (step["id"] for step in manifest["steps"])
        for step in manifest["steps"]:
            self.write_json(f"{base}/{step['cfg_path']}", {"component": step["driver"]})
        rows = self.rng.randint(10, 5000)
        events: list[dict[str, Any]] = [
            {"event": "run_start", "command": "run", "args": ["--last-compile"]},
            {"event": "run_start", "session_id": sid, "logs_dir": "logs"},
            {
                "event": "run_start",
                "pipeline_id": pipeline_id,
                "manifest_path": f"{base}/manifest.yaml",
                "profile": profile,
            },
            {"event": "step_start", "step_id": extract, "driver": "mysql.extractor"},
            {
                "event": "step_complete",
                "step_id": extract,
                "driver": "mysql.extractor",
                "duration": 0.4,
            },
            {"event": "step_start", "step_id": write, "driver": "filesystem.csv_writer"},
        ]
        metrics = [{"metric": "rows_read", "value": rows, "unit": "rows", "step_id": extract}]
        rows_out: int | None = None
        if outcome == "success":
            events += [
                {
                    "event": "step_complete",
                    "step_id": write,
                    "driver": "filesystem.csv_writer",
                    "duration": 0.2,
                },
                {"event": "cleanup_complete", "total_rows": rows},
                {"event": "run_complete", "steps_executed": 2},
            ]
            metrics.append(
                {"metric": "rows_written", "value": rows, "unit": "rows", "tags": {"step": write}}
            )
            rows_out = rows
        elif outcome == "failed":
            events += [
                {"event": "step_error", "step_id": write, "error": "disk full"},
                {"event": "run_error", "error": "step write failed"},
            ]
        if outcome != "interrupted":
            events.append(
                {"event": "run_end", "duration_seconds": 1.5, "end_time": self.iso(ms + 1500)}
            )
        lines = self.stamped(sid, ms, events)
        self.write_jsonl(f"{base}/events.jsonl", lines)
        if truncated:
            # the process died while writing run_end: half of the last line, no newline
            text = (self.root / base / "events.jsonl").read_text().rstrip("\n")
            last_line = text.rsplit("\n", 1)[-1]
            self.write(f"{base}/events.jsonl", text[: len(text) - len(last_line) // 2])
            self.damaged.append(f"{base}/events.jsonl")
        if missing:
            self.damaged += [f"{base}/status.json", f"{base}/osiris.log", f"{base}/metrics.jsonl"]
            # legacy-layout.md §2: rows then come only from cleanup_complete.total_rows
            rows_in = None
        else:
            self.write_jsonl(f"{base}/metrics.jsonl", self.stamped(sid, ms, metrics))
            self.write(f"{base}/osiris.log", f"INFO run {sid} of {pipeline_id}\n")
            rows_in = rows
        if outcome != "interrupted" and not missing:
            ok = outcome == "success"
            self.write_json(
                f"{base}/status.json",
                {
                    "sandbox_id": None,
                    "exit_code": 0 if ok else 1,
                    "steps_completed": 2 if ok else 1,
                    "steps_total": 2,
                    "ok": ok,
                    "session_path": base,
                    "session_copied": False,
                    "events_jsonl_exists": True,
                    "reason": "" if ok else "step write failed",
                },
            )
        started = [extract] if outcome != "success" else [extract, write]
        self.mkdir(f"{base}/artifacts")
        for step_id in started:
            self.write_json(f"{base}/artifacts/{step_id}/cleaned_config.json", {"step": step_id})
        if "debug_log" in self.quirks:
            self.write(f"{base}/debug.log", f"DEBUG verbose logging for {sid}\n")
        expected = ExpectedSession(
            session_id=sid,
            kind=SessionKind.RUN,
            status=outcome,
            started_at=self.moment(ms),
            pipeline_id=pipeline_id,
            profile=_normal(profile),
            manifest=own,
            compiled=manifest,
            rows_in=rows_in,
            rows_out=rows_out,
            duration_ms=None if outcome == "interrupted" or truncated else 1500,
        )
        self.sessions.append(expected)
        return expected

    def other(self, kind: SessionKind, sid: str, ms: int) -> None:
        base = f"logs/{sid}"
        events = [
            {"event": "run_start", "command": kind.value},
            {"event": "run_end", "duration_seconds": 0.1, "end_time": self.iso(ms + 100)},
        ]
        self.write_jsonl(f"{base}/events.jsonl", self.stamped(sid, ms, events))
        self.write(f"{base}/metrics.jsonl", "")
        self.mkdir(f"{base}/artifacts")
        self.write(f"{base}/osiris.log", f"INFO {kind.value}\n")
        self.sessions.append(
            ExpectedSession(sid, kind, "unknown", started_at=self.moment(ms), duration_ms=100)
        )

    def other_kinds(self) -> None:
        for kind in (
            SessionKind.CONNECTIONS,
            SessionKind.COMPONENTS_VALIDATE,
            SessionKind.PROMPTS_BUILD_CONTEXT,
        ):
            ms = self.tick()
            self.other(kind, f"{kind.value}_{ms}", ms)
        ms = self.tick() // 1000 * 1000
        self.other(SessionKind.CHAT, f"chat_{ms // 1000}", ms)
        ms = self.tick() // 1000 * 1000
        self.other(SessionKind.EPHEMERAL, f"ephemeral_validate_{ms // 1000}", ms)
        ms = self.tick() // 1000 * 1000
        stamp = self.moment(ms).strftime("%Y%m%d_%H%M%S")
        self.other(SessionKind.TEST_VALIDATION, f"test_validation_orders_check_{stamp}", ms)
        if "generic_sessions" in self.quirks:
            for _ in range(2):
                ms = self.tick() // 1000 * 1000
                stamp = self.moment(ms).strftime("%Y%m%d_%H%M%S")
                self.other(SessionKind.GENERIC, f"{stamp}_{self.rng.getrandbits(32):08x}", ms)

    # -- AIOP ---------------------------------------------------------------------------
    def aiop(self, run: ExpectedSession, variant: str, *, gz: bool) -> None:
        sid = run.session_id
        status = "completed" if run.status == "success" else "failed"
        legacy_hex = run.manifest["pipeline"]["fingerprints"]["manifest_fp"].split(":")[1]
        document = {
            "@context": "https://osiris.dev/ontology/v1/aiop.jsonld",
            "@id": f"osiris://run/@{sid}",
            "run": {"session_id": sid, "status": status, "total_rows": run.rows_out or 0},
            "pipeline": {"name": run.pipeline_id, "manifest_hash": legacy_hex},
            "narrative": {"summary": f"Run {sid} {status}."},
        }
        card = f"# Run {sid}\n\nStatus: {status}\n"
        if variant == "first_run":
            paths = ("logs/aiop/aiop.json", "logs/aiop/run-card.md")
        elif variant == "session_named":
            paths = (f"logs/aiop/aiop.{sid}.json", f"logs/aiop/run-card.{sid}.md")
        else:
            paths = (f"logs/aiop/{sid}/aiop.json", f"logs/aiop/{sid}/run-card.md")
        self.write(paths[0], json.dumps(document, indent=2))
        self.write(paths[1], card)
        annex = None
        if variant == "folder":
            annex = f"logs/aiop/{sid}/annex"
            events = (self.root / f"logs/{sid}/events.jsonl").read_bytes()
            shards = {"timeline.ndjson": events, "metrics.ndjson": b"", "errors.ndjson": b""}
            for name, data in shards.items():
                if gz:
                    self.write(f"{annex}/{name}.gz", gzip.compress(data, mtime=0))
                else:
                    self.write(f"{annex}/{name}", data)
            paths = (f"logs/aiop/{sid}",)
        self.aiops.append(ExpectedAiop(sid, variant, paths, gz=gz and variant == "folder"))
        self.index_lines.append(
            {
                "session_id": sid,
                "manifest_hash": legacy_hex,
                "status": status,
                "started_at": run.started_at.isoformat(),
                "ended_at": (run.started_at + timedelta(milliseconds=1500)).isoformat(),
                "duration_ms": 1500,
                "total_rows": run.rows_out or 0,
                "errors_count": 0 if status == "completed" else 1,
                "bytes_core": len(json.dumps(document)),
                "bytes_annex": 0,
                "core_path": paths[0] if variant != "folder" else f"logs/aiop/{sid}/aiop.json",
                "run_card_path": f"logs/aiop/{sid}/run-card.md" if annex else paths[1],
                "annex_dir": annex,
            }
        )

    def aiop_index(self) -> None:
        if not self.index_lines:
            return
        self.write_jsonl("logs/aiop/index/runs.jsonl", self.index_lines)
        by_hash: dict[str, list[dict[str, Any]]] = {}
        for line in self.index_lines:
            by_hash.setdefault(line["manifest_hash"], []).append(line)
        for legacy_hex, lines in by_hash.items():
            # legacy-layout.md §4: note the colon in the file name
            self.write_jsonl(f"logs/aiop/index/by_pipeline/sha256:{legacy_hex}.jsonl", lines)
        if "truncated_jsonl" in self.quirks:
            text = (self.root / "logs/aiop/index/runs.jsonl").read_text()
            self.write("logs/aiop/index/runs.jsonl", text[:-20])
            self.damaged.append("logs/aiop/index/runs.jsonl")

    # -- the rest of the tree -----------------------------------------------------------
    def side_folders(self, first_run: str | None) -> list[str]:
        self.write(".osiris_sessions/a1b2c3d4/state.db", _SQLITE_HEADER)
        self.write(".osiris_sessions/a1b2c3d4/conversation.log", "user: extract orders\n")
        self.write_json(".osiris_cache/tables_list.json", {"tables": ["orders", "customers"]})
        self.write_json(".osiris_cache/table_orders.json", {"columns": ["id", "total"]})
        self.write(".osiris_prompts/conversation_system.txt", "You are Osiris.\n")
        self.write(".osiris_prompts/config.yaml", "version: 1\n")
        for shard in ("events.ndjson", "metrics.ndjson", "errors.ndjson"):
            self.write(f".aiop-annex/{shard}", "")
        bundle = f"{first_run or 'session'}.zip"
        self.write("dist/logs/index.html", "<html></html>\n")
        self.write("exports/orders.csv", "id,total\n1,10\n")
        self.write(bundle, _EMPTY_ZIP)
        return ["dist", "exports", bundle]

    def compiled_trees(self, last: str | None) -> None:
        if "top_level_compiled" in self.quirks:
            if last is not None:
                manifest, at = self.manifests[last], int(last.split("_")[1])
            else:
                at = self.tick()
                manifest = self.manifest("orders-etl", "default", f"compile_{at}", at)
            self.tree("compiled", manifest, at)
            pipeline = manifest["pipeline"]["id"]
            self.trees.append(
                ExpectedTree("compiled", pipeline, _normal(manifest["meta"]["profile"]), manifest)
            )
        if "compiled_named" in self.quirks:
            for pipeline in ("mysql_to_csv", "Customers Sync"):
                at = self.tick()
                manifest = self.manifest(pipeline, NAMED_PROFILE, f"compile_{at}", at)
                rel = f"compiled/{PIPELINES[pipeline]}"
                self.tree(rel, manifest, at)
                self.trees.append(ExpectedTree(rel, pipeline, NAMED_PROFILE, manifest))

    def unknown_items(self) -> None:
        self.write("logs/notes.txt", "remember to rotate logs\n")
        self.write("logs/scratch/tmp.txt", "scratch\n")
        self.write("logs/run_abc/events.jsonl", "")
        self.write("logs/aiop/stray.tmp", "")
        self.write("logs/aiop/index/notes.md", "")
        self.write("logs/aiop/index/by_pipeline/old.jsonl", "")
        self.write("compiled/README.md", "old builds\n")
        os.symlink("/nonexistent/osiris-target", self.root / "logs/external")
        self.unknown += [
            "logs/notes.txt",
            "logs/scratch",
            "logs/run_abc",
            "logs/aiop/stray.tmp",
            "logs/aiop/index/notes.md",
            "logs/aiop/index/by_pipeline/old.jsonl",
            "compiled/README.md",
            "logs/external",
        ]


def make_legacy_project(
    root: Path, *, sessions: int = 3, quirks: Iterable[str] = (), seed: int = 0
) -> LegacyProjectInfo:
    """Write a legacy project under `root`: `sessions` compile+run pairs plus each quirk.

    Always present: the compile/run pairs, one session of every other kind,
    `.osiris_sessions/`, `.osiris_cache/`, `.osiris_prompts/`, `.aiop-annex/` and the user
    outputs. Each quirk adds its variant on top (extra sessions for failed, interrupted,
    truncated and damaged runs; AIOP naming schemes; compiled trees; …). Profiles cycle
    through the enabled profile quirks (`default` when none is enabled). Without an AIOP
    quirk there is no `logs/aiop/`; with one, the first run gets the first-run names and
    the later runs cycle through the other enabled schemes, with enough pairs added that
    every enabled scheme appears.
    """
    chosen = frozenset(quirks)
    unknown_quirks = chosen - ALL_QUIRKS
    if unknown_quirks:
        raise ValueError(f"unknown quirks: {sorted(unknown_quirks)}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    build = _Builder(root, random.Random(seed), chosen)
    profiles = [value for quirk, value in _PROFILE_QUIRKS if quirk in chosen]
    if "named_profile" in chosen:
        profiles.append(NAMED_PROFILE)
    profiles = profiles or ["default"]
    variants = [
        v
        for q, v in (("aiop_session_names", "session_named"), ("aiop_folders", "folder"))
        if q in chosen
    ]
    if "aiop_gz" in chosen and "folder" not in variants:
        variants.append("folder")
    first_names = "aiop_first_run_names" in chosen
    pairs = max(sessions, len(variants) + first_names)

    runs: list[ExpectedSession] = []
    for i in range(pairs):
        pipeline = build.rng.choice(sorted(PIPELINES))
        profile = profiles[i % len(profiles)]
        compile_id = build.compile(pipeline, profile)
        runs.append(build.run(pipeline, profile, compiled_by=compile_id))
    if "failed_compile" in chosen:
        build.compile("orders-etl", profiles[0], failed=True)
    same_hash: list[str] = []
    if "same_hash_compiles" in chosen:
        same_hash = [build.compile("mysql_to_csv", profiles[-1]) for _ in range(2)]
    if "failed_run" in chosen:
        runs.append(build.run("orders-etl", profiles[0], outcome="failed"))
    if "interrupted_run" in chosen:
        build.run("mysql_to_csv", profiles[0], outcome="interrupted")
    if "truncated_jsonl" in chosen:
        runs.append(build.run("orders-etl", profiles[-1], truncated=True))
    if "missing_files" in chosen:
        runs.append(build.run("Customers Sync", profiles[-1], missing=True))
    build.other_kinds()

    for j, run in enumerate(runs):
        if j == 0 and first_names:
            build.aiop(run, "first_run", gz=False)
        elif variants:
            build.aiop(run, variants[(j - first_names) % len(variants)], gz="aiop_gz" in chosen)
    build.aiop_index()
    if "latest_cycle" in chosen:
        (root / "logs/aiop").mkdir(parents=True, exist_ok=True)
        os.symlink(".", root / "logs/aiop/latest")

    compiles = [
        s.session_id
        for s in build.sessions
        if s.kind is SessionKind.COMPILE and s.status == "success"
    ]
    last = compiles[-1] if compiles else None
    if last is not None:
        build.write_json("logs/.last_compile.json", build.pointer(last, int(last.split("_")[1])))
    build.compiled_trees(last)
    if "unknown_items" in chosen:
        build.unknown_items()
    user_outputs = build.side_folders(runs[0].session_id if runs else None)
    return LegacyProjectInfo(
        root=root,
        quirks=chosen,
        sessions=tuple(build.sessions),
        aiops=tuple(build.aiops),
        last_compile=last,
        compiled_trees=tuple(build.trees),
        unknown_items=tuple(build.unknown),
        user_outputs=tuple(user_outputs),
        damaged=tuple(build.damaged),
        same_hash=tuple(same_hash),
    )
