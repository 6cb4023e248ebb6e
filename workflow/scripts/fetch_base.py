"""Snakemake adapter: fetch one hub base model's pinned revision."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
stages.fetch_base(snakemake.config, snakemake.wildcards.base, snakemake.output.model, snakemake.output.record)
