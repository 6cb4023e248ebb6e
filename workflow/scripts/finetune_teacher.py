"""Snakemake adapter: fine-tune one teacher."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run  # noqa: E402

run.setup_logging(snakemake.log[0])
o, wc = snakemake.output, snakemake.wildcards
run.finetune_teacher(run.job_config(snakemake), wc.base, wc.trait, o.model, o.provenance, threads=snakemake.threads)
