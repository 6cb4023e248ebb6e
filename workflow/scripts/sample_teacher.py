"""Snakemake adapter: sample one teacher dataset."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import grid, stages as run, warm  # noqa: E402

run.setup_logging(snakemake.log[0])
wc, cfg = snakemake.wildcards, run.job_config(snakemake)
dataset = grid.dataset(cfg, wc.modality, wc.teacher_base, wc.teacher, int(wc.replicate))
warm.call(snakemake.log[0], run.sample_teacher, cfg, dataset, str(snakemake.output[0]), threads=snakemake.threads)
