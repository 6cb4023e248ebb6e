"""Snakemake adapter: one teacher dataset's training set."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import grid, stages as run  # noqa: E402

run.setup_logging(snakemake.log[0])
wc, o, cfg = snakemake.wildcards, snakemake.output, run.job_config(snakemake)
dataset = grid.dataset(cfg, wc.modality, wc.teacher_base, wc.teacher, int(wc.replicate))
run.filter_teacher_data(cfg, dataset, snakemake.input.data, snakemake.params.reports, o.data, o.report)
