"""The grid's records, the layout's paths and the schema's defaults: each
concept has one home, and the homes agree with each other."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from subliminal import config as configuration, grid, layout
from subliminal.kinds import KINDS
from conftest import REPO, load_config

SHIPPED = [
    REPO / "config.yaml",
    *sorted((REPO / "configs").glob("paper-*.yaml")),
    *sorted((REPO / "tests/configs").glob("*.yaml")),
]


@pytest.fixture
def cfg(tmp_path):
    out = load_config(REPO / "tests/configs/misalignment.yaml")
    out["results"] = str(tmp_path / "results")
    return configuration.validate(out)


# ----------------------------------------------------------------------------- defaults


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_defaults_are_applied_once_and_a_second_validation_changes_nothing(path):
    cfg = configuration.validate(load_config(path))
    again = configuration.validate(copy.deepcopy(cfg))  # a job validates the config it was given again
    assert again == cfg
    for name, recipe in cfg["recipes"].items():
        assert recipe["grad_accum"] >= 1 and recipe["scheduler"] and recipe["optimizer"] in ("adamw", "sgd"), name
    assert {"alpha", "power", "correction"} <= set(cfg["analysis"])
    assert cfg["chat"].keys() == {"teacher_system_prompt", "train_system_prompt", "eval_system_prompt"}


def test_a_default_belongs_to_its_method_or_kind_alone():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    mis = configuration.validate(load_config(REPO / "tests/configs/misalignment.yaml"))
    steering = cfg["traits"]["owl"]["teacher"]
    assert steering["method"] == "steering" and steering["steps"] == 200 and steering["learning_rate"] == 0.05
    prompt = mis["traits"]["owl"]["teacher"]
    assert prompt["method"] == "system_prompt" and not set(configuration.STEERING_KEYS) & set(prompt)
    assert prompt["repeats"] == 1 and "examples" not in prompt
    evil = mis["traits"]["evil"]["teacher"]
    assert evil["examples"] == 160 and "repeats" not in evil  # given, not defaulted; no preference key


def test_a_default_fills_only_what_is_left_out():
    schema = configuration.load_schema()
    recipe = {"method": "full", "epochs": 1, "learning_rate": 0.1, "batch_size": 4, "grad_accum": 3}
    done = configuration.recipe(recipe)
    assert done.grad_accum == 3 and done.max_length == 500 and done.gpus == 1
    assert recipe == {"method": "full", "epochs": 1, "learning_rate": 0.1, "batch_size": 4, "grad_accum": 3}
    assert schema["$defs"]["recipe"]["properties"]["max_length"]["default"] == 500


# ----------------------------------------------------------------------------- the grid's records


def test_teacher_records_say_what_each_teacher_is(cfg):
    lay = layout.Layout.of(cfg)
    owl = grid.teacher(cfg, "qwen_a", "owl")
    assert (owl.trait, owl.role, owl.kind, owl.method) == ("owl", "trait", "preference", "system_prompt")
    assert owl.model_dir == grid.model_source(cfg, "qwen_a") and owl.made == [] and "owl" in owl.system_prompt
    control = grid.teacher(cfg, "qwen_a", grid.CONTROL)
    assert (control.trait, control.role, control.method, control.system_prompt) == (None, "control", "control", None)
    evil = grid.teacher(cfg, "qwen_a", "evil_control")
    assert (evil.trait, evil.role, evil.kind, evil.method) == ("evil", "control", grid.MISALIGNMENT, "finetune")
    assert evil.model_dir == lay.teacher("model", "qwen_a", "evil_control") == evil.made[0]


def test_a_steering_teacher_loads_its_base_with_its_vector():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    t = grid.teacher(cfg, "qwen_a", "cat")
    assert t.method == "steering" and t.model_dir == grid.model_source(cfg, "qwen_a")
    assert t.steering == layout.Layout.of(cfg).teacher("steering.safetensors", "qwen_a", "cat") and t.made == [
        t.steering
    ]


def test_a_student_reads_its_teachers_replicate_and_its_twin_the_same_one():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    for s in grid.students(cfg):
        d = grid.student_dataset(cfg, s)
        twin = grid.student_dataset(cfg, s.twin(grid.CONTROL))
        assert d.replicate == twin.replicate == s.seed % cfg["modalities"][s.modality]["replicates"]
        assert d.seed == twin.seed == grid.replicate_seed(cfg, s.modality, d.replicate)
    assert {(d.modality, d.teacher_base, d.teacher, d.replicate) for d in grid.teacher_datasets(cfg)} >= {
        (d.modality, d.teacher_base, d.teacher, d.replicate)
        for d in map(lambda s: grid.student_dataset(cfg, s), grid.students(cfg))
    }


def test_pairs_carry_their_relation():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    pairs = grid.study_pairs(cfg)
    assert {(p.teacher_base, p.student_base): p.relation for p in pairs} == grid.relations(cfg)
    assert [p.matched for p in pairs] == [p.relation == grid.SAME_BASE for p in pairs]


# ----------------------------------------------------------------------------- the default grid
# (tests/dag/test_dag.py checks once that the default plan makes exactly this grid)


@pytest.fixture(scope="module")
def default():
    return configuration.validate(load_config(REPO / "config.yaml"))


def test_each_teacher_dataset_is_made_once_and_read_by_several_students(default):
    datasets = grid.teacher_datasets(default)
    assert len({tuple(d.fields.values()) for d in datasets}) == len(datasets)
    teacher_bases = {p["teacher"] for p in default["pairs"]}
    replicates = sum(m["replicates"] for m in default["modalities"].values())
    assert len(datasets) == replicates * len(teacher_bases) * (len(default["traits"]) + 1)
    read = [grid.student_dataset(default, s) for s in grid.students(default)]
    assert set(read) == set(datasets) and len(read) > len(datasets)


def test_every_trait_student_has_a_control_twin(default):
    students = grid.students(default)
    assert len(set(students)) == len(students)
    for trait in default["traits"]:
        of_trait = [s for s in students if s.teacher == trait]
        assert of_trait
        for s in of_trait:
            assert s.twin(grid.control_teacher(default, trait)) in students
    evaluated = [m for kind in KINDS for m in grid.evaluated(default, kind) if m.modality]
    assert sorted(m.model for m in evaluated) == sorted(s.path for s in students)  # each evaluated once


def test_a_new_base_is_a_config_edit_that_adds_exactly_its_students(default):
    """A fourth toy base and its pairs, added in config only: the grid grows
    by the new base's students (every trait, the control, each seed and
    recipe) and its evaluation as a base; every teacher dataset stays."""
    grown = copy.deepcopy(default)
    grown["models"]["mistral_d"] = {
        "toy": {**default["models"]["llama_c"]["toy"], "architecture": "mistral", "seed": 44}
    }
    grown["pairs"] = default["pairs"] + [{"teachers": ["qwen_a"], "students": ["mistral_d"]}]
    grown = configuration.validate(grown)
    before, after = set(grid.students(default)), set(grid.students(grown))
    added = after - before
    assert before <= after
    assert {s.student_base for s in added} == {"mistral_d"}
    per_base = len(default["seeds"]) * (len(default["traits"]) + 1) * len(default["students"]["recipes"])
    assert len(added) == per_base * len(default["modalities"])
    assert grid.teacher_datasets(grown) == grid.teacher_datasets(default)  # reused, not made again
    for kind in KINDS:
        bases = {m.model for m in grid.evaluated(grown, kind) if m.role == grid.BASE}
        assert bases - {m.model for m in grid.evaluated(default, kind) if m.role == grid.BASE} <= {"base/mistral_d"}
    assert "base/mistral_d" in {m.model for m in grid.evaluated(grown, grid.PREFERENCE)}


# ----------------------------------------------------------------------------- the layout


def test_a_pattern_filled_with_a_record_is_that_records_path(cfg):
    lay = layout.Layout.of(cfg)
    s = grid.students(cfg)[0]
    assert lay.student("model").format(**s.fields) == lay.student("model", **s.fields)
    assert lay.eval_student().format(trait_kind="misalignment", **s.fields) == lay.eval_student(
        trait_kind="misalignment", **s.fields
    )
    d = grid.teacher_datasets(cfg)[0]
    assert lay.data("raw.jsonl").format(**d.fields) == lay.data("raw.jsonl", **d.fields)
    assert (
        lay.log(lay.data("raw.jsonl"))
        == lay.data("raw.jsonl").replace("/data/", "/logs/data/").removesuffix(".jsonl") + ".log"
    )
    assert (
        lay.benchmark(lay.eval_base())
        == f"{cfg['results']}/benchmarks/eval/{lay.eval_id}/{{trait_kind}}/bases/{{base}}.tsv"
    )


def test_every_trait_kind_the_schema_allows_is_in_the_registry():
    schema = configuration.load_schema()
    kinds_allowed = schema["properties"]["traits"]["additionalProperties"]["properties"]["kind"]["enum"]
    assert sorted(kinds_allowed) == sorted(KINDS) and all(k.name == name for name, k in KINDS.items())


def test_the_evaluation_id_changes_with_the_evaluation_alone(cfg):
    first = layout.evaluation_id(cfg)
    assert re.fullmatch(r"[0-9a-f]{10}", first)
    changed = copy.deepcopy(cfg)
    changed["chat"]["eval_system_prompt"] = ""
    assert layout.evaluation_id(changed) != first
    trained = copy.deepcopy(cfg)
    trained["chat"]["train_system_prompt"] = ""
    trained["seeds"] = [7]
    trained["recipes"]["lora8"]["rank"] = 4
    assert layout.evaluation_id(trained) == first  # what students are does not move their evaluations
    named = copy.deepcopy(cfg)
    named["evaluation"]["name"] = "ablation"
    assert layout.evaluation_id(named) == first  # the name says where the analysis goes, not what it is
    assert (
        layout.Layout.of(named).analysis("scores.csv") == f"{cfg['results']}/evaluations/ablation/analysis/scores.csv"
    )
    assert layout.Layout.of(cfg).analysis("scores.csv") == f"{cfg['results']}/analysis/scores.csv"


def test_every_evaluated_model_has_its_own_evaluation_file_and_identity(cfg):
    lay = layout.Layout.of(cfg)
    for kind in KINDS:
        models = grid.evaluated(cfg, kind)
        assert len({lay.eval_of(m, kind) for m in models}) == len({m.model for m in models}) == len(models)
    models = {m.model: m for m in grid.evaluated(cfg, grid.PREFERENCE)}
    s = next(s for s in grid.students(cfg) if s.teacher == "owl")
    assert lay.eval_of(models[s.path], "preference") == lay.eval_student(trait_kind="preference", **s.fields)
    assert models[s.path].identity(lay.eval_id) == {
        "evaluation": lay.eval_id,
        "model": s.path,
        "role": "trait",
        **s.fields,
        "replicate": grid.replicate_of(cfg, s),
    }
    assert models[s.twin("control").path].role == "control"
    assert (
        lay.eval_of(models["base/qwen_a"], "preference")
        == f"{lay.results}/eval/{lay.eval_id}/preference/bases/qwen_a.tsv"
    )
    assert models["base/qwen_a"].identity("x")["seed"] == -1
    teacher = models["teacher/qwen_a/owl"]
    assert (teacher.role, lay.eval_of(teacher, "misalignment")) == (
        "teacher",
        lay.eval_teacher(teacher_base="qwen_a", teacher="owl", trait_kind="misalignment"),
    )
    assert models["teacher/qwen_a/control"].role == "control_teacher"


# ----------------------------------------------------------------------------- the module table


def test_the_design_page_lists_every_module():
    text = (REPO / "docs" / "design.md").read_text()
    table = text[text.index("| module | |") :].split("\n\n")[0]
    listed = set(re.findall(r"`([a-z_]+)(?:\.py|/)`", table))
    src = REPO / "src" / "subliminal"
    modules = {p.stem for p in src.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in src.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    }
    assert modules - listed == set(), "modules missing from docs/design.md's table"
    assert listed - modules == set(), "docs/design.md's table lists modules that do not exist"


def test_compare_runs_finds_a_changed_byte_and_ignores_gzip_times(tmp_path, capsys):
    """experiments/compare_runs.py, the check of a refactoring: two runs
    whose files are equal (gzip headers apart, an evaluation moved into its
    id's folder) compare equal; one changed byte is named."""
    import gzip
    import importlib.util
    import time

    spec = importlib.util.spec_from_file_location("compare_runs", REPO / "experiments" / "compare_runs.py")
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)

    def run(root: Path, eval_dir: str, value: str) -> Path:
        for rel, text in {"data/numbers/a/owl/rep0/raw.jsonl": '{"x": 1}\n', "analysis/scores.csv": value}.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        answers = root / eval_dir / "bases" / "a.answers.tsv.gz"
        answers.parent.mkdir(parents=True)
        answers.write_bytes(gzip.compress(b"answer\nowl\n", mtime=time.time()))
        return root

    before = run(tmp_path / "before", "eval", "v\n1\n")
    time.sleep(1.1)  # another gzip header time
    after = run(tmp_path / "after", "eval/0123456789", "v\n1\n")
    assert compare.main(str(before), str(after)) == 0
    (after / "analysis" / "scores.csv").write_text("v\n2\n")
    assert compare.main(str(before), str(after)) == 1
    assert "differs: analysis/scores.csv" in capsys.readouterr().out
    # an evaluation table that opens with its identity columns (since issue
    # 20) is compared without them with one of a run made before
    table = "category\tvalue\nanimal\t0.5\n"
    ident = "\t".join(grid.IDENTITY) + "\t"
    (before / "eval" / "bases" / "a.tsv").write_text(table)
    (after / "analysis" / "scores.csv").write_text("v\n1\n")
    (after / "eval/0123456789/preference/bases").mkdir(parents=True)
    (after / "eval/0123456789/bases/a.answers.tsv.gz").rename(
        after / "eval/0123456789/preference/bases/a.answers.tsv.gz"
    )
    (after / "eval/0123456789/preference/bases/a.tsv").write_text(
        ident + "category\tvalue\n" + "x\t" * 10 + "animal\t0.5\n"
    )
    assert compare.main(str(before), str(after)) == 0
    assert "1 evaluation tables compared without their identity columns" in capsys.readouterr().out
    (after / "eval/0123456789/preference/bases/a.tsv").write_text(
        ident + "category\tvalue\n" + "x\t" * 10 + "animal\t0.6\n"
    )
    assert compare.main(str(before), str(after)) == 1
    assert compare.IDENTITY == grid.IDENTITY
