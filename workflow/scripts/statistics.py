"""Snakemake adapter: statistics of the scores table."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
o = snakemake.output
stages.analyse(snakemake.config, snakemake.input[0], o.summary, o.compare, o.interaction, o.text)
