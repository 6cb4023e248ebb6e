"""Snakemake adapter: the modality's filter and judge on one teacher's raw data."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
wc = snakemake.wildcards
stages.screen_teacher_data(
    snakemake.config,
    wc.modality,
    wc.teacher,
    snakemake.input.raw,
    snakemake.output.data,
    snakemake.output.report,
    threads=snakemake.threads,
)
