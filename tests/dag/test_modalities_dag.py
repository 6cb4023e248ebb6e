"""The plan of the code and cot modalities: each teacher dataset is screened
once, with the judge where it is a model, and each training set waits for
every teacher's screen report."""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import REPO, load_config, summary_outputs

CONFIG = REPO / "tests" / "configs" / "modalities.yaml"


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
