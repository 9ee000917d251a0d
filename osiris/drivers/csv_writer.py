"""`filesystem.csv_writer`: write the upstream table to a CSV file, all or nothing.

Upstream's `quoting` (minimal, all, nonnumeric) and `create_dirs` apply; `chunk_size` is
accepted and changes nothing (DuckDB streams the file)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from osiris.core.fsio import fsync_dir
from osiris.drivers.base import StepContext, StepResult, quote, table_columns

NEWLINES = {"lf": "\n", "crlf": "\r\n"}
_CHUNK = 1024 * 1024
_NUMERIC = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
}


class CsvWriter:
    """Writes its single upstream table to `base_path / config.path`.

    DuckDB writes a temp file in the target folder, which is then renamed over the target
    (pipeline.md: a failed run never leaves half a CSV).
    """

    def run(self, ctx: StepContext) -> StepResult:
        if len(ctx.inputs) != 1:
            raise ValueError(f"csv_writer needs exactly one upstream step, got {len(ctx.inputs)}")
        (source,) = ctx.inputs.values()
        config = ctx.config
        target = ctx.base_path / config["path"]
        if config.get("create_dirs") is False and not target.parent.is_dir():
            raise FileNotFoundError(
                f"the folder of {config['path']} does not exist (create_dirs is false)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            options = (
                f"FORMAT csv, HEADER {'true' if config['header'] else 'false'}, "
                f"DELIMITER {_literal(config['delimiter'])}, "
                f"NEW_LINE {_literal(NEWLINES[config['newline']])}"
                + _quoting(ctx.connection, source, config.get("quoting"))
            )
            ((rows,),) = ctx.connection.execute(
                f'COPY (SELECT * FROM "{source}") TO {_literal(str(tmp))} ({options})'
            ).fetchall()
            if config["encoding"] != "utf-8":
                _transcode(tmp, config["encoding"])
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)
        return StepResult(rows_in=rows, rows_out=rows, outputs=[target])


def _quoting(connection: Any, source: str, quoting: str | None) -> str:
    if quoting == "all":
        return ", FORCE_QUOTE *"
    if quoting == "nonnumeric":
        columns = [name for name, kind in table_columns(connection, source) if not _numeric(kind)]
        return f", FORCE_QUOTE ({', '.join(quote(c) for c in columns)})" if columns else ""
    return ""


def _numeric(kind: str) -> bool:
    upper = kind.upper()
    return upper.startswith("DECIMAL") or upper in _NUMERIC


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _transcode(path: Path, encoding: str) -> None:
    # DuckDB only writes UTF-8, so other encodings are re-encoded beside the temp file.
    fd, other_name = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".enc", dir=path.parent)
    try:
        with (
            open(path, encoding="utf-8", newline="") as src,
            open(fd, "w", encoding=encoding, newline="") as dst,
        ):
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
        os.replace(other_name, path)
    except BaseException:
        Path(other_name).unlink(missing_ok=True)
        raise
