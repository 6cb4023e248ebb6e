"""Snakemake adapter: fine-tune a trait teacher (the appendix way)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
out = str(Path(snakemake.output[0]).parent)
stages.finetune_teacher(
    snakemake.config, snakemake.wildcards.base, snakemake.wildcards.trait, out, threads=snakemake.threads
)
