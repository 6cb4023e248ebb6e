"""Snakemake adapter: the placebo-target figure of one metric."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
analysis.placebo_figure(run.job_config(snakemake), i.targets, i.placebo, snakemake.wildcards.metric, [o.png, o.pdf])
