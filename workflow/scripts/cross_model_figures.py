"""Snakemake adapter: the cross-model heatmap and the forest plot of one metric."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
o = snakemake.output
stages.cross_model_figures(
    snakemake.input.compare,
    snakemake.input.interaction,
    snakemake.wildcards.metric,
    [o.heatmap_png, o.heatmap_pdf],
    [o.forest_png, o.forest_pdf],
)
