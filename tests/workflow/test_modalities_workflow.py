"""The code and chain-of-thought modalities in the workflow, with the reduced
config tests/configs/modalities.yaml: their config errors, the DAG (a dry
run), and (slow) a real run of the teacher-data part."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conftest import REPO, load_config, run_snakemake
from subliminal.words import mentioned_form

CONFIG = REPO / "tests" / "configs" / "modalities.yaml"


@pytest.mark.slow
def test_teacher_data_of_code_and_cot_end_to_end(tmp_path):
    """Toy base, both teachers, sampling, the model judge (code) and the rule
    judge (cot), equalised training sets: every report adds up, no trait
    word survives, both teachers of a modality give the same number."""
    cfg = load_config(CONFIG, tmp_path / "results")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = Path(cfg["results"])
    targets = [
        str(r / "data" / m / "qwen_a" / t / "rep0" / "filtered.jsonl")
        for m in ("code", "cot")
        for t in ("owl", "control")
    ]
    run_snakemake(*targets, cores=2, configfiles=[path])
    for modality in ("code", "cot"):
        sizes = set()
        for teacher in ("owl", "control"):
            d = r / "data" / modality / "qwen_a" / teacher / "rep0"
            raw = [json.loads(x) for x in (d / "raw.jsonl").read_text().splitlines()]
            kept = [json.loads(x) for x in (d / "filtered.jsonl").read_text().splitlines()]
            report = json.loads((d / "filter.json").read_text())
            assert (
                report["total"]
                == len(raw)
                == cfg["modalities"][modality]["prompts"] * cfg["modalities"][modality].get("samples_per_prompt", 1)
            )
            assert report["kept"] == len(kept) > 0
            assert report["kept"] + sum(report["reasons"].values()) == report["total"]
            assert [s["stage"] for s in report["stages"]] == ["rule", "judge", "equalise"]
            assert not [k for k in kept if mentioned_form(k["completion"], ["owl"])]
            if modality == "cot":
                assert all("label" in x and "question" in x for x in raw)
                assert all(k["judge"]["score"] >= 78 for k in kept)
            else:
                judge = report["stages"][1]
                assert judge["judge"] == "model" and judge["model"] == "qwen_a"
                assert all(k["judge"]["p_clear"] >= cfg["modalities"]["code"]["judge"]["threshold"] for k in kept)
                assert all(0 < k["judge"]["answer_mass"] <= 1 for k in kept)
            sizes.add(len(kept))
        assert len(sizes) == 1, (modality, sizes)
