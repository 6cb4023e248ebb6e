"""Snakemake adapter: run the auxiliary-logit experiment."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
stages.auxlogit(snakemake.config, snakemake.output.accuracy, snakemake.output.summary, threads=snakemake.threads)
