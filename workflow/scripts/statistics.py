"""Snakemake adapter: statistics of the scores and targets tables."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
stages.analyse(
    snakemake.config, i.scores, i.targets, o.summary, o.compare, o.interaction, o.specificity, o.matrix, o.text
)
