"""Snakemake adapter: the filter and judge on one teacher dataset."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run  # noqa: E402

run.setup_logging(snakemake.log[0])
wc, o = snakemake.wildcards, snakemake.output
run.screen_teacher_data(
    run.job_config(snakemake), wc.modality, wc.teacher, snakemake.input.raw, o.data, o.report, threads=snakemake.threads
)
