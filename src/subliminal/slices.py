"""What each job reads of the config: its slice.

A slice has the shape of the config but holds only the keys a job reads.
Every rule passes its job's slice as ``params`` (Snakemake reruns a job whose
params changed, and what depends on it), and the job's stage receives the
slice in place of the whole config, so a stage that reads a key its slice
does not declare fails with a KeyError in the tests instead of leaving a
stale result behind. Changing a value reruns exactly the jobs whose slice
holds it; a new seed, trait or pair only adds jobs.

Two kinds of setting are treated apart:

- the evaluation settings (the ``evaluation`` section, the evaluation system
  prompt, the protocol's questions, ``sampling``) are in an evaluation's
  slice, and they also name the evaluations' folder
  (:func:`subliminal.layout.evaluation_id`): a changed evaluation is written
  beside the old one, and the students are reused;
- ``results`` is where the files are, not what they hold: it is in every
  slice the stage receives, but not in the params (a relative and an
  absolute spelling of one folder must not rerun a run).

The slices are built from a validated config (defaults filled in).
"""

from __future__ import annotations

import hashlib
import json

from . import grid, preferences
from .settings import Evaluation, Filtering, Sampling, Screening, Training

#: A path element: every key at this level.
ALL = "*"
#: A path's last element: the keys at this level without their values (a
#: stage that only lists the modalities, say).
NAMES = "<names>"

#: The dtype a job holds a model in on a GPU: it changes what a loaded model computes.
DEVICE = ("resources", "gpu_dtype")
#: The evaluation's own keys that name a folder and not what it holds.
EVALUATION_NAME = "name"


def project(config: dict, paths) -> dict:
    """The config restricted to ``paths`` (tuples of keys; ``ALL`` matches
    every key at its level, ``NAMES`` keeps the keys of a mapping but not
    their values). A path whose key is absent is skipped (optional keys)."""
    out: dict = {}
    for path in paths:
        _copy(config, out, tuple(path))
    return canonical(out)


def _copy(src, dst: dict, path: tuple) -> None:
    head, rest = path[0], path[1:]
    if not isinstance(src, dict):
        return
    if head == NAMES:
        for k in src:
            dst.setdefault(k, {})
        return
    for key in src if head == ALL else [head]:
        if key not in src:
            continue
        if not rest:
            dst[key] = src[key]
        elif isinstance(src[key], dict):
            _copy(src[key], dst.setdefault(key, {}), rest)


def canonical(value):
    """Keys sorted at every level, lists kept: one repr per content, so that
    Snakemake, which compares params by their repr, sees no change where
    only the order of the config file's keys changed."""
    return json.loads(json.dumps(value, sort_keys=True))


def params(cfg_slice: dict) -> dict:
    """A slice as a rule's params: everything but the results folder."""
    return {k: v for k, v in cfg_slice.items() if k != "results"}


def fingerprint(cfg_slice: dict) -> str:
    """A short hash of a slice's params: recorded with what the job made, so
    an analysis can tell members made from another config."""
    text = json.dumps(params(cfg_slice), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def with_results(cfg_params: dict, results: str) -> dict:
    """The slice a stage receives: a rule's params and where the files are."""
    return {**cfg_params, "results": results}


# --- pieces several slices share


def _trait_words(config: dict) -> list[tuple]:
    """What :func:`subliminal.grid.trait_words` reads: the preference traits'
    kind and word (every teacher's data is screened for every trait's word;
    a misalignment trait has none)."""
    return [("traits", t, k) for t in grid.preference_traits(config) for k in ("kind", "word")]


def _targets(config: dict) -> list[tuple]:
    """What :func:`subliminal.grid.target_words` reads, and no more: one
    trait of each category (which categories are scored) and every trait
    whose word is not among its category's candidates (it joins them). A
    new trait of a known category with a candidate word changes no model's
    scores, so it reruns no evaluation."""
    traits = config["traits"]
    chosen, seen = [], set()
    for t in grid.preference_traits(config):
        category, word = traits[t]["category"], traits[t]["word"]
        if category not in seen or word not in preferences.CANDIDATES.get(category, ()):
            chosen.append(t)
            seen.add(category)
    return [("traits", t, k) for t in chosen for k in ("kind", "word", "category")]


def _teacher(config: dict, teacher: str) -> list[tuple]:
    """How a teacher holds its trait: its trait's whole entry (none for the
    shared control), the recipe of a fine-tuned teacher, and the system
    prompt it samples with (the chat default, or the protocol's template)."""
    trait, _ = grid.teacher_trait(config, teacher)
    out = [("chat", "teacher_system_prompt"), ("protocol", "teacher_system_prompt")]
    if trait is None:
        return out
    out.append(("traits", trait))
    if config["traits"][trait]["teacher"]["method"] == "finetune":
        out.append(("recipes", config["traits"][trait]["teacher"]["recipe"]))
    return out


def _evaluation(config: dict) -> list[tuple]:
    """What an evaluation reads (the same settings name its folder)."""
    keys = [k for k in Evaluation.keys() if k != EVALUATION_NAME]
    return [("evaluation", k) for k in keys] + [
        ("chat", "eval_system_prompt"),
        ("protocol", "questions"),
        ("sampling",),
    ]


def _base(config: dict, base: str) -> list[tuple]:
    return [("results",), ("models", base), DEVICE]


# --- one slice per job


def toy_base(config: dict, base: str) -> dict:
    """A toy base is made from :func:`subliminal.grid.toy_recipe`."""
    return canonical(grid.toy_recipe(config, base))


def base(config: dict, base: str) -> dict:
    """A hub base's fetch: its entry (id and pinned revision)."""
    return project(config, [("results",), ("models", base)])


def prompts(config: dict, modality: str) -> dict:
    return project(config, [("results",), ("modalities", modality, "dataset")])


def finetune_teacher(config: dict, base: str, teacher: str) -> dict:
    trait, _ = grid.teacher_trait(config, teacher)
    recipe = config["traits"][trait]["teacher"]["recipe"]
    return project(
        config,
        _base(config, base)
        + [("traits", trait), ("recipes", recipe), ("chat", "train_system_prompt"), ("modalities", NAMES)],
    )


def steer_teacher(config: dict, base: str, trait: str) -> dict:
    return project(
        config,
        _base(config, base) + _teacher(config, trait) + _targets(config) + [("protocol", "questions")],
    )


def _modality(modality: str, record) -> list[tuple]:
    """The keys of ``modalities.<modality>`` a job's record holds
    (:mod:`subliminal.settings`)."""
    return [("modalities", modality, k) for k in record.keys()]


def sample_teacher(config: dict, modality: str, base: str, teacher: str) -> dict:
    return project(
        config,
        _base(config, base)
        + _teacher(config, teacher)
        + _modality(modality, Sampling)
        + [("protocol", "numbers"), ("sampling",)],
    )


def screen_teacher_data(config: dict, modality: str, teacher: str) -> dict:
    trait, _ = grid.teacher_trait(config, teacher)
    judge = Screening.of(config, modality).judge or {}
    paths = [("results",), DEVICE] + _trait_words(config)
    paths += _modality(modality, Screening)
    paths += [("traits", trait, "kind")] if trait is not None else []
    paths += [("models", judge["model"])] if judge.get("kind") == "model" else []
    return project(config, paths)


def filter_teacher_data(config: dict, modality: str) -> dict:
    return project(config, [("results",)] + _modality(modality, Filtering))


def train_student(config: dict, student: grid.Student) -> dict:
    """Training reads the recipe, the training system prompt, the number of
    samples and the student base; the provenance it writes also names the
    teacher (how it held its trait) and the pair's relation."""
    m = student.modality
    return project(
        config,
        _base(config, student.student_base)
        + _teacher(config, student.teacher)
        + [
            ("models", student.teacher_base),
            ("recipes", student.recipe),
            ("chat", "train_system_prompt"),
        ]
        + _modality(m, Training),
    )


def evaluate(config: dict, base: str, teacher: str | None = None, kind: str = grid.PREFERENCE) -> dict:
    """An evaluation of a base, a student of that base, or (``teacher``) a
    teacher on it; a misalignment evaluation's model judge too."""
    paths = _base(config, base) + _evaluation(config)
    if kind == grid.PREFERENCE:
        paths += _targets(config)
    else:
        judge = Evaluation.of(config).misalignment.judge or {}
        paths += [("models", judge["model"])] if judge.get("kind") == "model" else []
    if teacher is not None:
        paths += _teacher(config, teacher)
    return project(config, paths)


def _design(config: dict, students: bool = True) -> list[tuple]:
    """The study's design as the tables see it: the grid (traits, models and
    their relations, pairs, modalities and, with ``students``, the seeds and
    the recipes' names) and where its evaluations are (the evaluation's
    settings and name). A recipe's or a prompt's value changes the members,
    not how they are gathered: those jobs rerun because their inputs do."""
    keys = ("traits", "models", "pairs", "modalities", "evaluation", "sampling")
    keys += ("seeds", "students") if students else ()
    paths = [("results",), ("chat", "eval_system_prompt"), ("protocol", "questions")] + [(k,) for k in keys]
    return paths + ([("recipes", NAMES)] if students else [])


def collect(config: dict) -> dict:
    """The collectors (scores, targets, teachers, misalignment, members)."""
    return project(config, _design(config))


def teachers(config: dict) -> dict:
    """The teachers' table: the design without the students."""
    return project(config, _design(config, students=False))


def analysis(config: dict) -> dict:
    """The statistics and the figures that read the design: the design and
    the analysis section (alpha, power, correction)."""
    return project(config, _design(config) + [("analysis",)])


def auxlogit(config: dict) -> dict:
    return project(config, [("auxlogit",)])
