"""Every result belongs to the config and code that made it.

Each rule declares the slice of the config its job reads (subliminal.slices)
as params, so an edit reruns exactly the jobs whose slice holds the edited
value, and what depends on them. Checked on a finished default run made
here with ``snakemake --touch --forceall`` (every output exists and every
job's metadata is recorded; no job runs), in a copy of the workflow so that
a source edit touches no file of this checkout. The members' records
(code hash and config fingerprint) and the warning they give are tested
at the end.
"""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REPO, dry_run, load_config, run_snakemake
from subliminal import config as configuration, grid, preferences, provenance, slices

SHIPPED = [
    REPO / "config.yaml",
    *sorted((REPO / "configs").glob("paper-*.yaml")),
    *sorted((REPO / "tests/configs").glob("*.yaml")),
]


# ----------------------------------------------------------------------------- slices, without Snakemake


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_slices_hold_what_the_grid_derives_from_them(path, tmp_path, monkeypatch):
    """The target words and trait words computed from an evaluation's or a
    screen's slice are the whole config's (the slices keep only what these
    derivations read)."""
    monkeypatch.chdir(REPO)  # the configs' files are named from the repository
    cfg = configuration.validate({**load_config(path), "results": str(tmp_path / "results")})
    base = next(iter(cfg["models"]))
    teachers = grid.teacher_names(cfg)
    assert grid.target_words(slices.evaluate(cfg, base)) == grid.target_words(cfg)
    for m in cfg["modalities"]:
        for t in teachers:
            assert grid.trait_words(slices.screen_teacher_data(cfg, m, t)) == grid.trait_words(cfg)


def test_a_new_trait_with_a_candidate_word_changes_no_evaluation_slice():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    word = next(w for w in preferences.CANDIDATES["animal"] if w not in ("owl", "cat"))
    grown = copy.deepcopy(cfg)
    grown["traits"][word] = {**copy.deepcopy(cfg["traits"]["owl"]), "word": word}
    for base in cfg["models"]:
        assert slices.evaluate(grown, base) == slices.evaluate(cfg, base)
    # ... but every teacher's data is screened for the new word too
    assert slices.screen_teacher_data(grown, "numbers", "owl") != slices.screen_teacher_data(cfg, "numbers", "owl")


def test_params_leave_out_the_results_folder_and_ignore_key_order():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    s = grid.students(cfg)[0]
    one = slices.train_student(cfg, s)
    moved = slices.train_student({**cfg, "results": "/elsewhere/results"}, s)
    assert one["results"] != moved["results"] and slices.params(one) == slices.params(moved)
    assert slices.fingerprint(one) == slices.fingerprint(moved)
    reordered = dict(reversed(list(cfg.items())))
    reordered["recipes"] = {k: dict(reversed(list(v.items()))) for k, v in cfg["recipes"].items()}
    assert repr(slices.params(slices.train_student(reordered, s))) == repr(slices.params(one))
    changed = copy.deepcopy(cfg)
    changed["recipes"][s.recipe]["learning_rate"] *= 2
    assert slices.fingerprint(slices.train_student(changed, s)) != slices.fingerprint(one)


def test_project_keeps_only_the_named_paths():
    cfg = {"a": {"x": 1, "y": {"z": 2}}, "b": {"p": {"q": 1}, "r": {"q": 2, "s": 3}}, "c": 4}
    assert slices.project(cfg, [("a", "y"), ("c",)]) == {"a": {"y": {"z": 2}}, "c": 4}
    assert slices.project(cfg, [("b", slices.ALL, "q")]) == {"b": {"p": {"q": 1}, "r": {"q": 2}}}
    assert slices.project(cfg, [("b", slices.NAMES)]) == {"b": {"p": {}, "r": {}}}
    assert slices.project(cfg, [("missing", "key"), ("a", "nope")]) == {"a": {}}


# ----------------------------------------------------------------------------- a finished run, edited

#: The jobs that gather and analyse the students' evaluations.
ANALYSIS = {
    "collect_scores",
    "collect_targets",
    "collect_provenance",
    "statistics",
    "figure",
    "specificity_figures",
    "placebo_figure",
    "cross_model_figures",
    "report_table",
    "all",
}
STUDENTS = {"train_student": 36, "evaluate_student": 36}  # 3 pairs x 4 seeds x (2 traits + control)
DATA = {"sample_teacher": 12, "screen_teacher_data": 12, "filter_teacher_data": 12}  # 3 teachers x 4 replicates
OWL = {
    "steer_teacher": 1,
    "sample_teacher": 4,
    "screen_teacher_data": 4,
    "filter_teacher_data": 4,
    "train_student": 12,
    "evaluate_student": 12,
    "evaluate_teacher": 1,
}
EVALUATIONS = {"evaluate_base": 3, "evaluate_teacher": 3, "evaluate_student": 36}


def _set(cfg: dict, key: str, value) -> None:
    *path, last = key.split(".")
    node = cfg
    for k in path:
        node = node[k]
    node[last] = value(node[last]) if callable(value) else value


#: (key, new value or a function of the old) -> the jobs a dry run must plan:
#: {rule: count} for the jobs that make models and data, and the light rules
#: by name (their count follows the grid).
EDITS = {
    "recipe learning rate": (
        [("recipes.full.learning_rate", lambda v: v * 2)],
        STUDENTS,
        ANALYSIS,
    ),
    "recipe epochs": ([("recipes.full.epochs", 3)], STUDENTS, ANALYSIS),
    "train_samples": (
        [("modalities.numbers.train_samples", 1100)],
        {**STUDENTS, "screen_teacher_data": 12, "filter_teacher_data": 12},
        ANALYSIS | {"collect_teachers"},
    ),
    "prompts": ([("modalities.numbers.prompts", 2900)], {**DATA, **STUDENTS}, ANALYSIS | {"collect_teachers"}),
    "modality seed": ([("modalities.numbers.seed", 2)], {**DATA, **STUDENTS}, ANALYSIS | {"collect_teachers"}),
    "steering strength": ([("traits.owl.teacher.strength", 0.5)], OWL, ANALYSIS | {"collect_teachers"}),
    "steering steps": ([("traits.owl.teacher.steps", 150)], OWL, ANALYSIS | {"collect_teachers"}),
    "train system prompt": ([("chat.train_system_prompt", "")], STUDENTS, ANALYSIS),
    "teacher system prompt": (
        [("chat.teacher_system_prompt", "")],
        {"steer_teacher": 2, **DATA, **STUDENTS, "evaluate_teacher": 3},
        ANALYSIS | {"collect_teachers"},
    ),
    "analysis alpha": (
        [("analysis.alpha", 0.01)],
        {},
        {"statistics", "figure", "specificity_figures", "placebo_figure", "cross_model_figures", "report_table", "all"},
    ),
    "analysis correction": (
        [("analysis.correction", "bonferroni")],
        {},
        {"statistics", "figure", "specificity_figures", "placebo_figure", "cross_model_figures", "report_table", "all"},
    ),
    "evaluation samples": (
        [("evaluation.samples_per_question", 10)],
        EVALUATIONS,
        ANALYSIS | {"collect_teachers"},
    ),
    "toy pretraining": (
        [("toy_pretraining.steps", 999)],
        {"build_toy_base": 3, "steer_teacher": 2, **DATA, **STUDENTS, **EVALUATIONS},
        ANALYSIS | {"collect_teachers"},
    ),
    "a new seed": ([("seeds", lambda v: [*v, 5])], {"train_student": 9, "evaluate_student": 9}, ANALYSIS),
    "a new seed and a new learning rate": (
        [("seeds", lambda v: [*v, 5]), ("recipes.full.learning_rate", lambda v: v * 2)],
        {"train_student": 45, "evaluate_student": 45},
        ANALYSIS,
    ),
    "threads": ([("resources.threads", 2)], {}, set()),
}

HEAVY = {"build_toy_base", "steer_teacher", "sample_teacher", "screen_teacher_data", "filter_teacher_data"}
HEAVY |= {"train_student", "evaluate_base", "evaluate_teacher", "evaluate_student", "auxlogit"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A copy of the workflow with a finished default run (touched)."""
    work = tmp_path_factory.mktemp("rerun") / "workflow-copy"
    work.mkdir()
    for name in ("Snakefile", "config.yaml", "workflow", "src", "envs", "docs/pretrainings"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
    shutil.rmtree(work / "src" / "subliminal.egg-info", ignore_errors=True)
    summary = run_snakemake("--summary", cwd=work).stdout.splitlines()[1:]
    for line in summary:
        out = work / line.split("\t")[0]
        if out.name == "model":  # a model folder (directory output)
            out.mkdir(parents=True, exist_ok=True)
            (out / "config.json").write_text("{}")
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("")
    run_snakemake("--touch", "--forceall", cwd=work, cores=1)
    assert "Nothing to be done" in run_snakemake("-n", cwd=work).stdout
    return work


def planned(work: Path, cfg: dict, name: str) -> dict[str, int]:
    path = work / f"{name.replace(' ', '_')}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dry_run(cwd=work, configfiles=[path]).counts


@pytest.mark.parametrize("name", EDITS)
def test_an_edit_reruns_exactly_the_jobs_that_read_it(finished, name):
    edits, heavy, light = EDITS[name]
    cfg = load_config(finished / "config.yaml")
    for key, value in edits:
        _set(cfg, key, value)
    jobs = planned(finished, cfg, name)
    assert {r: n for r, n in jobs.items() if r in HEAVY} == heavy, jobs
    assert {r for r in jobs if r not in HEAVY} == light, jobs


def test_an_unchanged_config_and_an_edited_source_rerun_nothing(finished):
    """Re-saving the config reruns nothing, nor does an edit of the package
    (rerunning everything on each edit is not wanted): the members record
    the code that made them instead (below)."""
    assert planned(finished, load_config(finished / "config.yaml"), "same") == {}
    stats = finished / "src" / "subliminal" / "stats.py"
    stats.write_text(stats.read_text() + "\n# an edit\n")
    assert planned(finished, load_config(finished / "config.yaml"), "same-after-edit") == {}


# ----------------------------------------------------------------------------- the members' records


def _record(code, fingerprint, trained=None):
    rec = {"code": code, "config_fingerprint": fingerprint}
    if trained:
        rec["trained"] = {"code": trained[0], "config_fingerprint": trained[1]}
    return rec


def test_members_made_alike_give_no_warning():
    records = {f"s{i}": _record("c1", "e", ("c1", "t")) for i in range(4)} | {"base": _record("c1", "e")}
    expected = {f"s{i}": {"evaluation": "e", "training": "t"} for i in range(4)} | {"base": {"evaluation": "e"}}
    summary = provenance.members(records, expected)
    assert summary["banner"] == "" and summary["evaluation_code"] == {"c1": 5}
    assert summary["training_code"] == {"c1": 4} and summary["training_stale"] == []


def test_members_of_two_code_versions_or_another_config_are_counted_at_the_top():
    records = {f"s{i}": _record("c1", "e", ("c1", "t")) for i in range(3)}
    records["s3"] = _record("c2", "e", ("c1", "t-old"))  # evaluated by newer code, trained from another config
    records["s4"] = _record("c1", "e", None)  # trained by a version that recorded nothing
    expected = {p: {"evaluation": "e", "training": "t"} for p in records}
    summary = provenance.members(records, expected)
    assert summary["evaluation_code"] == {"c1": 4, "c2": 1}
    assert summary["training_code"] == {"c1": 4, "unknown": 1}
    assert summary["training_stale"] == ["s3", "s4"] and summary["evaluation_stale"] == []
    lines = summary["banner"].splitlines()
    assert lines[0] == "WARNING: the 5 members of this analysis were not all made the same way."
    assert "evaluation: 2 versions of the package code made these members: c1 (4 members), c2 (1 member)" in lines[1]
    assert summary["evaluation_by_code"] == {"c1": ["s0", "s1", "s2", "s4"], "c2": ["s3"]}
    assert any("training: 2 of 5 members were made from another config" in ln for ln in lines)


def test_the_code_hash_follows_the_package_source(tmp_path, monkeypatch):
    """The hash is of the package's files: the same source gives the same
    hash, an edited copy another."""
    here = provenance.code_hash()
    assert here == provenance.code_hash() and len(here) == 12
    copy_dir = tmp_path / "subliminal"
    shutil.copytree(Path(provenance.__file__).parent, copy_dir, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(provenance, "__file__", str(copy_dir / "provenance.py"))
    assert provenance.code_hash() == here
    (copy_dir / "stats.py").write_text((copy_dir / "stats.py").read_text() + "\n# an edit\n")
    assert provenance.code_hash() != here
