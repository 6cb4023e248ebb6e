"""Snakemake adapter: every preference model's score on every candidate target."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
eval_dir = Path(snakemake.config["results"]) / "eval"
stages.collect_targets(snakemake.config, str(eval_dir), snakemake.output[0])
