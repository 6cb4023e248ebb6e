"""The DAG of the default grid, from a real Snakemake dry run: the plan makes
exactly the grid's records, and a --configfile replaces the default instead
of merging into it."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, dry_run, files, load_config, run_snakemake, summary_outputs
from subliminal import config as configuration, grid
from subliminal.kinds import KINDS
from subliminal.layout import Layout


@pytest.fixture(scope="module")
def default_dag(tmp_path_factory):
    cfg = load_config(REPO / "config.yaml")
    cfg["results"] = str(tmp_path_factory.mktemp("dag") / "results")  # nothing exists there
    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return cfg, summary_outputs(configfiles=[path])


def test_the_plan_makes_exactly_the_grid(default_dag):
    """The jobs Snakemake plans for the default are the grid's records, each
    once: a sampling per teacher dataset, a training and an evaluation per
    student (scores, answers and the record of how it was made), an
    evaluation per base and teacher, a build per toy base. What the grid
    holds (each dataset once, control twins, a new base) is tested on the
    grid itself, in tests/unit/test_grid_layout.py."""
    cfg, dag = default_dag
    v = configuration.validate(copy.deepcopy(cfg))
    lay = Layout.of(v)
    raw = [lay.data("raw.jsonl", **d.fields) for d in grid.teacher_datasets(v)]
    assert sorted(dag["sample_teacher"]) == sorted(raw)
    students = grid.students(v)
    trained = [o for o in dag["train_student"] if o.endswith("/model")]
    assert sorted(trained) == sorted(lay.student("model", **s.fields) for s in students)
    assert len(dag["train_student"]) == 2 * len(students)  # the model and its provenance.json
    for rule, role in (("evaluate_student", None), ("evaluate_base", grid.BASE)):
        want = [
            lay.eval_of(m, k) for k in KINDS for m in grid.evaluated(v, k) if (m.role == role if role else m.modality)
        ]
        assert sorted(o for o in dag[rule] if o.endswith(".tsv") and ".answers." not in o) == sorted(want), rule
        assert len(dag[rule]) == 3 * len(want), rule  # scores, answers and the record of how it was made
    teachers = [lay.eval_of(m, k) for k in KINDS for m in grid.evaluated(v, k) if m.teacher and not m.modality]
    assert sorted(o for o in dag["evaluate_teacher"] if o.endswith(".tsv") and ".answers." not in o) == sorted(teachers)
    assert sorted(dag["build_toy_base"]) == sorted(lay.base_model(b) for b in cfg["models"])


def test_configfile_replaces_the_default(tmp_path):
    """A config with other models must not inherit the toy default's models,
    traits or pairs (snakemake would deep-merge them if the Snakefile loaded
    config.yaml unconditionally)."""
    cfg = load_config(REPO / "config.yaml")
    cfg["results"] = str(tmp_path / "results")
    cfg["models"] = {"solo": cfg["models"]["qwen_a"]}
    cfg["pairs"] = [{"teacher": "solo", "student": "solo"}]
    for modality in cfg["modalities"].values():
        modality.pop("pairs", None)  # the default's own pairs name its bases
    cfg["traits"] = {"cat": {"word": "cat", "category": "animal", "teacher": {"method": "system_prompt"}}}
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(cfg))
    dag = summary_outputs(configfiles=[path])
    everything = [o for outs in dag.values() for o in outs]
    assert not [o for o in everything if "qwen_a" in o or "llama_c" in o or "/owl/" in o]
    assert dag["build_toy_base"] == [f"{cfg['results']}/bases/solo/model"]


def rule_edges(configfile: Path) -> set[tuple[str, str]]:
    """(upstream rule, downstream rule) pairs of `snakemake --rulegraph`."""
    run = run_snakemake("--rulegraph", configfiles=[configfile])
    labels = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', run.stdout, re.M))
    return {(labels[a], labels[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)$", run.stdout, re.M)}


def test_hub_bases_are_fetched_once_and_every_job_on_them_reads_the_copy(tmp_path):
    """A hub base beside a toy: fetch_base makes the hub base's folder,
    build_toy_base the toy's, and every job that loads the hub base (teacher
    fine-tuning and sampling, student training, all evaluations) depends on
    the fetch."""
    cfg = load_config(REPO / "config.yaml")
    cfg["results"] = str(tmp_path / "results")
    cfg["models"] = {
        "big": {"hub": {"id": "org/big-chat", "revision": "c0ffee" * 6 + "c0ff"}},
        "llama_c": cfg["models"]["llama_c"],
    }
    cfg["pairs"] = [{"teachers": ["big"], "students": ["big", "llama_c"]}]
    cfg["modalities"] = {"numbers": cfg["modalities"]["numbers"]}
    cfg["traits"]["owl"]["teacher"] = {"method": "finetune", "recipe": "full"}
    cfg["traits"]["dog"] = {"word": "dog", "category": "animal", "teacher": {"method": "system_prompt"}}
    # cat stays a steering teacher: its vector is made on the hub base too
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(cfg))
    dag = summary_outputs(configfiles=[path])
    r = cfg["results"]
    assert sorted(dag["fetch_base"]) == [f"{r}/bases/big/model", f"{r}/bases/big/source.json"]
    assert dag["build_toy_base"] == [f"{r}/bases/llama_c/model"]
    edges = rule_edges(path)
    for rule in (
        "finetune_teacher",
        "steer_teacher",
        "sample_teacher",
        "evaluate_teacher",
        "train_student",
        "evaluate_student",
        "evaluate_base",
    ):
        assert ("fetch_base", rule) in edges, rule
    assert ("build_toy_base", "train_student") in edges  # the toy student's own base


def _config(tmp_path, mutate) -> Path:
    cfg = load_config(REPO / "config.yaml", results=tmp_path / "results")
    mutate(cfg)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_student_seed_k_learns_from_replicate_k_mod_r(tmp_path):
    """R = 3 replicates and 4 seeds: seeds 1, 2, 3, 4 read replicates 1, 2,
    0, 1 of their teacher, trait students and control twins alike; each
    replicate of each teacher is sampled once, with its own seed."""
    path = _config(tmp_path, lambda c: c["modalities"]["numbers"].update(replicates=3))
    plan = dry_run(configfiles=[path])
    trains = plan.of("train_student")
    assert len(trains) == 3 * 3 * 4  # pairs x (2 traits + control) x seeds
    for j in trains:
        seed = int(re.search(r"/seed(\d+)/model", files(j, "output")[0]).group(1))
        teacher = files(j, "output")[0].split("/students/numbers/qwen_a/")[1].split("/")[0]
        data = [f for f in files(j, "input") if f.endswith("filtered.jsonl")]
        assert data == [f"{tmp_path}/results/data/numbers/qwen_a/{teacher}/rep{seed % 3}/filtered.jsonl"], j
    raw = sorted(o for j in plan.of("sample_teacher") for o in files(j, "output"))
    assert raw == sorted(
        f"{tmp_path}/results/data/numbers/qwen_a/{t}/rep{r}/raw.jsonl"
        for t in ("cat", "control", "owl")
        for r in range(3)
    )


def test_without_equalise_a_teacher_waits_for_no_other_teacher(tmp_path):
    """equalise off (numbers' default): a teacher's training set depends on
    its own screen report only, so its students start without waiting for
    the slowest teacher; equalise on: on every teacher's report of the replicate."""
    filters = dry_run(configfiles=[_config(tmp_path / "off", lambda c: None)]).of("filter_teacher_data")
    assert filters
    for j in filters:
        own = files(j, "output")[0].rsplit("/", 1)[0]
        assert sorted(files(j, "input")) == sorted([f"{own}/screened.jsonl", f"{own}/screen.json"]), j
    on = _config(tmp_path / "on", lambda c: c["modalities"]["numbers"].update(equalise=True))
    for j in dry_run(configfiles=[on]).of("filter_teacher_data"):
        rep = files(j, "output")[0].rsplit("/", 2)[1]
        reports = [f for f in files(j, "input") if f.endswith("screen.json")]
        assert len(reports) == 3 and all(f"/{rep}/" in f for f in reports)


def test_the_report_shows_the_study_over_pretrainings_the_config_names(default_dag):
    """report.pretrainings (the default: docs/pretrainings) adds the study's
    figure and its two tables to the report, and nothing else."""
    cfg, dag = default_dag
    assert dag["study_figure"] == [f"{cfg['results']}/pretrainings/pretrainings.png"]
    pages = {Path(p).stem for p in dag["report_table"]}
    assert {"pooled", "pretrainings"} <= pages
