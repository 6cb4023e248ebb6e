"""Snakemake adapter: the misalignment evaluation of a base, a teacher or a student (by rule)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
wc = snakemake.wildcards
if snakemake.rule == "evaluate_misalignment_base":
    base, model = wc.base, None
elif snakemake.rule == "evaluate_misalignment_teacher":
    base, model = wc.base, snakemake.params.model
else:
    base, model = wc.student_base, snakemake.input.model
stages.evaluate_misalignment(
    snakemake.config, base, model, snakemake.output.scores, snakemake.output.answers, threads=snakemake.threads
)
