"""Snakemake adapter: each teacher's trait strength beside its filter pass rate."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
results = Path(snakemake.config["results"])
stages.collect_teachers(snakemake.config, str(results / "eval"), str(results / "data"), snakemake.output[0])
