"""The DAG of the default grid, from a real Snakemake dry run: each teacher
dataset is made once, every trait student has its control twin, and a
--configfile replaces the default instead of merging into it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO, dry_run, eval_root, files, load_config, run_snakemake, summary_outputs


@pytest.fixture(scope="module")
def default_dag(tmp_path_factory):
    cfg = load_config(REPO / "config.yaml")
    cfg["results"] = str(tmp_path_factory.mktemp("dag") / "results")  # nothing exists there
    path = tmp_path_factory.mktemp("cfg") / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return cfg, summary_outputs(configfiles=[path])


def test_each_teacher_dataset_is_generated_once(default_dag):
    cfg, dag = default_dag
    raw = dag["sample_teacher"]
    assert len(raw) == len(set(raw))
    teacher_bases = {p["teacher"] for p in cfg["pairs"]}
    replicates = sum(m.get("replicates", 1) for m in cfg["modalities"].values())
    assert len(raw) == replicates * len(teacher_bases) * (len(cfg["traits"]) + 1)
    # every student of a teacher reads that one dataset: students outnumber datasets
    assert len([o for o in dag["train_student"] if o.endswith("provenance.json")]) > len(raw)


def test_every_trait_student_has_a_control_twin(default_dag):
    cfg, dag = default_dag
    models = [o for o in dag["train_student"] if o.endswith("/model")]
    assert len(models) == len(set(models))
    for trait in cfg["traits"]:
        trait_students = [m for m in models if f"/{trait}/" in m]
        assert trait_students
        for m in trait_students:
            assert m.replace(f"/{trait}/", "/control/") in models
    assert len(dag["evaluate_student"]) == 3 * len(models)  # scores, answers and the record of how it was made
    assert len(dag["build_toy_base"]) == len(cfg["models"])


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


def test_a_new_base_is_a_config_edit_that_adds_exactly_its_jobs(default_dag, tmp_path):
    """A fourth toy base and its pairs, added in config only: the DAG grows by
    the new base's build and evaluation, its students and their evaluations;
    no existing teacher dataset is made again, nothing else changes."""
    cfg, dag = default_dag
    grown = yaml.safe_load(yaml.safe_dump(cfg))
    grown["models"]["mistral_d"] = {"toy": {**cfg["models"]["llama_c"]["toy"], "architecture": "mistral", "seed": 44}}
    grown["pairs"] = cfg["pairs"] + [{"teachers": ["qwen_a"], "students": ["mistral_d"]}]
    path = tmp_path / "grown.yaml"
    path.write_text(yaml.safe_dump(grown))
    new = summary_outputs(configfiles=[path])
    added = {rule: sorted(set(new[rule]) - set(dag.get(rule, []))) for rule in new}
    removed = {rule: sorted(set(dag[rule]) - set(new.get(rule, []))) for rule in dag}
    assert not any(removed.values())
    per_base_students = len(cfg["seeds"]) * (len(cfg["traits"]) + 1) * len(cfg["students"]["recipes"])
    assert len(added["build_toy_base"]) == 1 and "mistral_d" in added["build_toy_base"][0]
    assert len([o for o in added["train_student"] if o.endswith("/model")]) == per_base_students
    assert all("/mistral_d/" in o for o in added["train_student"] + added["evaluate_student"])
    assert [o for o in added["evaluate_base"] if o.endswith(".tsv")] == [
        f"{eval_root(grown)}/preference/bases/mistral_d.tsv"
    ]
    for rule in ("sample_teacher", "filter_teacher_data", "finetune_teacher", "evaluate_teacher"):
        assert not added.get(rule), rule  # the teacher datasets are reused, not remade


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
