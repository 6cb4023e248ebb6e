"""Snakemake adapter: fine-tune one teacher."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run, warm  # noqa: E402

run.setup_logging(snakemake.log[0])
o, wc = snakemake.output, snakemake.wildcards
warm.call(
    snakemake.log[0],
    run.finetune_teacher,
    run.job_config(snakemake),
    wc.teacher_base,
    wc.teacher,
    str(o.model),
    str(o.provenance),
    threads=snakemake.threads,
)
