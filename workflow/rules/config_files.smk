# The config files, read once more before Snakemake's own reading is used:
# a YAML error names its file and line, a key given twice is refused (YAML
# lets the last one win without a word), and so are an alias bomb and a grid
# too large to plan (config.check_config_files). Snakemake's reading stays as
# it is; a --configfile it cannot parse stops the run before this is read,
# with Snakemake's own message (`python -m subliminal.cli check-config FILE`
# names the line).
from pathlib import Path
import sys

# The subliminal package: the copy in src/ of this workflow, found from this
# file and not from the main Snakefile's folder, so that a workflow that uses
# this one as a module (from a local path) plans with this copy, as its jobs'
# scripts do (they find it from their own folder). Where this workflow is not
# on the machine (a module from a git host) the installed package is used.
SUBLIMINAL_SRC = Path(workflow.current_basedir.get_path_or_uri(secret_free=True)).parents[1] / "src"
if (SUBLIMINAL_SRC / "subliminal").is_dir():
    sys.path.insert(0, str(SUBLIMINAL_SRC))

try:
    from subliminal import config as configuration, grid
except ImportError as err:
    sys.exit(
        f"the subliminal package is neither in {SUBLIMINAL_SRC} nor installed ({err}): use the workflow "
        "from a local copy, or pip install the package into the environment Snakemake runs in"
    )

try:
    configuration.check_config_files(
        [str(p) for p in workflow.overwrite_configfiles] or [p for p in ["config.yaml"] if Path(p).exists()],
        workflow.config_settings.config,
    )
except configuration.ConfigError as err:
    sys.exit(f"config error: {err}")
