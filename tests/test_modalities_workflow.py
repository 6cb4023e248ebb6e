"""The code and chain-of-thought modalities in the workflow, with the reduced
config tests/configs/modalities.yaml: their config errors, the DAG (a dry
run), and (slow) a real run of the teacher-data part."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from conftest import load_config, run_snakemake, summary_outputs
from subliminal import config as configuration, grid
from subliminal.words import mentioned_form

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "tests" / "configs" / "modalities.yaml"


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["modalities"]["code"]["judge"].pop("model"), "modalities.code.judge"),
        (lambda c: c["modalities"]["code"]["judge"].update(model="nope"), "modalities.code.judge.model"),
        (lambda c: c["modalities"]["cot"]["judge"].update(model="qwen_a"), "modalities.cot.judge.model"),
        (lambda c: c["modalities"]["code"]["judge"].update(threshold=1.5), "modalities.code.judge.threshold"),
        (lambda c: c["modalities"]["cot"]["judge"].update(min_score=101), "modalities.cot.judge.min_score"),
        (lambda c: c["modalities"]["code"].update(source="no/such.jsonl"), "modalities.code.source"),
        (lambda c: c["modalities"]["cot"].update(dataset="openai/gsm8k"), "modalities.cot.dataset"),
        (lambda c: c["modalities"]["cot"].update(samples_per_prompt=0), "modalities.cot.samples_per_prompt"),
        (lambda c: c["modalities"]["code"].update(word_filter=False), "modalities.code.word_filter"),
    ],
)
def test_config_errors_name_the_key(edit, key):
    cfg = load_config(CONFIG)
    edit(cfg)
    with pytest.raises(configuration.ConfigError, match=rf"^config key {key}\b"):
        configuration.validate(copy.deepcopy(cfg))


def test_the_reduced_config_is_valid():
    cfg = configuration.validate(load_config(CONFIG))
    assert grid.trait_words(cfg) == ("owl",)


def planned(cfg: dict, tmp_path: Path, *targets: str) -> dict[str, list[str]]:
    """rule -> output files of the jobs a run would need (no job runs)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return summary_outputs(*targets, configfiles=[path])


def test_dag_screens_each_dataset_once_with_the_judge_where_it_is_a_model(tmp_path):
    cfg = load_config(CONFIG, tmp_path / "results")
    dag = planned(cfg, tmp_path)
    r = cfg["results"]
    assert sorted(dag["judge_teacher_data"]) == sorted(
        f"{r}/data/code/qwen_a/{t}/rep0/{f}" for t in ("owl", "control") for f in ("screened.jsonl", "screen.json")
    )
    assert sorted(dag["screen_teacher_data"]) == sorted(
        f"{r}/data/cot/qwen_a/{t}/rep0/{f}" for t in ("owl", "control") for f in ("screened.jsonl", "screen.json")
    )
    assert len(dag["filter_teacher_data"]) == 2 * 2 * 2  # modality x teacher x (data, report)
    students = [o for o in dag["train_student"] if o.endswith("/model")]
    assert len(students) == 2 * 2 * 2  # modality x pair x teacher (one seed)
    # the judge model (here the teacher base) is built once, for both uses
    assert dag["build_toy_base"].count(f"{r}/bases/qwen_a/model") == 1


def test_each_training_set_waits_for_every_teachers_screen_report(tmp_path):
    cfg = load_config(CONFIG, tmp_path / "results")
    r = cfg["results"]
    dag = planned(cfg, tmp_path, f"{r}/data/cot/qwen_a/owl/rep0/filtered.jsonl")
    assert sorted(dag["filter_teacher_data"]) == [
        f"{r}/data/cot/qwen_a/owl/rep0/filter.json",
        f"{r}/data/cot/qwen_a/owl/rep0/filtered.jsonl",
    ]
    assert sorted(dag["screen_teacher_data"]) == sorted(
        f"{r}/data/cot/qwen_a/{t}/rep0/{f}" for t in ("owl", "control") for f in ("screened.jsonl", "screen.json")
    )
    assert "judge_teacher_data" not in dag


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
