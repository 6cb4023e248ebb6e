"""Snakemake adapter: one teacher's training set from its screened data,
subsampled to the smallest screened set of its base when equalise is on."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
wc = snakemake.wildcards
stages.filter_teacher_data(
    snakemake.config,
    wc.modality,
    wc.base,
    wc.teacher,
    snakemake.input.data,
    snakemake.params.reports,
    snakemake.output.data,
    snakemake.output.report,
    replicate=int(wc.replicate),
)
