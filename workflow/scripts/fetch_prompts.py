"""Snakemake adapter: fetch a modality's hub dataset once."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run  # noqa: E402

run.setup_logging(snakemake.log[0])
run.fetch_prompts(
    run.job_config(snakemake), snakemake.wildcards.modality, snakemake.output.questions, snakemake.output.record
)
