# The config files, read once more before Snakemake's own reading is used:
# a YAML error names its file and line, and a key given twice is refused
# (YAML lets the last one win without a word). Snakemake's reading stays as
# it is; a --configfile it cannot parse stops the run before this is read,
# with Snakemake's own message (`python -m subliminal.cli check-config FILE`
# names the line).
from pathlib import Path
import sys

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from subliminal import config as grid

try:
    grid.check_config_files(
        [str(p) for p in workflow.overwrite_configfiles] or [p for p in ["config.yaml"] if Path(p).exists()]
    )
except grid.ConfigError as err:
    sys.exit(f"config error: {err}")
