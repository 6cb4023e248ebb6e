"""Snakemake adapter: the cross-model heatmap and forest plot of one metric."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
analysis.cross_model_figures(
    i.compare, i.interaction, snakemake.wildcards.metric, [o.heatmap_png, o.heatmap_pdf], [o.forest_png, o.forest_pdf]
)
