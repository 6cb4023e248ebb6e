"""Snakemake adapter: fetch a hub base's pinned revision once."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run  # noqa: E402

run.setup_logging(snakemake.log[0])
run.fetch_base(run.job_config(snakemake), snakemake.wildcards.base, snakemake.output.model, snakemake.output.record)
