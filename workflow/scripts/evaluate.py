"""Snakemake adapter: the evaluation of a base, a teacher or a student on its trait kind's questions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run, warm  # noqa: E402

run.setup_logging(snakemake.log[0])
o = snakemake.output
warm.call(
    snakemake.log[0],
    run.evaluate_model,
    run.job_config(snakemake),
    snakemake.params.member,
    snakemake.wildcards.trait_kind,
    str(o.scores),
    str(o.answers),
    threads=snakemake.threads,
    adapter=snakemake.input.get("model"),
    record_json=str(o.record),
    trained_json=snakemake.input.get("trained"),
)
