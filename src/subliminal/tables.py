"""The tidy tables the statistics read, made from the evaluations: the
preference scores (each student's target word), every model's score on
every target (the specificity test), the teachers beside their filter
reports, and the misalignment scores. Each collector reads the files of the
layout, and refuses one its rule did not declare as an input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from . import grid, misalignment, preferences, protocol
from .io import DataFileError, read_json, read_table, row_at
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
#: The metrics of every preference evaluation (evaluate.evaluate_preferences).
METRICS = ("exact", "exact_share", "sampled")
#: How a table the workflow wrote is read where its text columns could hold
#: a word pandas takes for NaN by default ("nan", "null", "none"): only an
#: empty cell is missing.
AS_WRITTEN = dict(keep_default_na=False, na_values=[""])


# ----------------------------------------------------------------------------- what the design says each table holds


def design(cfg: dict) -> dict[str, tuple[list[str], int]]:
    """Per category: the targets every preference evaluation scores and its
    number of questions (ours, or the protocol's)."""
    questions = protocol.questions(cfg)
    return {c: (words, len(preferences.questions(c, questions))) for c, words in grid.target_words(cfg).items()}


def check_rows(df: pd.DataFrame, path, keys: list[str], expected: list[tuple], sep: str, *, extra: bool) -> None:
    """Every row the design expects (``expected``: values of ``keys``, in
    order) is in the table exactly once; with ``extra`` False, no other row
    either (a member the design does not have: a stale one). Each error
    names the file and the line, or the row that is missing."""
    got: dict[tuple, int] = {}
    for i, key in enumerate(zip(*(df[k].tolist() for k in keys))):
        if key in got:
            raise DataFileError(
                f"{path} line {row_at(path, i, sep)[0]}: a second row for {_described(keys, key)} "
                f"(the first is line {row_at(path, got[key], sep)[0]})"
            )
        got[key] = i
    previous = None  # the design's previous row that is there
    for key in expected:
        if key not in got:
            near = f"; the design's row before it is line {row_at(path, got[previous], sep)[0]}" if previous else ""
            raise DataFileError(
                f"{path}: no row for {_described(keys, key)} ({sum(k in got for k in expected)} of the "
                f"{len(expected)} rows the design expects: a table cut short or a member missing?{near})"
            )
        previous = key
    if not extra and len(got) > len(expected):
        wanted = set(expected)
        i = next(i for k, i in got.items() if k not in wanted)
        key = next(k for k, j in got.items() if j == i)
        raise DataFileError(
            f"{path} line {row_at(path, i, sep)[0]}: {_described(keys, key)} is not in the design of this "
            "config (a member of another config?)"
        )


def _described(keys: list[str], values: tuple) -> str:
    return ", ".join(f"{k} {v}" for k, v in zip(keys, values))


def read_evaluation(path: str, design: dict[str, tuple[list[str], int]]) -> pd.DataFrame:
    """A preference evaluation table (evaluate_model): no empty cell in its
    columns, every value a finite number, and every (category, target,
    metric, question) of the ``design`` exactly once: a table with 49 of 50
    questions is an error, not a mean over 49."""
    df = read_table(path, sep="\t", required=EVAL_COLUMNS, complete=EVAL_COLUMNS[:-1], finite=("value",), **AS_WRITTEN)
    expected = [(c, w, m, q) for c, (words, n) in design.items() for w in words for m in METRICS for q in range(n)]
    check_rows(df, path, ["category", "target", "metric", "question_id"], expected, "\t", extra=True)
    return df


def read_misalignment_evaluation(path: str) -> pd.DataFrame:
    """A misalignment evaluation table: every question's two rates, with
    their counts (a rate is NaN where no answer was coherent: by design)."""
    df = read_table(
        path,
        sep="\t",
        required=("metric", "question_id", "value", *misalignment.COUNTS),
        complete=("metric",),
        finite=("question_id", *misalignment.COUNTS),
        **AS_WRITTEN,
    )
    expected = [(m, q) for q in range(len(misalignment.QUESTIONS)) for m in ("misaligned", "incoherent")]
    check_rows(df, path, ["metric", "question_id"], expected, "\t", extra=True)
    return df


def read_scores(cfg: dict, path: str) -> pd.DataFrame:
    """The scores table (collect_scores) as the statistics read it: every
    member of every group of the design with every question, no other row."""
    df = read_table(path, required=SCORE_COLUMNS, complete=SCORE_COLUMNS[:-1], finite=("value",))
    qs = design(cfg)
    expected = []
    for s, members in groups(cfg, grid.PREFERENCE):
        trait = cfg["traits"][s.teacher]
        key = _group_key(cfg, s, trait["word"])
        expected += [
            (key["teacher_base"], key["student_base"], s.teacher, s.modality, s.recipe, m.role, m.seed, metric, q)
            for m in members
            for metric in METRICS
            for q in range(qs[trait["category"]][1])
        ]
    keys = ["teacher_base", "student_base", "trait", "modality", "recipe", "role", "seed", "metric", "question_id"]
    check_rows(df, path, keys, expected, ",", extra=False)
    return df


def read_targets(cfg: dict, path: str) -> pd.DataFrame:
    """The targets table (collect_targets): every preference student's and
    student base's mean for every target of the design, no other row. A
    base's row has no pair (its empty cells are NaN)."""
    complete = [c for c in TARGET_COLUMNS if c not in ("teacher_base", "teacher", "modality", "recipe", "value")]
    df = read_table(path, required=TARGET_COLUMNS, complete=tuple(complete), finite=("value",), **AS_WRITTEN)
    preference = set(grid.preference_traits(cfg)) | {grid.CONTROL}
    students = [s for s in grid.students(cfg) if s.teacher in preference]
    models = [s.path for s in students] + [f"base/{b}" for b in sorted({s.student_base for s in students})]
    expected = [
        (model, c, w, m) for model in models for c, (words, _) in design(cfg).items() for w in words for m in METRICS
    ]
    check_rows(df, path, ["model", "category", "target", "metric"], expected, ",", extra=False)
    return df


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
                members += [
                    Member(
                        role,
                        f"teacher/{s.teacher_base}/{name}",
                        -1,
                        -1,
                        layout.eval_teacher(".tsv", s.teacher_base, name, sub),
                    )
                    for role, name in ((misalignment.TEACHER, s.teacher), (misalignment.CONTROL_TEACHER, control))
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
    expected = design(cfg)
    for s, members in groups(cfg, grid.PREFERENCE):
        trait = cfg["traits"][s.teacher]
        key = _group_key(cfg, s, trait["word"])
        for m in members:
            if m.path not in cache:
                cache[m.path] = read_evaluation(read(m.path), expected)
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
    read = Inputs(inputs)
    frames = []
    for s, members in groups(cfg, grid.MISALIGNMENT):
        key = _group_key(cfg, s, "misaligned")
        for m in members:
            df = read_misalignment_evaluation(read(m.path))
            frames.append(
                df.assign(model=m.model, role=m.role, seed=m.seed, **key)[[*SCORE_COLUMNS, *misalignment.COUNTS]]
            )
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

    expected = design(cfg)
    words = {w for targets, _ in expected.values() for w in targets}

    def means(path: str) -> pd.DataFrame:
        df = read_evaluation(read(path), expected)
        # the design's targets only (an evaluation may score more words)
        df = df[df["category"].isin(categories) & df["target"].isin(words)]
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
    read = Inputs(inputs)
    layout = Layout.of(cfg)
    expected = design(cfg)
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
            df = read_misalignment_evaluation(read(path))
            n = df[df.metric == "misaligned"][misalignment.COUNTS].sum()
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
        df = read_evaluation(read(layout.eval_teacher(".tsv", d.base, d.teacher)), expected)
        for trait_name, (word, category) in trait_targets(cfg).items():
            if d.teacher not in (trait_name, grid.CONTROL):
                continue
            sel = df[(df.target == word) & (df.category == category)]
            rows += [
                {**row, "trait": trait_name, "target": word, "metric": metric, "mean": value, **filtered}
                for metric, value in sel.groupby("metric").value.mean().items()
            ]
    return pd.DataFrame(rows).sort_values(["modality", "teacher_base", "trait", "teacher", "metric", "replicate"])
