"""Snakemake adapter: train one student."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
from subliminal.config import Student  # noqa: E402

wc = snakemake.wildcards
student = Student(wc.modality, wc.teacher_base, wc.teacher, wc.student_base, wc.recipe, int(wc.seed))
out = str(Path(snakemake.output.model).parent)
stages.train_student(snakemake.config, student, snakemake.input.data, out, threads=snakemake.threads)
