"""Snakemake adapter: one preference bar figure (PNG and PDF)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
o = snakemake.output
stages.figures(snakemake.input.summary, snakemake.input.compare, snakemake.wildcards.metric, [o.png, o.pdf])
