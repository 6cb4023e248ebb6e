"""Snakemake adapter: make one steering teacher's vector."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run  # noqa: E402

run.setup_logging(snakemake.log[0])
wc = snakemake.wildcards
run.steer_teacher(run.job_config(snakemake), wc.base, wc.trait, snakemake.output.vector, threads=snakemake.threads)
