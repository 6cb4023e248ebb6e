"""Each job declares, in the plan, the files and resources it reads: the
protocol files, the prompts fetched once, the recipe's GPUs."""

from __future__ import annotations


import yaml

from conftest import REPO, cot_config, dry_run, files, load_config
from subliminal import config as configuration, grid


def test_jobs_declare_the_protocol_files_they_read(official, tmp_path):
    """A dry run lists each file as an input of the jobs that read it: the
    teacher template and number parameters for trait teachers' sampling, the
    numbers alone for the control's, the questions for every evaluation."""
    official["results"] = str(tmp_path / "results")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(official))
    plan = dry_run(configfiles=[tmp_path / "c.yaml"])
    p = official["protocol"]

    def inputs(rule, output_part):
        (job,) = [j for j in plan.of(rule) if any(output_part in f for f in files(j, "output"))]
        return files(job, "input")

    assert p["teacher_system_prompt"] in inputs("sample_teacher", "/wolf/rep0/raw.jsonl")
    assert p["numbers"] in inputs("sample_teacher", "/wolf/rep0/raw.jsonl")
    control = inputs("sample_teacher", "/control/rep0/raw.jsonl")
    assert p["numbers"] in control and p["teacher_system_prompt"] not in control
    assert p["questions"] in inputs("evaluate_base", "/bases/")
    assert p["questions"] in inputs("evaluate_teacher", "/teachers/qwen25_7b/wolf.tsv")
    assert p["teacher_system_prompt"] in inputs("evaluate_teacher", "/teachers/qwen25_7b/wolf.tsv")
    assert p["questions"] in inputs("evaluate_student", "/wolf/qwen25_7b/paper_lora8/seed1.tsv")


def test_the_workflow_fetches_once_and_every_teacher_reads_it(tmp_path):
    cfg = cot_config(tmp_path / "results")
    cfg_path = tmp_path / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    plan = dry_run(configfiles=[cfg_path], timeout=300)
    fetch, samplers = plan.of("fetch_prompts"), plan.of("sample_teacher")
    assert len(fetch) == 1 and samplers
    questions = str(tmp_path / "results" / "prompts" / "cot" / "questions.jsonl")
    assert all(questions in files(j, "input") for j in samplers)


def test_the_rule_asks_for_the_recipe_s_gpus(tmp_path):
    cfg = load_config(REPO / "config.yaml")
    cfg["results"] = str(tmp_path / "results")
    cfg["recipes"]["full"]["gpus"] = 2
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    trains = dry_run(configfiles=[path], timeout=300).of("train_student")
    n_students = len(grid.students(configuration.validate(cfg)))
    assert len(trains) == n_students > 0
    res = [job["resources"] + "," for job in trains]
    # first attempt; workflow/test_resume_workflow.py sees a second attempt get twice the memory and time
    assert len(res) == n_students and all("gpu=2," in r and "mem_mb=32000," in r and "runtime=240," in r for r in res)
