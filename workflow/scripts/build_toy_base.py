"""Snakemake adapter: build and pretrain one toy base."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages as run  # noqa: E402

run.setup_logging(snakemake.log[0])
run.build_base(snakemake.params.made_from, snakemake.output[0], threads=snakemake.threads)
