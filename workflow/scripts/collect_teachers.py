"""Snakemake adapter: every teacher's trait strength beside its filter report."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
i = snakemake.input
analysis.collect_teachers(run.job_config(snakemake), list(i.evals), list(i.misalignment), snakemake.output[0])
