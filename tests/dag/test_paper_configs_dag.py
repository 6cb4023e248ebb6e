"""The paper-scale configs planned here: job counts that match the grid
(counted from the YAML by hand, not by the package's grid code), the
evaluation-only overlays reusing the paper run's data and students, the
host memory model jobs ask for, and the DAG-build benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO, dry_run, load_config, snakemake_env, summary_outputs

CONFIGS = REPO / "configs"
PAPER = ["paper-qwen.yaml", "paper-cross.yaml"]
OVERLAY = "ablation-eval-without-default-prompt.yaml"
PLAIN = "eval-plain-questions.yaml"
#: The rules whose jobs depend on the evaluation settings.
EVALUATION_RULES = {
    "evaluate_base",
    "evaluate_teacher",
    "evaluate_student",
    "collect_scores",
    "collect_targets",
    "collect_teachers",
    "collect_misalignment",
    "collect_provenance",
    "statistics",
    "figure",
    "specificity_figures",
    "placebo_figure",
    "cross_model_figures",
    "misalignment_figure",
    "report_table",
    "all",
}


def planned(*configfiles: str, results: Path) -> dict[str, int]:
    """rule -> job count from `snakemake -n`, with the results folder moved
    to an empty place (a second configfile, merged last)."""
    override = results.parent / f"{results.name}.results.yaml"
    override.write_text(yaml.safe_dump({"results": str(results)}))
    return dry_run(configfiles=[*(CONFIGS / c for c in configfiles), override]).counts


@pytest.fixture(scope="module")
def dags(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    return {name: planned(name, results=root / name.removesuffix(".yaml")) for name in PAPER}


@pytest.mark.parametrize("name", PAPER)
def test_dry_run_job_counts_follow_the_grid(dags, name):
    cfg = load_config(CONFIGS / name)
    jobs = dags[name]
    # the grid by hand: pairs as written (a {teachers, students} entry is a cross product)
    pairs = set()
    for p in cfg["pairs"]:
        pairs |= (
            {(p["teacher"], p["student"])} if "teacher" in p else {(t, s) for t in p["teachers"] for s in p["students"]}
        )
    teacher_bases = {t for t, _ in pairs}
    student_bases = {s for _, s in pairs}
    teachers = len(cfg["traits"]) + 1  # every trait and the control
    students = len(pairs) * teachers * len(cfg["seeds"]) * len(cfg["students"]["recipes"])
    datasets = len(teacher_bases) * teachers * len(cfg["modalities"])
    expected = {
        "fetch_base": len(teacher_bases | student_bases),
        "sample_teacher": datasets,
        "filter_teacher_data": datasets,
        "evaluate_teacher": datasets,
        "train_student": students,
        "evaluate_student": students,
        "evaluate_base": len(student_bases),
    }
    assert {k: jobs.get(k, 0) for k in expected} == expected
    assert "build_toy_base" not in jobs and "finetune_teacher" not in jobs and "auxlogit" not in jobs


def test_qwen_dry_run_totals(dags):
    """The numbers the README quotes."""
    assert dags["paper-qwen.yaml"]["train_student"] == 176 and dags["paper-cross.yaml"]["train_student"] == 288


@pytest.mark.parametrize("overlay, name", [(OVERLAY, "without-default-prompt"), (PLAIN, "plain-questions")])
def test_the_overlay_reuses_the_teacher_data_and_students(tmp_path, overlay, name):
    """Every job of the paper run outside evaluation and analysis (bases,
    teachers, their data, students) makes the very files the overlay's run
    needs, so with the paper run done the overlay adds only evaluation and
    analysis jobs; those write to new places (eval/<new id>/ and
    evaluations/<name>/), so the paper run's own results stay."""
    override = tmp_path / "results.yaml"
    override.write_text(yaml.safe_dump({"results": str(tmp_path / "results")}))
    paper = summary_outputs(configfiles=[CONFIGS / "paper-qwen.yaml", override])
    overlay = summary_outputs(configfiles=[CONFIGS / "paper-qwen.yaml", CONFIGS / overlay, override])
    for rule in set(paper) | set(overlay):
        if rule not in EVALUATION_RULES:
            assert sorted(overlay.get(rule, [])) == sorted(paper.get(rule, [])), rule
    assert "train_student" in overlay and "sample_teacher" in overlay  # the rules are in both: the same files
    for rule in EVALUATION_RULES & set(overlay) - {"all"}:
        assert not set(overlay[rule]) & set(paper.get(rule, [])), rule  # nothing of the paper run is overwritten
    new = [o for rule in EVALUATION_RULES & set(overlay) for o in overlay[rule]]
    analysis = [o for o in new if "/analysis/" in o or "/figures/" in o or "/report/" in o]
    assert analysis and all(o.startswith(f"{tmp_path}/results/evaluations/{name}/") for o in analysis)
    ids = {o.split("/eval/")[1].split("/")[0] for rule in paper for o in paper[rule] if "/eval/" in o}
    new_ids = {o.split("/eval/")[1].split("/")[0] for o in new if "/eval/" in o}
    assert len(ids) == len(new_ids) == 1 and ids != new_ids


def test_dag_build_benchmark_counts_the_grown_grid(tmp_path, monkeypatch):
    """benchmarks/dag_build.py: the grown grid is the grid times the factor
    along its axis, and the table it writes has the dry run's job counts."""
    monkeypatch.setenv("PATH", snakemake_env()["PATH"])  # its four Snakemake calls use no SLURM
    sys.path.insert(0, str(REPO / "benchmarks"))
    import dag_build

    cfg = load_config(CONFIGS / "paper-qwen.yaml")
    seeds = dag_build.grow(cfg, "seeds", 10)["seeds"]
    assert len(seeds) == len(set(seeds)) == 80 and seeds[:8] == cfg["seeds"]
    traits = dag_build.grow(cfg, "traits", 2)["traits"]
    assert len(traits) == 42 and traits["panda_1"] == cfg["traits"]["panda"]
    out = tmp_path / "dag.md"
    assert (
        dag_build.main(
            ["configs/paper-qwen.yaml", "--axis", "traits", "--factor", "2", "--repeats", "1", "--out", str(out)]
        )
        == 0
    )
    rows = [ln.split("|")[1:-1] for ln in out.read_text().splitlines()[2:]]
    assert [(r[0].strip(), int(r[2])) for r in rows] == [("paper-qwen", 176), ("paper-qwen x2 traits", 43 * 8)]
    # every trait adds its teacher dataset's jobs and 8 students with their evaluations
    assert int(rows[1][1]) - int(rows[0][1]) >= 21 * (2 + 2 * 8)
    assert all(float(r[3]) > 0 for r in rows)


def test_model_jobs_ask_for_the_configured_host_memory(tmp_path):
    """A 7B base is read into host RAM before it moves to the GPU: the paper
    config's resources.model_mem_mb / train_mem_mb reach the jobs."""
    override = tmp_path / "results.yaml"
    override.write_text(yaml.safe_dump({"results": str(tmp_path / "r")}))
    plan = dry_run(configfiles=[CONFIGS / "paper-qwen.yaml", override])
    cfg = load_config(CONFIGS / "paper-qwen.yaml")["resources"]
    blocks = {
        rule: plan.of(rule)[0]["resources"] + "," for rule in ("train_student", "sample_teacher", "evaluate_student")
    }
    assert f"mem_mb={cfg['train_mem_mb']}," in blocks["train_student"]
    assert f"mem_mb={cfg['model_mem_mb']}," in blocks["sample_teacher"]
    assert f"mem_mb={cfg['model_mem_mb']}," in blocks["evaluate_student"]
