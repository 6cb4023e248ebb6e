"""Is the effect specific to the trait? The test that tells transmission
from any other effect of a trait teacher's data.

The paired test of :mod:`subliminal.stats` (trait students minus their
control twins) calls every difference between two teachers' data
"transmission", including a drift that moves every animal: the trait
teacher's numbers differ from the control's (another filter pass rate,
another number distribution), and students of any base react to that. The
paper's evidence is trait-specific: each animal's students move toward *that*
animal. With two or more preference traits of one category, and every
student scored on every candidate, that is testable.

Input: the *targets* table (:func:`subliminal.stages.collect_targets`), one
row per evaluated model, target and metric with the model's mean over the
questions::

    model, role ("base" | "control" | "trait"), teacher_base, student_base,
    teacher, modality, recipe, seed, replicate, category, target, metric, value

For one stratum (teacher base, student base, modality, recipe, metric) and
one seed k, the shift of target j in the students of trait t is

    shift[t, j] = value(trait-t student, j) - value(control twin, j),

and the specificity of trait i (target w_i, its word) is

    S[i, k] = shift[i, w_i] - mean over the other traits t of its category of shift[t, w_i],

the own target's shift minus the shift the other traits' data give the same
target. A drift that moves every target alike cancels. (The control twin
cancels too: S[i, k] = value(trait-i student, w_i) - mean over t of
value(trait-t student, w_i); the twins make the shifts readable.) S[k] is
the mean over traits; the test is a t-test of S across the statistical
units, with a t interval, a multiple-comparison correction across the rows
of one metric, and the minimum detectable effect.

The unit is the teacher-data replicate when the study has two or more
(the seeds of one replicate share its data, so they are averaged first), else
the student seed (the test is then conditional on the one teacher dataset).

The interaction on this contrast: one model per (modality, recipe, metric)
over every pair's specificity values, S ~ 1 + matched, with standard errors
clustered by unit and t with G - 1 df (statsmodels, as
:mod:`subliminal.interaction`): its coefficient of ``matched`` is the
matched pairs' specificity minus the mismatched pairs'.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.weightstats import DescrStatsW

from .grid import IDENTITY
from .stats import SD_ZERO, TEST_COLUMNS, format_p, format_pp, minimum_detectable_d, pair_relation, t_interval
from .interaction import MATCHED, _mde_multiplier

#: One specificity row.
KEY = ["teacher_base", "student_base", "modality", "recipe", "metric"]
#: One interaction row.
STRATUM = ["modality", "recipe", "metric"]
INTERACTION = "interaction"

COLUMNS = KEY + [
    "relation",
    "effect",
    "effect_ci_low",
    "effect_ci_high",
    *TEST_COLUMNS,
    "mde",
    "sd",
    "n_pairs",
    "n_traits",
    "unit",
    "traits",
    "note",
]

#: The targets table's columns: a model's identity (its evaluation table's,
#: without the evaluation id) and its mean score per target and metric.
TARGET_COLUMNS = [*IDENTITY[1:], "category", "target", "metric", "value"]


def shifts(targets: pd.DataFrame, traits: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """Every trait student's shift of every target against its control twin:
    KEY + seed, replicate, trait, word (the trait's own target), category,
    target, shift. ``traits``: trait name -> (word, category)."""
    missing = [c for c in TARGET_COLUMNS if c not in targets.columns]
    if missing:
        raise ValueError(f"targets table lacks columns: {missing}")
    by = ["teacher_base", "student_base", "modality", "recipe", "metric", "seed", "category", "target"]
    ctrl = targets[targets["role"] == "control"].groupby(by, sort=True)["value"].mean().rename("control").reset_index()
    tr = targets[(targets["role"] == "trait") & targets["teacher"].isin(list(traits))]
    tr = tr[[traits[t][1] == c for t, c in zip(tr["teacher"], tr["category"])]]
    out = tr.merge(ctrl, on=by, how="inner", validate="many_to_one")
    out = out.assign(
        shift=out["value"] - out["control"], trait=out["teacher"], word=[traits[t][0] for t in out["teacher"]]
    )
    cols = KEY + ["seed", "replicate", "trait", "word", "category", "target", "shift"]
    return out[cols].sort_values(cols[:-1], kind="mergesort").reset_index(drop=True)


def per_trait(shift_df: pd.DataFrame) -> pd.DataFrame:
    """S[i, k] for every trait i that has at least one other trait of its
    category in the same stratum and seed: KEY + seed, replicate, trait,
    own (its target's shift), others (the other traits' mean shift of that
    target), specificity (own - others)."""
    rows = []
    for key, g in shift_df.groupby(KEY + ["seed", "replicate", "category"], sort=True):
        traits = sorted(g["trait"].unique())
        word_of = g.groupby("trait")["word"].first()
        shift = g.set_index(["trait", "target"])["shift"]
        for i in traits:
            word = word_of[i]
            # the traits of another word (two teachers of one word, e.g. by
            # prompt and by fine-tuning, are no contrast for each other)
            others = [shift.get((t, word), math.nan) for t in traits if word_of[t] != word]
            if not others:
                continue
            own = shift.get((i, word), math.nan)
            rows.append(
                dict(zip(KEY + ["seed", "replicate", "category"], key))
                | {
                    "trait": i,
                    "own": own,
                    "others": float(np.mean(others)),
                    "specificity": own - float(np.mean(others)),
                }
            )
    cols = KEY + ["seed", "replicate", "category", "trait", "own", "others", "specificity"]
    return pd.DataFrame(rows, columns=cols)


def unit_values(per: pd.DataFrame) -> pd.DataFrame:
    """The specificity per statistical unit of each stratum: the mean over
    traits per seed, then (with two or more replicates in the stratum) the
    mean over the seeds of each replicate. KEY + unit, unit_id, n_traits,
    traits, value."""
    rows = []
    for key, g in per.groupby(KEY, sort=True):
        seeds = (
            g.groupby(["seed", "replicate"], sort=True)
            .agg(value=("specificity", "mean"), n_traits=("trait", "nunique"))
            .reset_index()
        )
        by_rep = seeds["replicate"].nunique() >= 2
        unit = "replicate" if by_rep else "seed"
        units = seeds.groupby(unit, sort=True)["value"].mean()
        for uid, value in units.items():
            rows.append(
                dict(zip(KEY, key))
                | {
                    "unit": unit,
                    "unit_id": int(uid),
                    "value": float(value),
                    "n_traits": int(g["trait"].nunique()),
                    "traits": ",".join(sorted(g["trait"].unique())),
                }
            )
    return pd.DataFrame(rows, columns=KEY + ["unit", "unit_id", "value", "n_traits", "traits"])


def _test(values: np.ndarray, alpha: float, power: float, level: float) -> dict:
    n = values.size
    out = {
        "effect": float(np.mean(values)) if n else math.nan,
        "effect_ci_low": math.nan,
        "effect_ci_high": math.nan,
        "t": math.nan,
        "df": math.nan,
        "p": math.nan,
        "mde": math.nan,
        "sd": math.nan,
        "n_pairs": int(n),
        "note": "",
    }
    if n < 2:
        return out | {"note": "fewer than 2 units"}
    sd = float(np.std(values, ddof=1))
    out["sd"] = sd
    if sd <= SD_ZERO:
        return out | {"note": "zero spread"}
    t, p, df = DescrStatsW(values).ttest_mean(0.0, alternative="two-sided")
    _, low, high = t_interval(values, level)
    return out | {
        "effect_ci_low": low,
        "effect_ci_high": high,
        "t": float(t),
        "df": float(df),
        "p": float(p),
        "mde": minimum_detectable_d(n, alpha, power) * sd,
    }


def _interaction(units: pd.DataFrame, relations, alpha: float, power: float, level: float) -> list[dict]:
    import statsmodels.api as sm

    rows = []
    for key, g in units.groupby(STRATUM, sort=True):
        g = g.copy()
        g["matched"] = [
            int(pair_relation(relations, t, s) == MATCHED) for t, s in zip(g["teacher_base"], g["student_base"])
        ]
        n_units = int(g["unit_id"].nunique())
        base = dict(zip(STRATUM, key)) | {
            "teacher_base": "*",
            "student_base": "*",
            "relation": INTERACTION,
            "n_pairs": n_units,
            "n_traits": int(g["n_traits"].max()),
            "unit": g["unit"].iloc[0],
            "traits": g["traits"].iloc[0],
        }
        empty = {c: math.nan for c in ("effect", "effect_ci_low", "effect_ci_high", "t", "df", "p", "mde", "sd")}
        if g["matched"].nunique() < 2:
            rows.append(base | empty | {"note": "needs matched and mismatched pairs"})
            continue
        if n_units < 2:
            rows.append(base | empty | {"note": "needs at least 2 units (clusters)"})
            continue
        if float(g["value"].std(ddof=1)) <= SD_ZERO:
            rows.append(base | empty | {"note": "zero spread"})
            continue
        X = np.column_stack([np.ones(len(g)), g["matched"].to_numpy(float)])
        groups = pd.factorize(g["unit_id"], sort=True)[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=RuntimeWarning)
            res = sm.OLS(g["value"].to_numpy(float), X).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
        tt = res.t_test(np.array([0.0, 1.0]))
        est, se, dfree = float(np.squeeze(tt.effect)), float(np.squeeze(tt.sd)), float(tt.df_denom)
        ok = se > 0 and np.isfinite(se)
        half = float(sps.t.ppf(0.5 + level / 2, dfree)) * se if ok else math.nan
        rows.append(
            base
            | {
                "effect": est,
                "effect_ci_low": est - half,
                "effect_ci_high": est + half,
                "t": float(np.squeeze(tt.tvalue)) if ok else math.nan,
                "df": dfree,
                "p": float(np.squeeze(tt.pvalue)) if ok else math.nan,
                "mde": _mde_multiplier(n_units, alpha, power) * se if ok else math.nan,
                "sd": math.nan,
                "note": "",
            }
        )
    return rows


def specificity(
    targets: pd.DataFrame,
    traits: dict[str, tuple[str, str]],
    *,
    relations: dict[tuple[str, str], str] | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    correction: str | None = "holm",
    level: float = 0.95,
) -> pd.DataFrame:
    """The specificity table (see the module's docstring): one row per KEY
    (``relation`` the pair's), then one ``interaction`` row per STRATUM
    (``teacher_base`` = ``student_base`` = "*"). ``p_adjusted``: corrected
    across the pair rows of one metric, and separately across the
    interaction rows of one metric. Empty (with the columns) when no
    category has two traits."""
    units = unit_values(per_trait(shifts(targets, traits)))
    rows = []
    for key, g in units.groupby(KEY, sort=True):
        rec = dict(zip(KEY, key))
        rows.append(
            rec
            | {
                "relation": pair_relation(relations, rec["teacher_base"], rec["student_base"]),
                "n_traits": int(g["n_traits"].iloc[0]),
                "unit": g["unit"].iloc[0],
                "traits": g["traits"].iloc[0],
            }
            | _test(g["value"].to_numpy(float), alpha, power, level)
        )
    rows += _interaction(units, relations, alpha, power, level)
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["p_adjusted"] = out["p"]
    if correction is not None:
        inter = out["relation"] == INTERACTION
        for _, fam in out.groupby([out["metric"], inter], sort=True):
            p = fam["p"].dropna()
            if len(p) > 1:
                out.loc[p.index, "p_adjusted"] = multipletests(p.to_numpy(), method=correction)[1]
    out["significant"] = (out["p_adjusted"] < alpha).fillna(False).astype(bool)
    out = out.assign(_i=(out["relation"] == INTERACTION).astype(int))
    out = (
        out.sort_values(["metric", "_i", "modality", "recipe", "teacher_base", "student_base"], kind="mergesort")
        .drop(columns="_i")
        .reset_index(drop=True)
    )
    out.attrs.update(alpha=alpha, power=power, correction=correction, level=level)
    return out


def trait_target_matrix(targets: pd.DataFrame, traits: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """The mean shift (trait student minus control twin, over seeds) of every
    target in the students of every trait: KEY + trait, category, target,
    shift, ci_low, ci_high, n (seeds), own (target == the trait's word)."""
    sh = shifts(targets, traits)
    rows = []
    for key, g in sh.groupby(KEY + ["trait", "word", "category", "target"], sort=True):
        mean, low, high = t_interval(g["shift"].to_numpy(float))
        rec = dict(zip(KEY + ["trait", "word", "category", "target"], key))
        rows.append(
            rec | {"shift": mean, "ci_low": low, "ci_high": high, "n": int(len(g)), "own": rec["target"] == rec["word"]}
        )
    return pd.DataFrame(
        rows, columns=KEY + ["trait", "word", "category", "target", "shift", "ci_low", "ci_high", "n", "own"]
    )


def summary_text(table: pd.DataFrame) -> str:
    """Plain-text lines to read first: the specificity of each pair, then
    the matched-vs-mismatched interaction on it."""
    a = table.attrs
    corr = a.get("correction")
    lines = [
        "Trait specificity: does each trait's data move its OWN target more than the other traits' data move it?",
        "S = shift of the trait's target in its students (vs control twins) minus the mean shift the other "
        "traits' students show on that target;",
        "mean over traits, t-test across units (teacher-data replicates, or seeds when the data are not "
        f"replicated); p corrected ({corr or 'none'}) per metric; MDE at {100 * a.get('power', 0.8):.0f}% power.",
        "",
    ]
    if table.empty:
        return "\n".join(lines + ["  not testable: no category has two preference traits", ""]) + "\n"
    for metric, fam in table.groupby("metric", sort=True):
        lines.append(f"Metric '{metric}':")
        for _, r in fam.iterrows():
            if r["relation"] == INTERACTION:
                name = f"  {r['modality']}/{r['recipe']}: matched minus mismatched (interaction)"
            else:
                name = f"  {r['modality']}/{r['recipe']}: {r['teacher_base']} -> {r['student_base']} ({r['relation']})"
            if r["note"]:
                lines.append(f"{name}: effect {format_pp(r['effect'], digits=2)}; not testable ({r['note']})")
                continue
            lines.append(
                f"{name}: {format_pp(r['effect'], digits=2)} (95% CI {format_pp(r['effect_ci_low'], digits=2)} to "
                f"{format_pp(r['effect_ci_high'], digits=2)}), p={format_p(r['p'])}, p_adj={format_p(r['p_adjusted'])}"
                f"{' *' if r['significant'] else ''}, MDE {format_pp(r['mde'], digits=2).lstrip('+')}, "
                f"{r['n_pairs']} {r['unit']}s, {r['n_traits']} traits ({r['traits']})"
            )
        lines.append("")
    return "\n".join(lines) + "\n"
