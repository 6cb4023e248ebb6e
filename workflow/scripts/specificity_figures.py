"""Snakemake adapter: the trait x target matrix and the trait bars of one metric."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
i, o = snakemake.input, snakemake.output
analysis.specificity_figures(
    run.job_config(snakemake),
    i.matrix,
    i.targets,
    i.specificity,
    snakemake.wildcards.metric,
    [o.matrix_png, o.matrix_pdf],
    [o.bars_png, o.bars_pdf],
)
