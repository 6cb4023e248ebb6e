"""Snakemake adapter: the preference evaluation of a base, a teacher or a student."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run, warm  # noqa: E402

run.setup_logging(snakemake.log[0])
wc, o = snakemake.wildcards, snakemake.output
base, model, teacher = {
    "evaluate_base": lambda: (wc.get("base"), None, None),
    "evaluate_teacher": lambda: (wc.get("base"), None, wc.get("teacher")),
    "evaluate_student": lambda: (wc.get("student_base"), snakemake.input.model, None),
}[snakemake.rule]()
warm.call(
    snakemake.log[0],
    run.evaluate_model,
    run.job_config(snakemake),
    base,
    model,
    str(o.scores),
    str(o.answers),
    threads=snakemake.threads,
    teacher_name=teacher,
    record_json=str(o.record),
    trained_json=snakemake.input.get("trained"),
    identity=snakemake.params.member,
)
