"""Snakemake adapter: sample one teacher's raw data."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
wc = snakemake.wildcards
stages.sample_teacher(
    snakemake.config,
    wc.modality,
    wc.base,
    wc.teacher,
    snakemake.params.model,
    snakemake.output[0],
    threads=snakemake.threads,
    replicate=int(wc.replicate),
    steering_path=next(iter(snakemake.input.steering), None),
)
