"""Every result belongs to the config and code that made it.

Each rule declares the slice of the config its job reads (subliminal.slices)
as params, so an edit reruns exactly the jobs whose slice holds the edited
value, and what depends on them. Checked on a finished default run made
here with ``snakemake --touch --forceall`` (every output exists and every
job's metadata is recorded; no job runs), in a copy of the workflow so that
a source edit touches no file of this checkout. The slices themselves and
the members' records are unit tests (unit/test_slices.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import REPO, dry_run, load_config, run_snakemake


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
    # one key of each modality record's job alone (subliminal.settings): sampling, screening, filtering (numbers
    # does not equalise by default)
    "max_new_tokens": (
        [("modalities.numbers.max_new_tokens", 40)],
        {**DATA, **STUDENTS},
        ANALYSIS | {"collect_teachers"},
    ),
    "filter": (
        [("modalities.numbers.filter", False)],
        {**STUDENTS, "screen_teacher_data": 12, "filter_teacher_data": 12},
        ANALYSIS | {"collect_teachers"},
    ),
    "equalise": (
        [("modalities.numbers.equalise", True)],
        {**STUDENTS, "filter_teacher_data": 12},
        ANALYSIS | {"collect_teachers"},
    ),
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
    the code that made them instead (unit/test_slices.py)."""
    assert planned(finished, load_config(finished / "config.yaml"), "same") == {}
    stats = finished / "src" / "subliminal" / "stats.py"
    stats.write_text(stats.read_text() + "\n# an edit\n")
    assert planned(finished, load_config(finished / "config.yaml"), "same-after-edit") == {}
