"""`filesystem.csv_extractor`: read a CSV file into the step's DuckDB table."""

from __future__ import annotations

from osiris.drivers.base import StepContext, StepResult, table_name


class CsvExtractor:
    """Creates table `df_<step_id>` from `read_csv` of `base_path / config.path`."""

    def run(self, ctx: StepContext) -> StepResult:
        config = ctx.config
        source = ctx.base_path / config["path"]
        if not source.is_file():
            raise FileNotFoundError(f"input file not found: {config['path']}")
        table = table_name(ctx.step_id)
        ctx.connection.execute(
            f'CREATE OR REPLACE TABLE "{table}" AS '
            "SELECT * FROM read_csv(?, delim = ?, header = ?, encoding = ?)",
            [str(source), config["delimiter"], config["header"], config["encoding"]],
        )
        (rows,) = ctx.connection.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
        return StepResult(rows_in=rows, rows_out=rows, table=table)
