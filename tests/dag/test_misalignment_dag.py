"""The misalignment branch's plan: which models each role's evaluation
covers, by trait kind, and which jobs wait for the judge."""

from __future__ import annotations

from pathlib import Path

import yaml

from conftest import REPO, DryRun, dry_run, eval_root, files, load_config, summary_outputs

CONFIG = REPO / "tests" / "configs" / "misalignment.yaml"


def planned_outputs(cfg: dict, tmp_path: Path) -> dict[str, list[str]]:
    """rule -> output files of the config's default target, from
    `snakemake --summary` (a dry plan: no job runs)."""
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return summary_outputs(configfiles=[path])


def dry_run_jobs(cfg: dict, tmp_path: Path) -> DryRun:
    """The plan of `snakemake -n` for a config."""
    path = tmp_path / "dry.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return dry_run(configfiles=[path])


def evaluations(dag: dict, role: str, kind: str) -> list[str]:
    """The evaluation tables the plan makes of one role's models of one
    trait kind (one rule per role; the kind is a folder below eval/<id>/)."""
    return sorted(f for f in dag.get(f"evaluate_{role}", []) if f.endswith(".tsv") and f"/{kind}/" in f)


def test_dag_evaluates_trait_and_control_students_and_the_bases(tmp_path):
    cfg = load_config(CONFIG, tmp_path / "results")
    r, e = cfg["results"], eval_root(cfg)
    dag = planned_outputs(cfg, tmp_path)
    assert sorted(dag["finetune_teacher"]) == [  # each fine-tuned teacher with its provenance beside it
        f"{r}/teachers/qwen_a/{t}/{leaf}" for t in ("evil", "evil_control") for leaf in ("model", "provenance.json")
    ]
    assert evaluations(dag, "student", "misalignment") == sorted(
        f"{e}/misalignment/students/numbers/qwen_a/{t}/{sb}/lora8/seed{s}.tsv"
        for t in ("evil", "evil_control")
        for sb in ("qwen_a", "llama_c")
        for s in (1, 2)
    )
    assert evaluations(dag, "base", "misalignment") == [
        f"{e}/misalignment/bases/llama_c.tsv",
        f"{e}/misalignment/bases/qwen_a.tsv",
    ]
    assert f"{r}/figures/misalignment.png" in dag["misalignment_figure"]
    # both misalignment teachers' data go through the number filter
    assert {f"{r}/data/numbers/qwen_a/{t}/rep0/screen.json" for t in ("evil", "evil_control")} <= set(
        dag["screen_teacher_data"]
    )
    # the teacher and its control teacher are evaluated for misalignment, on their base
    assert evaluations(dag, "teacher", "misalignment") == [
        f"{e}/misalignment/teachers/qwen_a/evil.tsv",
        f"{e}/misalignment/teachers/qwen_a/evil_control.tsv",
    ]
    # only the preference branch (owl and the shared control) takes the 50 animal questions
    assert evaluations(dag, "teacher", "preference") == [
        f"{e}/preference/teachers/qwen_a/control.tsv",
        f"{e}/preference/teachers/qwen_a/owl.tsv",
    ]
    assert evaluations(dag, "student", "preference") == sorted(
        f"{e}/preference/students/numbers/qwen_a/{t}/{sb}/lora8/seed{s}.tsv"
        for t in ("owl", "control")
        for sb in ("qwen_a", "llama_c")
        for s in (1, 2)
    )
    assert {f"{r}/analysis/scores.csv", f"{r}/analysis/summary.txt"} <= set(dag["collect_scores"] + dag["statistics"])
    assert dag["collect_teachers"] == [f"{r}/analysis/teachers.csv"]


def test_dag_of_a_config_with_only_misalignment_traits(tmp_path):
    """No preference trait: no shared control, no preference evaluation,
    statistics or preference figures (no rows to test); the teacher table
    (misalignment rates beside the filter reports) and the misalignment
    branch remain."""
    cfg = load_config(CONFIG, tmp_path / "results")
    del cfg["traits"]["owl"]
    r = cfg["results"]
    dag = planned_outputs(cfg, tmp_path)
    assert set(dag) == {
        "build_toy_base",
        "finetune_teacher",
        "sample_teacher",
        "screen_teacher_data",
        "filter_teacher_data",
        "train_student",
        "evaluate_base",
        "evaluate_teacher",
        "evaluate_student",
        "collect_teachers",
        "collect_misalignment",
        "collect_provenance",  # how every evaluated model was made (members.json)
        "misalignment_figure",
        "report_table",  # the report's pages of teachers.csv and the misalignment summary
    }
    assert sorted(f for f in dag["sample_teacher"]) == [
        f"{r}/data/numbers/qwen_a/{t}/rep0/raw.jsonl" for t in ("evil", "evil_control")
    ]
    assert len([f for f in dag["train_student"] if f.endswith("/model")]) == 2 * 2 * 2  # 2 teachers x 2 pairs x 2 seeds
    for role, n in (("base", 2), ("teacher", 2), ("student", 8)):  # no preference evaluation at all
        assert len(evaluations(dag, role, "misalignment")) == len(dag[f"evaluate_{role}"]) / 3 == n, role
    jobs = dry_run_jobs(cfg, tmp_path)
    [target] = jobs.of("all")
    assert sorted(files(target, "input")) == sorted(
        [
            f"{r}/analysis/teachers.csv",
            f"{r}/analysis/members.json",
            f"{r}/analysis/misalignment_summary.csv",
            f"{r}/figures/misalignment.png",
            f"{r}/figures/misalignment.pdf",
            f"{r}/report/tables/teachers.html",  # the report's table pages
            f"{r}/report/tables/misalignment.html",
        ]
    )


def test_rules_that_judge_list_the_judge_model_as_input(tmp_path):
    """With a model judge (here llama_c, which the teacher evaluation would
    not otherwise load) every misalignment evaluation waits for the judge's
    build; with the rule judge none does."""
    cfg = load_config(CONFIG, tmp_path / "results")
    r = cfg["results"]
    judge_dir = f"{r}/bases/llama_c/model"

    def judged(jobs, rule, kind="misalignment"):  # the rule's evaluations of a kind: how many wait for the judge
        evaluations = [job for job in jobs.of(rule) if any(f"/{kind}/" in f for f in files(job, "output"))]
        return len(evaluations), sum(judge_dir in files(job, "input") for job in evaluations)

    rules = ("evaluate_base", "evaluate_teacher", "evaluate_student")
    assert judged(dry_run_jobs(cfg, tmp_path), "evaluate_teacher") == (2, 0)
    cfg["evaluation"]["misalignment"]["judge"] = {"kind": "model", "model": "llama_c"}
    jobs = dry_run_jobs(cfg, tmp_path)
    assert [judged(jobs, rule) for rule in rules] == [(2, 2), (2, 2), (8, 8)]
    assert judged(jobs, "evaluate_teacher", "preference") == (2, 0)  # the preference evaluations do not
