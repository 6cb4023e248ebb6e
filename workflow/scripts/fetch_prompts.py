"""Snakemake adapter: fetch a modality's hub dataset once (cot: GSM8K)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
stages.fetch_prompts(
    snakemake.config, snakemake.wildcards.modality, snakemake.output.questions, snakemake.output.record
)
