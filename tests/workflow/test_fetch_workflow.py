"""Through Snakemake, a hub base is fetched once and every job reads the local
copy: the evaluation runs with the hub cache gone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import HUB_COMMIT, eval_root, hub_config, offline_env, run_snakemake
from subliminal import grid


@pytest.mark.slow
def test_workflow_fetches_once_then_jobs_run_without_the_hub(hub_cache, tmp_path):
    """Through snakemake: fetch_base, then the base's evaluation, with the
    hub cache gone by the time the evaluation runs: it can only have read
    the local copy. Its scores say which system prompt it was given."""
    cfg = hub_config(tmp_path / "results")
    cfg["chat"]["eval_system_prompt"] = ""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    base_dir = grid.model_source(cfg, "tiny")
    run_snakemake(base_dir, cores=1, configfiles=[path], env=offline_env(hub_cache))
    record = Path(base_dir).parent / "source.json"
    assert json.loads(record.read_text())["resolved_revision"] == HUB_COMMIT
    fetched_at = record.stat().st_mtime_ns
    env = offline_env(tmp_path / "no-cache-here" / "hub")
    target = f"{eval_root(cfg)}/preference/bases/tiny.tsv"
    run = run_snakemake(target, cores=1, configfiles=[path], env=env)
    assert "rule evaluate_base:" in run.stderr and "rule fetch_base:" not in run.stderr
    assert record.stat().st_mtime_ns == fetched_at  # fetched once, not again
    import pandas as pd

    scores = pd.read_csv(target, sep="\t", keep_default_na=False)
    assert set(scores.system_prompt) == {'""'}  # JSON: an explicit empty system message, not null
    assert set(scores.model) == {"base/tiny"} and set(scores.role) == {"base"}  # it says which model it holds
