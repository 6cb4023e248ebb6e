"""Snakemake adapter: how the analysis' members were made (members.json)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
# members are named below the results folder (where, not what: not a param)
results = snakemake.config["results"]
analysis.collect_provenance(list(snakemake.input), snakemake.params.expected, snakemake.output[0], root=results)
