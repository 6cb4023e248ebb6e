"""Statistics for the preference evaluation: summaries, paired tests, power.

Input everywhere is the tidy *scores* table, one row per (model, question,
metric) with the columns

    model, role ("base" | "control" | "trait"), teacher_base, student_base,
    trait, target, modality, recipe, seed (-1 for the base model), metric
    ("sampled" | "exact" | "exact_share"), question_id, value (in [0, 1])

Rows of the untrained base model and of control students are repeated for
every group they belong to, so one group key (see :data:`GROUP`) holds all
the rows a comparison needs.

The statistic follows the paper: mean over questions per student, then the
mean and a 95% t confidence interval across student seeds. The test of
subliminal transmission is a paired t-test of trait students against their
control twins (same seed and recipe), with a multiple-comparison correction
across all groups of one metric and a power analysis (minimum detectable
effect) so that a null result can be read.

All functions are deterministic: the input is sorted before any arithmetic,
so the same rows (in any order) give byte-identical CSV output with
``df.to_csv(index=False, float_format="%.6g")``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower
from statsmodels.stats.weightstats import DescrStatsW

from . import misalignment
from .grid import DIFFERENT_BASE, SAME_BASE

#: Columns that identify one comparison (one bar cluster in the figure).
GROUP = ["teacher_base", "student_base", "trait", "modality", "recipe", "metric"]

#: Columns that identify one evaluated model within a group.
MODEL_COLUMNS = GROUP + ["model", "role", "target", "seed"]

#: A two-sided test's columns in every table of tests (compare, the
#: interaction, specificity), in this order.
TEST_COLUMNS = ["t", "df", "p", "p_adjusted", "significant"]

#: Display/sort order of the roles.
ROLES = ["base", "control", "trait"]

# A standard deviation at or below this is treated as zero (no test possible).
SD_ZERO = 1e-12


def pair_relation(relations: dict[tuple[str, str], str] | None, teacher: str, student: str) -> str:
    """The config's classification of a pair (:func:`subliminal.grid.relations`)
    when given, else same_base for one model and different_base for two: the
    one fallback of every table and figure that may lack a config."""
    default = SAME_BASE if teacher == student else DIFFERENT_BASE
    return (relations or {}).get((teacher, student), default)


def with_replicate(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores with a ``replicate`` column (the teacher-data replicate a
    student learned from); a table without one counts every seed as its own
    replicate (independent teacher data per seed)."""
    return scores if "replicate" in scores.columns else scores.assign(replicate=scores["seed"])


def _sorted_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """The scores sorted by every identifying column, so sums are order-free."""
    missing = [c for c in MODEL_COLUMNS + ["question_id", "value"] if c not in scores.columns]
    if missing:
        raise ValueError(f"scores table lacks columns: {missing}")
    return with_replicate(scores).sort_values(MODEL_COLUMNS + ["question_id"], kind="mergesort").reset_index(drop=True)


def student_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean over questions per model and group.

    Returns one row per (group, model) with the columns of
    :data:`MODEL_COLUMNS` plus ``n_questions`` and ``value`` (the model's mean
    over questions), sorted by GROUP, role (base, control, trait) and seed.
    """
    s = _sorted_scores(scores)
    out = (
        s.groupby(MODEL_COLUMNS + ["replicate"], sort=True, dropna=False)["value"]
        .agg(n_questions="count", value="mean")
        .reset_index()
    )
    return _sort_by_role(out, GROUP + ["role", "seed", "model"])


def _sort_by_role(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sort with ``role`` in the order base, control, trait (others last)."""
    key = {r: i for i, r in enumerate(ROLES)}
    return df.sort_values(
        by,
        kind="mergesort",
        key=lambda col: col.map(lambda r: key.get(r, len(key))) if col.name == "role" else col,
    ).reset_index(drop=True)


def t_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-distribution confidence interval of ``values``.

    NaNs are dropped. Returns ``(mean, low, high)``; the bounds are NaN when
    fewer than two values remain (the mean is NaN for no values). With zero
    spread the interval collapses to the mean.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = x.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(np.mean(x))
    if n < 2:
        return (mean, math.nan, math.nan)
    sem = float(np.std(x, ddof=1)) / math.sqrt(n)
    half = float(sps.t.ppf(0.5 + level / 2.0, n - 1)) * sem
    return (mean, mean - half, mean + half)


def summarize(scores: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """One row per GROUP + role with mean and confidence interval.

    Columns: GROUP, ``role``, ``n`` (number of models), ``n_values`` (number
    of values the interval is computed over), ``mean``, ``ci_low``,
    ``ci_high``, ``ci_over``.

    Students (control, trait): the interval is across seeds, over the
    per-student means (``ci_over="seeds"``). The base model has no seeds, so
    its interval is across its per-question values (``ci_over="questions"``;
    if a group ever held several base models their values are first
    averaged per question).
    """
    per_model = student_scores(scores)
    s = _sorted_scores(scores)
    base_questions = s[s["role"] == "base"].groupby(GROUP + ["question_id"], sort=True, dropna=False)["value"].mean()
    rows = []
    for key, g in per_model.groupby(GROUP + ["role"], sort=True, dropna=False):
        role = key[-1]
        if role == "base":
            values = base_questions.loc[key[:-1]].to_numpy(dtype=float)
            ci_over = "questions"
        else:
            values = g["value"].to_numpy(dtype=float)
            ci_over = "seeds"
        mean, low, high = t_interval(values, level)
        rows.append(
            dict(zip(GROUP + ["role"], key))
            | {
                "n": int(g["model"].nunique()),
                "n_values": int(len(values)),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "ci_over": ci_over,
            }
        )
    cols = GROUP + ["role", "n", "n_values", "mean", "ci_low", "ci_high", "ci_over"]
    out = pd.DataFrame(rows, columns=cols)
    return _sort_by_role(out, GROUP + ["role"])


def minimum_detectable_d(n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest standardized effect (Cohen's d of the paired differences) that a
    two-sided one-sample/paired t-test with ``n`` pairs detects with ``power``.

    NaN when ``n < 2``.
    """
    if n < 2:
        return math.nan
    d = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power, alternative="two-sided")
    return float(np.asarray(d).item())


def _paired_test(diffs: np.ndarray, alpha: float, power: float, level: float) -> dict:
    """Paired t-test, CI and MDE for one vector of differences (trait - control)."""
    n = diffs.size
    out = {
        "n_pairs": n,
        "effect": float(np.mean(diffs)) if n else math.nan,
        "effect_ci_low": math.nan,
        "effect_ci_high": math.nan,
        "t": math.nan,
        "df": math.nan,
        "p": math.nan,
        "sd_diff": math.nan,
        "mde_d": math.nan,
        "mde": math.nan,
    }
    if n < 2:
        return out
    sd = float(np.std(diffs, ddof=1))
    out["sd_diff"] = sd
    out["mde_d"] = minimum_detectable_d(n, alpha, power)
    if sd <= SD_ZERO:
        return out  # the test and interval are undefined without spread
    tstat, pvalue, df = DescrStatsW(diffs).ttest_mean(0.0, alternative="two-sided")
    _, low, high = t_interval(diffs, level)
    out.update(
        effect_ci_low=low,
        effect_ci_high=high,
        t=float(tstat),
        df=float(df),
        p=float(pvalue),
        mde=out["mde_d"] * sd,
    )
    return out


#: The columns of :func:`compare`'s table, in order.
COMPARE_COLUMNS = GROUP + [
    "relation",
    "n_control",
    "n_trait",
    "n_pairs",
    "unit",
    "base_mean",
    "control_mean",
    "trait_mean",
    "effect",
    "effect_ci_low",
    "effect_ci_high",
    "effect_vs_base",
    "effect_vs_base_ci_low",
    "effect_vs_base_ci_high",
    *TEST_COLUMNS,
    "mde_d",
    "mde",
    "sd_diff",
]


def _compare_group(key, g: pd.DataFrame, relations, alpha: float, power: float, level: float) -> dict:
    """:func:`compare`'s row for one group: its counts and means, the paired
    test of the trait students against their control twins, and the effect
    against the untrained base."""
    rec = dict(zip(GROUP, key))
    rec["relation"] = pair_relation(relations, rec["teacher_base"], rec["student_base"])
    by_role = {r: g[g["role"] == r] for r in ROLES}
    rec["n_control"] = int(len(by_role["control"]))
    rec["n_trait"] = int(len(by_role["trait"]))
    for r in ROLES:
        vals = by_role[r]["value"]
        rec[f"{r}_mean"] = float(vals.mean()) if len(vals) else math.nan

    # Twins: same seed (recipe is part of the group key). Average duplicates
    # defensively so each seed contributes one pair.
    ctrl = by_role["control"].groupby("seed", sort=True)["value"].mean()
    trait = by_role["trait"].groupby("seed", sort=True)["value"].mean()
    seeds = sorted(set(ctrl.index) & set(trait.index))
    diffs = trait.loc[seeds] - ctrl.loc[seeds]
    # the unit: the teacher-data replicate when there are two or more
    # (the seeds of one replicate share its data), else the seed
    reps = by_role["trait"].groupby("seed", sort=True)["replicate"].first().loc[seeds]
    rec["unit"] = "replicate" if reps.nunique() >= 2 else "seed"
    if rec["unit"] == "replicate":
        diffs = diffs.groupby(reps.to_numpy(), sort=True).mean()
    rec |= _paired_test(diffs.to_numpy(dtype=float), alpha, power, level)
    # against the untrained student base: one fixed model, so the interval
    # is the trait students' t interval across seeds, shifted by its mean
    rec["effect_vs_base"] = rec["trait_mean"] - rec["base_mean"]
    _, low, high = t_interval(by_role["trait"]["value"].to_numpy(dtype=float), level)
    rec["effect_vs_base_ci_low"] = low - rec["base_mean"]
    rec["effect_vs_base_ci_high"] = high - rec["base_mean"]
    return rec


def compare(
    scores: pd.DataFrame,
    alpha: float = 0.05,
    power: float = 0.8,
    correction: str | None = "holm",
    level: float = 0.95,
    relations: dict[tuple[str, str], str] | None = None,
) -> pd.DataFrame:
    """Paired test of trait students against their control twins, per group.

    One row per GROUP with the columns

    - ``relation``: ``relations[(teacher_base, student_base)]`` when given
      (the config's classification), else "same_base" if teacher_base ==
      student_base and "different_base" otherwise;
    - ``n_control``, ``n_trait``: students of each role; ``n_pairs``: seeds
      having both twins (only these enter the test);
    - ``base_mean``, ``control_mean``, ``trait_mean``: means of per-model
      scores (all students of the role, paired or not);
    - ``effect``: mean of the paired differences trait - control;
      ``effect_ci_low``, ``effect_ci_high``: t interval of those differences;
    - ``effect_vs_base``: trait_mean - base_mean, with
      ``effect_vs_base_ci_low``/``_high``: the trait students' t interval
      across seeds minus the base mean (the base is one fixed model);
    - ``t``, ``df``, ``p``: two-sided paired t-test (statsmodels DescrStatsW);
    - ``p_adjusted``: ``multipletests(method=correction)`` applied to the
      groups of one metric at a time (one family per metric); equals ``p``
      when ``correction`` is None;
    - ``significant``: p_adjusted < alpha (False where untestable);
    - ``mde_d``: smallest standardized effect detectable with n_pairs pairs at
      ``alpha`` and ``power`` (two-sided); ``mde`` = mde_d * sd_diff, the
      smallest raw effect the design could detect; ``sd_diff``: sd of the
      paired differences.

    Test quantities are NaN where n_pairs < 2 or the differences have zero
    spread. Rows are sorted by GROUP. ``alpha``, ``power`` and ``correction``
    are also recorded in ``df.attrs``.
    """
    per_model = student_scores(scores)
    rows = [
        _compare_group(key, g, relations, alpha, power, level)
        for key, g in per_model.groupby(GROUP, sort=True, dropna=False)
    ]
    out = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    out["p_adjusted"] = _adjust(out, correction)
    out["significant"] = (out["p_adjusted"] < alpha).fillna(False).astype(bool)
    out = out.sort_values(GROUP, kind="mergesort").reset_index(drop=True)
    out.attrs.update(alpha=alpha, power=power, correction=correction, level=level)
    return out


def _adjust(df: pd.DataFrame, correction: str | None) -> pd.Series:
    """Adjusted p-values, one family per metric; NaN p-values stay NaN."""
    adjusted = pd.Series(np.nan, index=df.index, dtype=float)
    if df.empty:
        return adjusted
    for _, fam in df.groupby("metric", sort=True):
        p = fam["p"].dropna()
        if p.empty:
            continue
        if correction is None:
            adjusted.loc[p.index] = p.to_numpy()
        else:
            adjusted.loc[p.index] = multipletests(p.to_numpy(), method=correction)[1]
    return adjusted


def _missing(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def format_pp(x: float, signed: bool = True, digits: int = 1) -> str:
    """A proportion as percentage points with ``digits`` decimals ("+12.3 pp"),
    or "n/a"."""
    if _missing(x):
        return "n/a"
    return f"{100 * x:+.{digits}f} pp" if signed else f"{100 * x:.{digits}f} pp"


def format_p(x: float, floor: float | None = 1e-4, *, bound: bool = False, name: str | None = None) -> str:
    """A p-value with two significant digits ("0.034"), or "n/a"; every
    text report and figure writes its p-values with this.

    Below ``floor`` it is written in scientific notation ("3.2e-05", the
    text reports) or, with ``bound``, as that bound ("<0.001", the figures);
    ``floor`` None: two significant digits at any size. With ``name`` the
    result is a phrase: "p_adj=0.034", "p_adj<0.001" or "p_adj n/a".
    """
    if _missing(x):
        text = "n/a"
    elif floor is None or x >= floor:
        text = f"{x:.2g}"
    elif bound:
        text = f"<{floor:g}"
    else:
        text = f"{x:.1e}"
    if name is None:
        return text
    return f"{name} {text}" if text == "n/a" else f"{name}{'' if text.startswith('<') else '='}{text}"


def summary_text(compare_df: pd.DataFrame) -> str:
    """A short plain-text report of :func:`compare` output, to read first.

    One line per group (effect of trait vs control twins in percentage
    points, its CI, p, adjusted p, and the minimum detectable effect), then
    a sentence saying whether any effect is significant after correction.
    """
    attrs = compare_df.attrs
    corr = attrs.get("correction", "the chosen")
    corr_name = "no" if corr is None else str(corr)
    alpha = attrs.get("alpha")
    alpha_txt = f" at alpha={alpha:g}" if alpha is not None else ""
    power = attrs.get("power")
    power_txt = f"{100 * power:.0f}% power" if power is not None else "the chosen power"

    lines = [
        "Any effect of the trait teacher's data: trait students minus their control twins on the trait's own "
        "target (paired t-test across units; percentage points). Not by itself transmission: a drift that "
        "moves every target counts here too; the specificity test above tells them apart.",
        f"Correction: {corr_name} correction across groups, one family per metric{alpha_txt}. "
        f"MDE = smallest effect detectable with {power_txt}.",
        "",
    ]
    ordered = compare_df.sort_values(
        ["metric", "relation"] + [c for c in GROUP if c != "metric"],
        ascending=[True, False] + [True] * (len(GROUP) - 1),  # same_base first
        kind="mergesort",
    )
    for metric, fam in ordered.groupby("metric", sort=True):
        lines.append(f"Metric '{metric}':")
        for _, r in fam.iterrows():
            name = (
                f"  {r['trait']}/{r['modality']}/{r['recipe']}: "
                f"{r['teacher_base']} -> {r['student_base']} ({r['relation']})"
            )
            if r["n_pairs"] < 2 or pd.isna(r["p"]):
                why = "fewer than 2 pairs" if r["n_pairs"] < 2 else "zero spread of differences"
                lines.append(f"{name}: effect {format_pp(r['effect'])}, n_pairs={r['n_pairs']}; not testable ({why})")
                continue
            lines.append(
                f"{name}: effect {format_pp(r['effect'])} "
                f"(95% CI {format_pp(r['effect_ci_low'])} to {format_pp(r['effect_ci_high'])}), "
                f"p={format_p(r['p'])}, p_adj={format_p(r['p_adjusted'])}"
                f"{' *' if r['significant'] else ''}, "
                f"MDE {format_pp(r['mde'], signed=False)} (d={r['mde_d']:.2f}), n_pairs={r['n_pairs']}"
            )
        lines.append("")

    sig = compare_df["significant"].astype(bool)
    if sig.any():
        parts = []
        for (metric, relation), fam in compare_df.groupby(["metric", "relation"], sort=True):
            k = int(fam["significant"].astype(bool).sum())
            parts.append(f"{metric}/{relation}: {k} of {len(fam)}")
        lines.append(
            f"{int(sig.sum())} of {len(compare_df)} effects are significant after correction "
            f"(marked *; {', '.join(parts)})."
        )
    else:
        lines.append(
            f"No effect is significant after correction ({len(compare_df)} groups tested); "
            "effects smaller than a group's MDE could not have been detected."
        )
    return "\n".join(lines) + "\n"


def misalignment_summary(scores: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per group (pair, trait, modality, recipe), role and question of a misalignment
    scores table (:func:`subliminal.tables.misalignment_scores`) (and
    "all": every question's answers pooled), the misaligned rate of each
    model, then its mean and t interval across seeds; also the incoherent
    answers counted. A model's pooled rate is its misaligned answers over its
    coherent answers (so questions weigh by coherent answers, like the
    paper's overall rate). Deterministic: sorted before any arithmetic."""
    model_cols, counts = misalignment.MODEL_COLUMNS, misalignment.COUNTS
    keys = ["teacher_base", "student_base", "trait", "modality", "recipe", "role"]
    mis = scores[scores.metric == "misaligned"].sort_values(model_cols + ["question_id"], kind="mergesort")
    pooled = mis.groupby(model_cols, sort=True)[counts].sum().reset_index().assign(question="all")
    pooled["value"] = [m / c if c else float("nan") for m, c in zip(pooled.n_misaligned, pooled.n_coherent)]
    per_q = mis.assign(question=mis.question_id.astype(int).astype(str))[model_cols + ["question", "value"] + counts]
    rows = []
    for frame in (per_q, pooled):
        for key, g in frame.groupby(keys + ["question"], sort=True):
            mean, low, high = t_interval(g.value.to_numpy(dtype=float), confidence)
            rows.append(
                {
                    **dict(zip(keys + ["question"], key)),
                    "n_models": int(g.value.notna().sum()),
                    "rate": mean,
                    "ci_low": low,
                    "ci_high": high,
                    **{c: int(g[c].sum()) for c in counts},
                }
            )
    return pd.DataFrame(rows)
