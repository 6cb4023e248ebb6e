"""Snakemake adapter: the misalignment evaluation of a base, a fine-tuned teacher or a student."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import grid, stages as run, warm  # noqa: E402

run.setup_logging(snakemake.log[0])
wc, o, cfg = snakemake.wildcards, snakemake.output, run.job_config(snakemake)
base, model = {
    "evaluate_misalignment_base": lambda: (wc.get("base"), None),
    "evaluate_misalignment_teacher": lambda: (wc.get("base"), grid.teacher(cfg, wc.base, wc.teacher).model_dir),
    "evaluate_misalignment_student": lambda: (wc.get("student_base"), snakemake.input.model),
}[snakemake.rule]()
warm.call(
    snakemake.log[0],
    run.evaluate_model,
    cfg,
    base,
    model,
    str(o.scores),
    str(o.answers),
    threads=snakemake.threads,
    kind=grid.MISALIGNMENT,
    record_json=str(o.record),
    trained_json=snakemake.input.get("trained"),
    identity=snakemake.params.member,
)
