"""Snakemake adapter: every preference model's score on every candidate target."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
analysis.collect_targets(run.job_config(snakemake), list(snakemake.input), snakemake.output[0])
