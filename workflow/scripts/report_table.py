"""Snakemake adapter: one result table as an HTML page for the report."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
stages.report_table(snakemake.input[0], snakemake.output[0], snakemake.params.title)
