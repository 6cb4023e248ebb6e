"""The tidy tables the statistics read, made from the evaluations: the
preference scores (each student's target word), every model's score on
every target (the specificity test), the teachers beside their filter
reports, and the misalignment scores. Each collector reads the files of the
layout, and refuses one its rule did not declare as an input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from . import grid
from .io import read_json, read_table
from .layout import Layout
from .specificity import TARGET_COLUMNS

#: The columns of a preference evaluation table (evaluate_model) and of the
#: scores table the statistics read (collect_scores).
EVAL_COLUMNS = ("category", "question_id", "target", "metric", "value")
SCORE_COLUMNS = (
    "model",
    "role",
    "teacher_base",
    "student_base",
    "trait",
    "target",
    "modality",
    "recipe",
    "seed",
    "metric",
    "question_id",
    "value",
)
#: The order of a scores table's rows.
SCORE_ORDER = ["teacher_base", "student_base", "trait", "modality", "recipe", "metric", "role", "seed", "question_id"]


class Inputs:
    """The files a rule declared (None: any, outside Snakemake)."""

    def __init__(self, declared=None):
        self.declared = None if declared is None else {str(p) for p in declared}

    def __call__(self, path: str) -> str:
        if self.declared is not None and str(path) not in self.declared:
            raise ValueError(f"{path} is read but is not an input of the rule (the layout and the rule disagree)")
        return path


@dataclass(frozen=True)
class Member:
    """One model of a trait student's group: its role, name, seed and
    replicate (-1: one model for every seed) and its evaluation file."""

    role: str
    model: str
    seed: int
    replicate: int
    path: str


def groups(cfg: dict, kind: str) -> Iterator[tuple[grid.Student, list[Member]]]:
    """Every trait student of one kind of trait (preference, misalignment)
    with its group: itself, its control twin, and once per group (the first
    seed) the untrained student base and, for misalignment, the trait's
    teacher and its control teacher on the group's teacher base."""
    layout = Layout.of(cfg)
    sub = "misalignment/" if kind == grid.MISALIGNMENT else ""
    traits = set(grid.misalignment_traits(cfg) if kind == grid.MISALIGNMENT else grid.preference_traits(cfg))
    for s in grid.students(cfg):
        if s.teacher not in traits:
            continue
        control = grid.control_teacher(cfg, s.teacher)
        twin = s.twin(control)
        members = [
            Member(role, st.path, st.seed, grid.replicate_of(cfg, st), layout.eval_student(kind=sub, **st.fields))
            for role, st in (("trait", s), ("control", twin))
        ]
        if s.seed == cfg["seeds"][0]:  # the models a group has once
            base = s.student_base
            members.append(Member("base", f"base/{base}", -1, -1, layout.eval_base(base=base, kind=sub)))
            if kind == grid.MISALIGNMENT:
                from .misalignment import CONTROL_TEACHER, TEACHER

                members += [
                    Member(
                        role,
                        f"teacher/{s.teacher_base}/{name}",
                        -1,
                        -1,
                        layout.eval_teacher(".tsv", s.teacher_base, name, sub),
                    )
                    for role, name in ((TEACHER, s.teacher), (CONTROL_TEACHER, control))
                ]
        yield s, members


def _group_key(cfg: dict, s: grid.Student, target: str) -> dict:
    return dict(
        teacher_base=s.teacher_base,
        student_base=s.student_base,
        trait=s.teacher,
        target=target,
        modality=s.modality,
        recipe=s.recipe,
    )


def _in_score_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True).sort_values(SCORE_ORDER, kind="mergesort").reset_index(drop=True)


def preference_scores(cfg: dict, inputs=None) -> pd.DataFrame:
    """The tidy scores table the statistics read: each student's and each
    untrained base's per-question scores for its group's target word, with
    base and control rows repeated for every group they serve."""
    read = Inputs(inputs)
    cache: dict[str, pd.DataFrame] = {}
    frames = []
    columns = [*SCORE_COLUMNS[:9], "replicate", *SCORE_COLUMNS[9:]]
    for s, members in groups(cfg, grid.PREFERENCE):
        trait = cfg["traits"][s.teacher]
        key = _group_key(cfg, s, trait["word"])
        for m in members:
            if m.path not in cache:
                cache[m.path] = read_table(read(m.path), sep="\t", required=EVAL_COLUMNS)
            df = cache[m.path]
            df = df[(df.target == trait["word"]) & (df.category == trait["category"])]
            frames.append(df.assign(model=m.model, role=m.role, seed=m.seed, replicate=m.replicate, **key)[columns])
    return _in_score_order(frames)


def misalignment_scores(cfg: dict, inputs=None) -> pd.DataFrame:
    """The misalignment scores table (the preference table's columns, target
    "misaligned", plus the answer counts): every misalignment trait's
    students (role ``trait``), their control twins (``control``) and, once
    per group, the untrained student base (``base``), the trait's fine-tuned
    teacher (``teacher``) and its control teacher (``control_teacher``)."""
    from .misalignment import COUNTS

    read = Inputs(inputs)
    frames = []
    for s, members in groups(cfg, grid.MISALIGNMENT):
        key = _group_key(cfg, s, "misaligned")
        for m in members:
            df = read_table(read(m.path), sep="\t", required=("metric", "question_id", "value", *COUNTS))
            frames.append(df.assign(model=m.model, role=m.role, seed=m.seed, **key)[[*SCORE_COLUMNS, *COUNTS]])
    return _in_score_order(frames)


def targets(cfg: dict, inputs=None) -> pd.DataFrame:
    """Every preference student's (trait and control) and every untrained
    student base's mean score over the questions, for EVERY target of its
    category and every metric: what the specificity test and the trait x
    target figures read (see :mod:`subliminal.specificity`). A base's row has
    role "base", seed -1 and no pair."""
    read = Inputs(inputs)
    layout = Layout.of(cfg)
    categories = set(grid.categories(cfg))
    preference = set(grid.preference_traits(cfg)) | {grid.CONTROL}

    def means(path: str) -> pd.DataFrame:
        df = read_table(read(path), sep="\t", required=EVAL_COLUMNS)
        df = df[df["category"].isin(categories)]
        return df.groupby(["category", "target", "metric"], sort=True)["value"].mean().reset_index()

    students = [s for s in grid.students(cfg) if s.teacher in preference]
    frames = [
        means(layout.eval_student(**s.fields)).assign(
            model=s.path, role=s.role, replicate=grid.replicate_of(cfg, s), **s.fields
        )
        for s in students
    ]
    for b in sorted({s.student_base for s in students}):
        frames.append(
            means(layout.eval_base(base=b)).assign(
                model=f"base/{b}",
                role="base",
                teacher_base="",
                student_base=b,
                teacher="",
                modality="",
                recipe="",
                seed=-1,
                replicate=-1,
            )
        )
    order = ["role", "teacher_base", "student_base", "modality", "recipe", "teacher", "seed", "category", "target"]
    out = pd.concat(frames, ignore_index=True)[TARGET_COLUMNS]
    return out.sort_values([*order, "metric"], kind="mergesort").reset_index(drop=True)


def trait_targets(cfg: dict) -> dict[str, tuple[str, str]]:
    """Preference trait -> (word, category): what the specificity test compares."""
    return {t: (cfg["traits"][t]["word"], cfg["traits"][t]["category"]) for t in grid.preference_traits(cfg)}


def teachers(cfg: dict, inputs=None) -> pd.DataFrame:
    """How strongly each teacher holds its trait beside how much of its data
    survived the filter, for every dataset (modality, teacher base, teacher,
    replicate). A preference teacher (a trait, or the shared control once per
    trait it serves): the mean over the 50 questions of its target's score,
    per metric. A misalignment teacher (the trait's, or its control teacher;
    ``trait`` the misalignment trait, ``target`` "misaligned"): its
    misaligned share of coherent answers (metric ``misaligned``) and its
    incoherent share of all answers (``incoherent``), pooled over the eight
    free-form questions."""
    from .misalignment import COUNTS

    read = Inputs(inputs)
    layout = Layout.of(cfg)
    rows = []
    for d in grid.teacher_datasets(cfg):
        report = read_json(read(layout.data("filter.json", **d.fields)), required=("kept", "kept_fraction"))
        row = {"modality": d.modality, "teacher_base": d.base, "teacher": d.teacher}
        filtered = {
            "replicate": d.replicate,
            "filter_kept_fraction": report["kept_fraction"],
            "filter_kept": report["kept"],
        }
        if grid.trait_kind(cfg, d.teacher) == grid.MISALIGNMENT:
            path = layout.eval_teacher(".tsv", d.base, d.teacher, "misalignment/")
            df = read_table(read(path), sep="\t", required=("metric", *COUNTS))
            n = df[df.metric == "misaligned"][COUNTS].sum()
            pooled = {
                "misaligned": n.n_misaligned / n.n_coherent if n.n_coherent else float("nan"),
                "incoherent": n.n_incoherent / n.n_answers if n.n_answers else float("nan"),
            }
            trait = grid.teacher_trait(cfg, d.teacher)[0]
            rows += [
                {**row, "trait": trait, "target": "misaligned", "metric": metric, "mean": value, **filtered}
                for metric, value in pooled.items()
            ]
            continue
        df = read_table(read(layout.eval_teacher(".tsv", d.base, d.teacher)), sep="\t", required=EVAL_COLUMNS)
        for trait_name, (word, category) in trait_targets(cfg).items():
            if d.teacher not in (trait_name, grid.CONTROL):
                continue
            sel = df[(df.target == word) & (df.category == category)]
            rows += [
                {**row, "trait": trait_name, "target": word, "metric": metric, "mean": value, **filtered}
                for metric, value in sel.groupby("metric").value.mean().items()
            ]
    return pd.DataFrame(rows).sort_values(["modality", "teacher_base", "trait", "teacher", "metric", "replicate"])
