"""Snakemake adapter: a result table as an HTML page of the report."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
analysis.report_table(snakemake.input[0], snakemake.output[0], snakemake.params.title)
