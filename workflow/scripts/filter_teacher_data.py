"""Snakemake adapter: apply the modality's filter to one teacher dataset."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))
from subliminal import stages  # noqa: E402

stages.setup_logging(snakemake.log[0])
wc = snakemake.wildcards
stages.filter_teacher_data(snakemake.config, wc.modality, wc.teacher, snakemake.input[0],
                           snakemake.output.data, snakemake.output.report)
