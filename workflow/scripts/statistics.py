"""Snakemake adapter: the statistics and the summary text."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import analysis, runtime as run  # noqa: E402

run.setup_logging(snakemake.log[0])
i = snakemake.input
analysis.analyse(run.job_config(snakemake), i.scores, i.targets, dict(snakemake.output.items()), members_json=i.members)
