"""Snakemake adapter: the preference bars of one metric."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
o = snakemake.output
analysis.figures(snakemake.input.summary, snakemake.input.compare, snakemake.wildcards.metric, [o.png, o.pdf])
