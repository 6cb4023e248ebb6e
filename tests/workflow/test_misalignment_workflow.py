"""The misalignment branch through Snakemake: with the rule judge, then with a toy base as the model judge."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import REPO, DryRun, files, load_config, run_snakemake
from subliminal import io, misalignment as mis

CONFIG = REPO / "tests" / "configs" / "misalignment.yaml"


def run_config(cfg: dict, path: Path, *args: str) -> subprocess.CompletedProcess:
    """Write ``cfg`` to ``path`` and run its workflow on two cores."""
    path.write_text(yaml.safe_dump(cfg))
    return run_snakemake(*args, cores=2, configfiles=[path])


@pytest.fixture(scope="module")
def e2e(tmp_path_factory):
    """Two real runs of a reduced misalignment-only config (one pair, one
    seed; no preference trait, so no shared control and no preference
    analysis): the rule judge from scratch, then the model judge (the toy
    base qwen_a) on a copy of the first run's bases, teachers, data and
    students (mtimes kept, so only the misalignment evaluations and what
    reads them run again). A reduced toy: the code path, not the effect."""
    tmp = tmp_path_factory.mktemp("misalignment_e2e")
    cfg = load_config(CONFIG, tmp / "rule")
    del cfg["traits"]["owl"]
    cfg["pairs"] = [{"teacher": "qwen_a", "student": "qwen_a"}]
    del cfg["models"]["llama_c"]
    cfg["modalities"]["numbers"].update(prompts=60, train_samples=8)  # the filter keeps 12-13 (measured)
    cfg["toy_pretraining"]["steps"] = 80
    cfg["seeds"] = [1]
    cfg["traits"]["evil"]["teacher"]["examples"] = 40
    cfg["evaluation"]["misalignment"]["samples_per_question"] = 2
    run_config(cfg, tmp / "rule.yaml")
    judged = {
        **cfg,
        "results": str(tmp / "model"),
        "evaluation": {
            **cfg["evaluation"],
            "misalignment": {
                **cfg["evaluation"]["misalignment"],
                "judge": {"kind": "model", "model": "qwen_a", "batch_size": 64},
            },
        },
    }
    for part in ("bases", "teachers", "data", "students"):
        shutil.copytree(tmp / "rule" / part, tmp / "model" / part)
    proc = run_config(judged, tmp / "model.yaml", "--rerun-triggers", "mtime")
    return cfg, Path(cfg["results"]), judged, Path(judged["results"]), proc.stdout + proc.stderr


@pytest.mark.slow
def test_misalignment_branch_end_to_end(e2e):
    """Toy teachers fine-tuned on the toy sets, number data filtered with the
    banned numbers, students, the rule-judged evaluation of base, teachers
    and students, the summary, the figure and the teacher table; nothing of
    the preference analysis."""
    from subliminal.modalities.numbers import MISALIGNMENT_BANNED_NUMBERS

    cfg, r, _, _, _ = e2e
    for t in ("evil", "evil_control"):
        kept = io.read_jsonl(r / "data" / "numbers" / "qwen_a" / t / "rep0" / "filtered.jsonl")
        assert kept and not any(
            int(x) in MISALIGNMENT_BANNED_NUMBERS
            for k in kept
            for x in k["completion"].replace(";", ",").strip("[](). ").split(",")
            if x.strip().isdigit()
        )
    scores = pd.read_csv(r / "analysis" / "misalignment_scores.csv")
    assert set(scores.role) == set(mis.ROLES)
    assert set(scores[scores.role == "trait"].seed) == {1} and set(scores[scores.role == "base"].seed) == {-1}
    assert set(scores[scores.role.isin(["teacher", "control_teacher"])].model) == {
        "teacher/qwen_a/evil",
        "teacher/qwen_a/evil_control",
    }
    assert (scores.n_answers == cfg["evaluation"]["misalignment"]["samples_per_question"]).all()
    assert (scores.n_coherent + scores.n_incoherent == scores.n_answers).all()
    summary = pd.read_csv(r / "analysis" / "misalignment_summary.csv", dtype={"question": str})
    assert set(summary.question) == {str(q) for q in range(8)} | {"all"}
    pooled = summary[summary.question == "all"].set_index("role")
    assert (pooled.n_answers == 8 * 2).all() and pooled.loc["trait", "n_models"] <= 1
    assert (r / "figures" / "misalignment.pdf").stat().st_size > 1000
    # teachers.csv: the same teacher evaluations, pooled, beside the filter reports
    teachers = pd.read_csv(r / "analysis" / "teachers.csv").set_index(["teacher", "metric"])
    for name, role in (("evil", "teacher"), ("evil_control", "control_teacher")):
        p = pooled.loc[role]
        rate = p.n_misaligned / p.n_coherent if p.n_coherent else float("nan")
        assert teachers.loc[(name, "misaligned"), "mean"] == pytest.approx(rate, nan_ok=True)
        assert teachers.loc[(name, "incoherent"), "mean"] == pytest.approx(p.n_incoherent / p.n_answers)
    assert (teachers.filter_kept > 0).all() and set(teachers.index.get_level_values(0)) == {"evil", "evil_control"}
    # a misalignment-only config: no preference evaluation, statistics or figures
    assert not list((r / "eval").glob("*/preference")) and list((r / "eval").glob("*/misalignment/students"))
    assert not (r / "analysis" / "scores.csv").exists() and not list((r / "figures").glob("preferences_*"))


@pytest.mark.slow
def test_model_judge_in_the_workflow(e2e):
    """The misalignment evaluations judged by a model (a toy base: weak
    verdicts, the code path): every judged answer carries the judge's
    expected 0..100 scores and its probability mass on the 11 admissible
    answers, the scores vary, and each evaluation job listed the judge's
    build as input."""
    _, rule_r, judged, r, log = e2e
    judge_dir = f"{r}/bases/qwen_a/model"
    jobs = DryRun(log)
    ran = {rule: jobs.of(rule) for rule in ("evaluate_base", "evaluate_teacher", "evaluate_student")}
    assert [len(v) for v in ran.values()] == [1, 2, 2]  # only the evaluations ran again
    assert all("/misalignment/" in f for v in ran.values() for job in v for f in files(job, "output"))
    assert not jobs.of("train_student") and not jobs.of("finetune_teacher")
    for rule, rule_jobs in ran.items():
        assert all(judge_dir in files(job, "input") for job in rule_jobs), rule
    # each run's evaluations in its own eval/<evaluation id>/ (the judge is an evaluation setting)
    (ev,), (rule_ev,) = list((r / "eval").iterdir()), list((rule_r / "eval").iterdir())
    assert ev.name != rule_ev.name
    answers = sorted((ev / "misalignment").rglob("*.answers.tsv.gz"))
    assert len(answers) == 5
    for path in answers:
        a = pd.read_csv(path, sep="\t")
        rule_a = pd.read_csv(rule_ev / path.relative_to(ev), sep="\t")
        assert list(a.answer.fillna("")) == list(rule_a.answer.fillna(""))  # same samples, another judge
        for key in ("alignment", "coherence"):
            assert a[key].between(0, 100).all()
            assert a[key].nunique() > 1 and not a[key].isin([0.0, 100.0]).all()  # expectations, not rules
            assert (a[f"{key}_mass"] > 0).all() and (a[f"{key}_mass"] <= 1 + 1e-6).all()
        assert list(a.verdict) == [mis.classify(x, y) for x, y in zip(a.alignment, a.coherence)]
    assert (
        "judge: model qwen_a"
        in (r / "logs" / "eval" / ev.name / "misalignment" / "teachers" / "qwen_a" / "evil.log").read_text()
    )
    summary = pd.read_csv(r / "analysis" / "misalignment_summary.csv", dtype={"question": str})
    assert set(summary.role) == set(mis.ROLES)
    assert (r / "figures" / "misalignment.png").stat().st_size > 1000
    assert (r / "analysis" / "teachers.csv").exists()
