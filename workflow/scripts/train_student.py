"""Snakemake adapter: train one student."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import grid, stages as run, warm  # noqa: E402

run.setup_logging(snakemake.log[0])
wc = snakemake.wildcards
student = grid.Student(wc.modality, wc.teacher_base, wc.teacher, wc.student_base, wc.recipe, int(wc.seed))
out = str(Path(snakemake.output.model).parent)
warm.call(
    snakemake.log[0],
    run.train_student,
    run.job_config(snakemake),
    student,
    str(snakemake.input.data),
    out,
    threads=snakemake.threads,
)
