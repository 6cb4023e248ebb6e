"""Snakemake adapter: one teacher dataset's training set."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import grid, stages as run  # noqa: E402

run.setup_logging(snakemake.log[0])
wc, o = snakemake.wildcards, snakemake.output
dataset = grid.dataset(snakemake.config, wc.modality, wc.base, wc.teacher, int(wc.replicate))
run.filter_teacher_data(snakemake.config, dataset, snakemake.input.data, snakemake.params.reports, o.data, o.report)
