"""Command-line entry points that run outside Snakemake's script directive.

``python -m subliminal.cli check-config FILE...`` checks config files as the
workflow does before any job (one line naming the key, or the file and line
of a YAML error; later files override earlier ones, as with --configfile).
Snakemake reads a --configfile itself before the workflow starts, and its
message for a YAML error names neither file nor line: this one does.

``python -m subliminal.cli train-sft SPEC`` is one process of a multi-GPU
fine-tuning run: ``train.train_sft`` writes SPEC (a JSON file with its
arguments and the checkpoint to resume from) and starts this command with
torchrun, once per GPU. Every process trains; the main one
writes the model and the provenance (to the spec's ``result`` path).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from . import config as configuration
from .io import read_json
from .recipes import Recipe


def _train_sft(spec_path: str) -> None:
    from . import train

    spec = read_json(spec_path)
    prov = train.train_process(dict(spec, recipe=Recipe.from_mapping(spec["recipe"], key=spec_path)))
    if prov is not None:
        Path(spec["result"]).write_text(json.dumps(prov, indent=1) + "\n")


def _check_config(paths: list[str]) -> int:
    merged: dict = {}
    try:
        for path in paths:
            _update(merged, configuration.check_config_file(path))
        configuration.validate(merged)
    except configuration.ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 1
    print(f"config ok: {', '.join(paths)}")
    return 0


def _update(config: dict, overwrite: dict) -> None:
    """Merge as Snakemake merges config files: mappings key by key, anything else replaced."""
    for key, value in overwrite.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _update(config[key], value)
        else:
            config[key] = value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m subliminal.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train-sft", help="one process of a multi-process fine-tuning run")
    p.add_argument("spec", help="JSON written by subliminal.train.train_sft")
    c = sub.add_parser("check-config", help="check config files as the workflow does before any job")
    c.add_argument("files", nargs="+", help="config files, merged in order (as --configfile)")
    args = parser.parse_args(argv)
    if args.command == "check-config":
        sys.exit(_check_config(args.files))
    rank = os.environ.get("RANK", "0")
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        force=True,
        format=f"%(asctime)s rank{rank} %(levelname)s %(name)s: %(message)s",
    )
    logging.captureWarnings(True)
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if args.command == "train-sft":
        _train_sft(args.spec)


if __name__ == "__main__":
    main()
