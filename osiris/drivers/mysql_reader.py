"""The MySQL reader process: `python -m osiris.drivers.mysql_reader` (see `mysql_db`).

Reads `{"settings", "sql", "batch_size"}` as JSON on stdin and writes the result as an
Arrow IPC stream on stdout; an error is one JSON line `{"error": ...}` on stderr, exit 1.
"""

from __future__ import annotations

import json
import sys

# Before anything that loads pyarrow (see mysql_db).
import mysql.connector  # isort: skip
import pyarrow as pa

from osiris.drivers import mysql_db
from osiris.drivers.duck_load import rows_to_arrow
from osiris.drivers.sql_settings import DbSettings


def main() -> int:
    request = json.load(sys.stdin)
    try:
        settings = DbSettings.from_config(request["settings"], mysql_db.DEFAULT_PORT)
        conn = mysql_db.connect(settings)
        try:
            columns, batches = mysql_db.stream(conn, request["sql"], request["batch_size"])
            with pa.ipc.new_stream(sys.stdout.buffer, mysql_db.schema(columns)) as writer:
                for rows in batches:
                    writer.write_table(rows_to_arrow(rows, columns))
        finally:
            conn.close()
    except (mysql.connector.Error, pa.ArrowInvalid, UnicodeDecodeError) as exc:
        sys.stderr.write(json.dumps({"error": " ".join(str(exc).split())}) + "\n")
        return 1
    except BrokenPipeError:
        return 1  # the run stopped reading (its step failed or was interrupted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
