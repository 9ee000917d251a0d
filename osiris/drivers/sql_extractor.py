"""`mysql.extractor` and `postgres.extractor`: a table or a query into the step's table,
streamed in batches of `batch_size` rows."""

from __future__ import annotations

import importlib
from contextlib import closing

from osiris.drivers.base import StepContext, StepResult, table_name
from osiris.drivers.duck_load import TableLoader
from osiris.drivers.sql_settings import DbSettings, select_sql


class SqlExtractor:
    """Runs the step's SELECT on the database and loads the rows into `df_<step_id>`."""

    database: str  # the module: osiris.drivers.mysql_db or osiris.drivers.postgres_db

    def run(self, ctx: StepContext) -> StepResult:
        db = importlib.import_module(self.database)
        settings = DbSettings.from_config(ctx.config, db.DEFAULT_PORT)
        sql = select_sql(ctx.config, db.quote, no_limit=db.NO_LIMIT)
        batch_size = max(1, int(ctx.config.get("batch_size") or 10_000))
        if ctx.log:
            ctx.log(f"step {ctx.step_id}: reading {settings.describe()}")
        columns, batches = db.read(settings, sql, batch_size)
        with closing(batches):
            loader = TableLoader(ctx.connection, table_name(ctx.step_id), columns)
            for batch in batches:
                loader.append(batch)
            loader.finish()
        return StepResult(rows_in=loader.rows, rows_out=loader.rows, table=loader.table)


class MysqlExtractor(SqlExtractor):
    database = "osiris.drivers.mysql_db"


class PostgresExtractor(SqlExtractor):
    database = "osiris.drivers.postgres_db"
