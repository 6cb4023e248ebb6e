"""Snakemake adapter: the auxiliary-logit figure."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
stages.auxlogit_figure(snakemake.input[0], [snakemake.output.png, snakemake.output.pdf])
