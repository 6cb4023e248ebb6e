"""Snakemake adapter: run the auxiliary-logit experiment."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
analysis.auxlogit(
    run.job_config(snakemake), snakemake.output.accuracy, snakemake.output.summary, threads=snakemake.threads
)
