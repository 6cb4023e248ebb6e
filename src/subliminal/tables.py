"""The tidy tables the statistics read, made from the evaluations: the
preference scores (each student's target word), every model's score on
every target (the specificity test), the teachers beside their filter
reports, and the misalignment scores. Each collector reads the evaluation
tables its rule declared: every table says which model it holds (its
identity columns), and the collector groups them by what they say."""

from __future__ import annotations

import pandas as pd

from . import grid, misalignment, preferences, protocol
from .io import DataFileError, read_json, read_table, row_at
from .kinds import KINDS
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
    """A preference evaluation table (evaluate_model): its identity columns
    (:data:`subliminal.grid.IDENTITY`), no empty cell in its columns, every
    value a finite number, and every (category, target, metric, question) of
    the ``design`` exactly once: a table with 49 of 50 questions is an
    error, not a mean over 49."""
    df = read_table(
        path,
        sep="\t",
        required=(*grid.IDENTITY, *EVAL_COLUMNS),
        complete=(*IDENTITY_COMPLETE, *EVAL_COLUMNS[:-1]),
        finite=("seed", "replicate", "value"),
        dtype=IDENTITY_TEXT,
        **AS_WRITTEN,
    )
    expected = [(c, w, m, q) for c, (words, n) in design.items() for w in words for m in METRICS for q in range(n)]
    check_rows(df, path, ["category", "target", "metric", "question_id"], expected, "\t", extra=True)
    return _one_model(df, path)


def read_misalignment_evaluation(path: str) -> pd.DataFrame:
    """A misalignment evaluation table: its identity columns and every
    question's two rates, with their counts (a rate is NaN where no answer
    was coherent: by design)."""
    df = read_table(
        path,
        sep="\t",
        required=(*grid.IDENTITY, "metric", "question_id", "value", *misalignment.COUNTS),
        complete=(*IDENTITY_COMPLETE, "metric"),
        finite=("seed", "replicate", "question_id", *misalignment.COUNTS),
        dtype=IDENTITY_TEXT,
        **AS_WRITTEN,
    )
    expected = [(m, q) for q in range(len(misalignment.QUESTIONS)) for m in ("misaligned", "incoherent")]
    check_rows(df, path, ["metric", "question_id"], expected, "\t", extra=True)
    return _one_model(df, path)


#: The identity columns no evaluation leaves empty (a base's pair, teacher,
#: modality and recipe are empty, a teacher's student base and recipe).
IDENTITY_COMPLETE = ("evaluation", "model", "role", "seed", "replicate")
#: The identity columns that hold text (read as text even where every cell
#: is empty, or is a number: a recipe named 8).
IDENTITY_TEXT = {c: str for c in grid.IDENTITY if c not in ("seed", "replicate")}


def _one_model(df: pd.DataFrame, path: str) -> pd.DataFrame:
    """The table of one evaluated model: the same identity on every row (the
    empty cells of a base or a teacher read as "")."""
    df[list(IDENTITY_TEXT)] = df[list(IDENTITY_TEXT)].fillna("")
    identities = df[list(grid.IDENTITY)].drop_duplicates()
    if len(identities) > 1:
        i = int(identities.index[1])
        raise DataFileError(
            f"{path} line {row_at(path, i, chr(9))[0]}: another model's identity "
            f"({', '.join(f'{k} {v}' for k, v in identities.iloc[1].items())}) in the table of "
            f"{identities.iloc[0]['model']}"
        )
    return df


def gathered(paths, read, evaluation: str) -> pd.DataFrame:
    """The evaluation tables ``paths`` read by ``read``, one after another:
    each says which model it holds, so nothing here knows where a file is.
    Refused: a table of another evaluation (``evaluation``: this config's
    id) or a model given twice."""
    frames, seen = [], {}
    for path in paths:
        df = read(str(path))
        model, ev = df["model"].iat[0], df["evaluation"].iat[0]
        if ev != evaluation:
            raise DataFileError(f"{path}: an evaluation of {ev}, not this config's {evaluation}")
        if model in seen:
            raise DataFileError(f"{path}: a second table of {model} (the first is {seen[model]})")
        seen[model] = path
        frames.append(df)
    if not frames:
        raise ValueError("no evaluation table given")
    return pd.concat(frames, ignore_index=True)


def read_scores(cfg: dict, path: str) -> pd.DataFrame:
    """The scores table (collect_scores) as the statistics read it: every
    member of every group of the design with every question, no other row."""
    df = read_table(path, required=SCORE_COLUMNS, complete=SCORE_COLUMNS[:-1], finite=("value",))
    qs = design(cfg)
    expected = []
    for s in grid.students(cfg):
        if s.teacher not in grid.preference_traits(cfg):
            continue
        twin = s.twin(grid.control_teacher(cfg, s.teacher))
        group = (s.teacher_base, s.student_base, s.teacher, s.modality, s.recipe)
        roles = [(grid.TRAIT, s.seed), (grid.CONTROL, twin.seed)]
        roles += [(grid.BASE, -1)] if s.seed == cfg["seeds"][0] else []  # the base once per group
        n = qs[cfg["traits"][s.teacher]["category"]][1]
        expected += [(*group, role, seed, metric, q) for role, seed in roles for metric in METRICS for q in range(n)]
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
    bases = [grid.evaluated_base(b).model for b in sorted({s.student_base for s in students})]
    models = [s.path for s in students] + bases
    expected = [
        (model, c, w, m) for model in models for c, (words, _) in design(cfg).items() for w in words for m in METRICS
    ]
    check_rows(df, path, ["model", "category", "target", "metric"], expected, ",", extra=False)
    return df


#: A group of a trait student: what its rows in a scores table share.
GROUP = ["teacher_base", "student_base", "trait", "modality", "recipe"]
#: What a student and its control twin share.
_TWIN = ["teacher_base", "student_base", "modality", "recipe", "seed"]


def members(cfg: dict, evals: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Which evaluated models each trait student's group holds, from the
    identity columns of ``evals`` (gathered evaluation tables of one kind of
    trait): the student itself, its control twin (same pair, modality,
    recipe and seed; the trait's control teacher) and, once per group (the
    first seed), the untrained student base and, for misalignment, the
    trait's teacher and its control teacher on the group's teacher base.
    One row per (group, model): :data:`GROUP` and ``model``."""
    traits = grid.misalignment_traits(cfg) if kind == grid.MISALIGNMENT else grid.preference_traits(cfg)
    models = evals.drop_duplicates("model")
    students = models[(models.role == grid.TRAIT) & models.teacher.isin(traits)]
    groups = students.assign(
        trait=students.teacher, control=students.teacher.map(lambda t: grid.control_teacher(cfg, t))
    )
    first = groups[groups.seed == cfg["seeds"][0]]
    of_role = lambda role, **renamed: models[models.role == role].rename(columns=renamed)  # noqa: E731
    parts = [
        groups[[*GROUP, "model"]],
        groups[[*GROUP, "control", "seed"]].merge(
            of_role(grid.CONTROL, teacher="control")[[*_TWIN, "control", "model"]], on=[*_TWIN, "control"]
        ),
        first[GROUP].merge(of_role(grid.BASE)[["student_base", "model"]], on="student_base"),
    ]
    if KINDS[kind].teachers_in_groups:
        teacher = of_role(grid.TEACHER, teacher="trait")[["teacher_base", "trait", "model"]]
        control = of_role(grid.CONTROL_TEACHER, teacher="control")[["teacher_base", "control", "model"]]
        parts += [
            first[GROUP].merge(teacher, on=["teacher_base", "trait"]),
            first[[*GROUP, "control"]].merge(control, on=["teacher_base", "control"]),
        ]
    return pd.concat([p[[*GROUP, "model"]] for p in parts], ignore_index=True)


def _in_groups(cfg: dict, evals: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Every row of ``evals`` once per group its model is in, under the
    group's key columns (the model keeps its role, seed and replicate)."""
    own = evals.drop(columns=["teacher_base", "student_base", "teacher", "modality", "recipe"])
    return own.merge(members(cfg, evals, kind), on="model")


def _in_score_order(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True).sort_values(SCORE_ORDER, kind="mergesort").reset_index(drop=True)


def preference_scores(cfg: dict, paths) -> pd.DataFrame:
    """The tidy scores table the statistics read, from the preference
    evaluation tables ``paths`` (the students' and their bases'): each
    group's models' per-question scores for its trait's target word, with
    base and control rows repeated for every group they serve."""
    expected = design(cfg)
    evals = gathered(paths, lambda p: read_evaluation(p, expected), Layout.of(cfg).eval_id)
    df = _in_groups(cfg, evals, grid.PREFERENCE)
    word, category = (df.trait.map({t: wc[i] for t, wc in trait_targets(cfg).items()}) for i in (0, 1))
    df = df[(df.target == word) & (df.category == category)]
    return _in_score_order([df[[*SCORE_COLUMNS[:9], "replicate", *SCORE_COLUMNS[9:]]]])


def misalignment_scores(cfg: dict, paths) -> pd.DataFrame:
    """The misalignment scores table (the preference table's columns, target
    "misaligned", plus the answer counts), from the misalignment evaluation
    tables ``paths``: every misalignment trait's students (role ``trait``),
    their control twins (``control``) and, once per group, the untrained
    student base (``base``), the trait's fine-tuned teacher (``teacher``) and
    its control teacher (``control_teacher``)."""
    evals = gathered(paths, read_misalignment_evaluation, Layout.of(cfg).eval_id)
    df = _in_groups(cfg, evals, grid.MISALIGNMENT).assign(target="misaligned")
    return _in_score_order([df[[*SCORE_COLUMNS, *misalignment.COUNTS]]])


def targets(cfg: dict, paths) -> pd.DataFrame:
    """Every preference student's (trait and control) and every untrained
    student base's mean score over the questions, for EVERY target of its
    category and every metric, from their evaluation tables ``paths``: what
    the specificity test and the trait x target figures read (see
    :mod:`subliminal.specificity`). A base's row has role "base", seed -1
    and no pair."""
    expected = design(cfg)
    words = {w for targets, _ in expected.values() for w in targets}
    evals = gathered(paths, lambda p: read_evaluation(p, expected), Layout.of(cfg).eval_id)
    evals = evals[evals.role.isin([grid.BASE, grid.TRAIT, grid.CONTROL])]
    # the design's targets only (an evaluation may score more words)
    df = evals[evals["category"].isin(grid.categories(cfg)) & evals["target"].isin(words)]
    means = df.groupby(["model", "category", "target", "metric"], sort=True)["value"].mean().reset_index()
    identity = evals.drop_duplicates("model")[list(grid.IDENTITY[1:])]
    out = means.merge(identity, on="model")[TARGET_COLUMNS]
    order = ["role", "teacher_base", "student_base", "modality", "recipe", "teacher", "seed", "category", "target"]
    return out.sort_values([*order, "metric"], kind="mergesort").reset_index(drop=True)


def trait_targets(cfg: dict) -> dict[str, tuple[str, str]]:
    """Preference trait -> (word, category): what the specificity test compares."""
    return {t: (cfg["traits"][t]["word"], cfg["traits"][t]["category"]) for t in grid.preference_traits(cfg)}


def teachers(cfg: dict, preference, misaligned) -> pd.DataFrame:
    """How strongly each teacher holds its trait beside how much of its data
    survived the filter, for every dataset (modality, teacher base, teacher,
    replicate), from the teachers' evaluation tables (``preference`` and
    ``misaligned``: paths) and the datasets' filter reports. A preference
    teacher (a trait, or the shared control once per trait it serves): the
    mean over the 50 questions of its target's score, per metric. A
    misalignment teacher (the trait's, or its control teacher; ``trait``
    the misalignment trait, ``target`` "misaligned"): its misaligned share
    of coherent answers (metric ``misaligned``) and its incoherent share of
    all answers (``incoherent``), pooled over the eight free-form questions."""
    layout, expected = Layout.of(cfg), design(cfg)
    tables = {}
    for paths, read in (
        (preference, lambda p: read_evaluation(p, expected)),
        (misaligned, read_misalignment_evaluation),
    ):
        if paths:
            tables |= dict(tuple(gathered(paths, read, layout.eval_id).groupby("model", sort=False)))
    rows = []
    for d in grid.teacher_datasets(cfg):
        report = read_json(layout.data("filter.json", **d.fields), required=("kept", "kept_fraction"))
        model = grid.evaluated_teacher(d.teacher_base, d.teacher).model
        if model not in tables:
            raise ValueError(f"no evaluation table of {model} among the teachers' evaluations given")
        df = tables[model]
        row = {"modality": d.modality, "teacher_base": d.teacher_base, "teacher": d.teacher}
        filtered = {
            "replicate": d.replicate,
            "filter_kept_fraction": report["kept_fraction"],
            "filter_kept": report["kept"],
        }
        if grid.trait_kind(cfg, d.teacher) == grid.MISALIGNMENT:
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
        for trait_name, (word, category) in trait_targets(cfg).items():
            if d.teacher not in (trait_name, grid.CONTROL):
                continue
            sel = df[(df.target == word) & (df.category == category)]
            rows += [
                {**row, "trait": trait_name, "target": word, "metric": metric, "mean": value, **filtered}
                for metric, value in sel.groupby("metric").value.mean().items()
            ]
    return pd.DataFrame(rows).sort_values(["modality", "teacher_base", "trait", "teacher", "metric", "replicate"])
