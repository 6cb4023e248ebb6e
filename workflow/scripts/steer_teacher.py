"""Snakemake adapter: make a steering teacher's vector."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
stages.steer_teacher(
    snakemake.config,
    snakemake.wildcards.base,
    snakemake.wildcards.trait,
    snakemake.output.vector,
    threads=snakemake.threads,
)
