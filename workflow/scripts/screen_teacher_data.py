"""Snakemake adapter: the filter and judge on one teacher dataset."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run, warm  # noqa: E402

run.setup_logging(snakemake.log[0])
wc, o = snakemake.wildcards, snakemake.output
warm.call(
    snakemake.log[0],
    run.screen_teacher_data,
    run.job_config(snakemake),
    wc.modality,
    wc.teacher,
    str(snakemake.input.raw),
    str(o.data),
    str(o.report),
    threads=snakemake.threads,
)
