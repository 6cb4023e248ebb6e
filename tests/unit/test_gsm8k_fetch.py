"""GSM8K from the Hugging Face hub (modalities.cot.dataset): fetch_prompts
downloads the parquet files of one subset/split at a pinned revision once and
writes the GSM8K-format JSONL the teachers read. A hub cache built here, read
with HF_HUB_OFFLINE=1, stands in for the hub (as in unit/test_fetch.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import GSM8K_COMMIT, GSM8K_DATASET, REPO, cot_config, make_hub_cache, offline_env
from subliminal import config as configuration, grid
from subliminal.modalities import get_modality

FIXTURE = REPO / "tests" / "data" / "gsm8k_sample.jsonl"

FETCH = """
import sys
from subliminal import config as configuration, grid, stages
cfg = configuration.validate({cfg!r})
stages.fetch_prompts(cfg, "cot", sys.argv[1], sys.argv[2])
"""


@pytest.fixture(scope="module")
def gsm8k_hub(tmp_path_factory) -> Path:
    """A dataset repository laid out like openai/gsm8k: main/ and socratic/
    subsets, each with train and test parquet files."""
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    upload = tmp_path_factory.mktemp("upload")
    for subset in ("main", "socratic"):
        (upload / subset).mkdir()
        for split, part in (("train", rows[:-2]), ("test", rows[-2:])):
            frame = pd.DataFrame(
                {
                    "question": [r["question"] for r in part],
                    "answer": [(subset + ": " if subset != "main" else "") + r["answer"] for r in part],
                }
            )
            frame.to_parquet(upload / subset / f"{split}-00000-of-00001.parquet", index=False)
    (upload / "README.md").write_text("a dataset card\n")
    cache = make_hub_cache(tmp_path_factory.mktemp("hf") / "hub", upload, repo_id=GSM8K_DATASET, commit=GSM8K_COMMIT)
    # make_hub_cache lays out a model repository; a dataset's folder is named datasets--<owner>--<name>
    model_dir = cache / ("models--" + GSM8K_DATASET.replace("/", "--"))
    model_dir.rename(cache / ("datasets--" + GSM8K_DATASET.replace("/", "--")))
    return cache


def run_fetch(cfg: dict, cache: Path) -> subprocess.CompletedProcess:
    out = Path(grid.prompt_source(cfg, "cot"))
    return subprocess.run(
        [sys.executable, "-c", FETCH.format(cfg=cfg), str(out), str(out.parent / "source.json")],
        env=offline_env(cache),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_pinned_split_becomes_the_teachers_questions(gsm8k_hub, tmp_path):
    cfg = cot_config(tmp_path)
    run = run_fetch(cfg, gsm8k_hub)
    assert run.returncode == 0, run.stderr
    out = Path(grid.prompt_source(cfg, "cot"))
    assert out == tmp_path / "prompts" / "cot" / "questions.jsonl"
    fixture = [json.loads(line) for line in FIXTURE.read_text().splitlines() if line.strip()]
    fetched = [json.loads(line) for line in out.read_text().splitlines()]
    # main/train only: not the test split, not the socratic subset, not the card
    assert [(r["question"], r["answer"]) for r in fetched] == [(r["question"], r["answer"]) for r in fixture[:-2]]
    assert [r["id"] for r in fetched] == [f"train-{i}" for i in range(len(fetched))]
    record = json.loads((out.parent / "source.json").read_text())
    assert record["repo_type"] == "dataset" and record["resolved_revision"] == GSM8K_COMMIT
    assert [f["path"] for f in record["files"]] == ["main/train-00000-of-00001.parquet"]
    # the teachers' prompts: every label is the fixture's "#### N"
    records = get_modality("cot").prompt_records(3, 0, {"source": str(out), "samples_per_prompt": 2})
    labels = {r["question"]: r["answer"].rsplit("####", 1)[1].strip() for r in fixture}
    assert len(records) == 6 and all(labels[r["question"]] == r["label"] for r in records)


def test_another_subset_and_split(gsm8k_hub, tmp_path):
    cfg = cot_config(tmp_path, subset="socratic", split="test")
    run = run_fetch(cfg, gsm8k_hub)
    assert run.returncode == 0, run.stderr
    fetched = [json.loads(line) for line in Path(grid.prompt_source(cfg, "cot")).read_text().splitlines()]
    assert len(fetched) == 2 and all(r["answer"].startswith("socratic: ") for r in fetched)


def test_a_split_the_dataset_lacks_fails_naming_the_key(gsm8k_hub, tmp_path):
    run = run_fetch(cot_config(tmp_path, split="validation"), gsm8k_hub)
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert "config key modalities.cot.dataset" in last and "main/validation-*.parquet" in last, last


def test_a_dataset_and_a_source_file_are_refused(tmp_path):
    cfg = cot_config(tmp_path)
    cfg["modalities"]["cot"]["source"] = str(FIXTURE)
    with pytest.raises(
        configuration.ConfigError, match=r"config key modalities\.cot\.dataset: give a dataset or a source"
    ):
        configuration.validate(cfg)
    cfg = cot_config(tmp_path, revision="main")
    with pytest.raises(configuration.ConfigError, match=r"config key modalities\.cot\.dataset\.revision"):
        configuration.validate(cfg)
