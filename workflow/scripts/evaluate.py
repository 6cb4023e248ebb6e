"""Snakemake adapter: evaluate a base, a teacher or a student (by rule)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
wc = snakemake.wildcards
teacher = steering = None
if snakemake.rule == "evaluate_base":
    base, model = wc.base, None
elif snakemake.rule == "evaluate_teacher":
    base, model, teacher = wc.base, snakemake.params.model, wc.teacher
    steering = next(iter(snakemake.input.steering), None)
else:
    base, model = wc.student_base, snakemake.input.model
stages.evaluate_model(
    snakemake.config,
    base,
    model,
    snakemake.output.scores,
    snakemake.output.answers,
    threads=snakemake.threads,
    teacher_name=teacher,
    steering_path=steering,
)
