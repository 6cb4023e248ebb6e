"""Another pretraining of the toy bases: the default config with every toy
base's seed shifted, written as a config file of its own (it stands alone:
a --configfile replaces config.yaml). Another machine pretrains the toys to
other weights; a shifted seed stands in for that, so a finding can be
checked against it. Usage:

    python experiments/reseed.py 100 results-reseed100 > /tmp/reseed100.yaml
    .venv/bin/snakemake --cores 2 --configfile /tmp/reseed100.yaml
"""

import sys
from pathlib import Path

import yaml

offset, results = int(sys.argv[1]), sys.argv[2]
config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
for spec in config["models"].values():
    if "toy" in spec:
        spec["toy"]["seed"] += offset
config["results"] = results
sys.stdout.write(f"# config.yaml with every toy seed + {offset} (experiments/reseed.py)\n")
yaml.safe_dump(config, sys.stdout, sort_keys=False)
