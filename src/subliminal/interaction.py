"""The test that decides transmission across bases: is the trait effect larger
for matched teacher/student pairs than for mismatched ones?

The per-group paired tests in :mod:`subliminal.stats` say whether one pair
transmits. The paper's claim is comparative (transmission happens when the
bases match and not otherwise), so it needs one model over all students of a
stratum (trait, modality, recipe) with a treatment x relation interaction:

    y[student, question] ~ pair fixed effects + treatment + treatment:matched

* ``treatment`` = 1 for a student of the trait teacher, 0 for its control twin;
* ``matched`` = 1 when the pair's relation is same_base (one model, or one
  declared init_group), 0 for every mismatched relation;
* pair fixed effects absorb each pair's control level, so the matched main
  effect needs no separate term (it is a function of the pair).

Then ``treatment`` is the (pooled) trait effect in mismatched pairs,
``treatment + treatment:matched`` the effect in matched pairs, and the
interaction their difference: the number that answers the question.

Two models, both with standard errors clustered by student seed (the twins
of one seed, and every student base of one seed, share its training-data
subset, so they are not independent), t reference with G - 1 degrees of
freedom for G seeds (statsmodels' cluster correction G/(G-1)(N-1)/(N-K)):

* ``linear``: OLS on each student's mean over questions; coefficients are in
  probability units, so the interaction is a difference of effects in
  percentage points. With a balanced design it equals
  mean(trait - control | matched) - mean(trait - control | mismatched).
* ``logit``: a binomial GLM on the per-question answers. For the ``sampled``
  metric the outcome is the count of the N samples that named the target
  (a true binomial); for the exact-probability metrics it is the probability
  itself (a fractional logit, Papke & Wooldridge's quasi-likelihood, whose
  cluster-robust errors do not rely on the binomial variance). Coefficients
  are log-odds ratios.

Power: the smallest interaction the design could detect with the chosen
power, from the fitted cluster-robust standard error and the t reference the
test uses (statsmodels' ``TTestPower`` solved for G observations gives the
needed noncentrality d*sqrt(G); MDE = d*sqrt(G)*SE). It is computed from the
variation observed with the configured seeds and samples per question; no
binomial formula is used because the evaluation draws its samples with the
same seeds for every student (common random numbers), so much of the sampling
noise cancels between twins and an independent-binomial bound would overstate
it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from .grid import SAME_BASE
from .stats import SD_ZERO, TEST_COLUMNS, format_p, format_pp, pair_relation, with_replicate

#: Columns that identify one interaction model.
STRATUM = ["trait", "modality", "recipe"]

MATCHED = SAME_BASE

#: Terms reported for each model, in order.
TERMS = ["effect_mismatched", "effect_matched", "interaction"]

COLUMNS = STRATUM + [
    "metric",
    "model",
    "scale",
    "term",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    *TEST_COLUMNS,
    "mde",
    "n_students",
    "n_seeds",
    "n_clusters",
    "cluster",
    "n_pairs_matched",
    "n_pairs_mismatched",
    "note",
]


def student_rows(
    scores: pd.DataFrame, metric: str, relations: dict[tuple[str, str], str] | None = None
) -> pd.DataFrame:
    """Per-question rows of the trait and control students of one metric, with
    ``pair``, ``relation``, ``matched`` (0/1) and ``treatment`` (0/1).

    Control students appear once per group in the scores table; a control
    student is one model, so duplicates within a stratum are dropped.
    """
    s = scores[(scores["metric"] == metric) & scores["role"].isin(["control", "trait"])].copy()
    s["pair"] = s["teacher_base"] + "->" + s["student_base"]
    s["relation"] = [pair_relation(relations, t, st) for t, st in zip(s["teacher_base"], s["student_base"])]
    s["matched"] = (s["relation"] == MATCHED).astype(int)
    s["treatment"] = (s["role"] == "trait").astype(int)
    s = with_replicate(s).drop_duplicates(STRATUM + ["model", "question_id"])
    return s.sort_values(STRATUM + ["pair", "seed", "treatment", "question_id"], kind="mergesort").reset_index(
        drop=True
    )


def design(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Design matrix: one indicator per pair (no intercept), treatment,
    treatment x matched. Pairs in sorted order."""
    pairs = sorted(df["pair"].unique())
    cols = [(df["pair"] == p).to_numpy(float) for p in pairs]
    t = df["treatment"].to_numpy(float)
    cols += [t, t * df["matched"].to_numpy(float)]
    return np.column_stack(cols), [f"pair[{p}]" for p in pairs] + ["treatment", "treatment:matched"]


def _contrasts(k: int) -> dict[str, np.ndarray]:
    """The reported terms as contrasts of the coefficients (last two are
    treatment and treatment:matched)."""
    c = {name: np.zeros(k) for name in TERMS}
    c["effect_mismatched"][k - 2] = 1.0
    c["effect_matched"][k - 2] = c["effect_matched"][k - 1] = 1.0
    c["interaction"][k - 1] = 1.0
    return c


def _mde_multiplier(n_seeds: int, alpha: float, power: float) -> float:
    """Noncentrality a t-test with n_seeds - 1 df needs to reach ``power``:
    the MDE in standard errors (statsmodels' TTestPower, nobs = n_seeds)."""
    if n_seeds < 2:
        return math.nan
    d = TTestPower().solve_power(effect_size=None, nobs=n_seeds, alpha=alpha, power=power, alternative="two-sided")
    return float(np.asarray(d).item()) * math.sqrt(n_seeds)


def _fit(kind: str, df: pd.DataFrame, n_samples: int | None):
    import statsmodels.api as sm

    groups = pd.factorize(df["cluster"], sort=True)[0]
    X, _ = design(df)
    if kind == "linear":
        model = sm.OLS(df["value"].to_numpy(float), X)
    else:
        y = df["value"].to_numpy(float)
        if n_samples:  # the sampled metric: counts of N answers naming the target
            k = np.rint(y * n_samples)
            y = np.column_stack([k, n_samples - k])
        model = sm.GLM(y, X, family=sm.families.Binomial())
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=RuntimeWarning)
        from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

        warnings.simplefilter("error", category=ConvergenceWarning)
        warnings.simplefilter("error", category=PerfectSeparationWarning)
        res = model.fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    return res


def _student_means(df: pd.DataFrame) -> pd.DataFrame:
    keys = STRATUM + ["pair", "relation", "matched", "treatment", "seed", "cluster", "model"]
    return df.groupby(keys, sort=True)["value"].mean().reset_index()


def _twin_spread(means: pd.DataFrame) -> float:
    """Largest |trait - control| over all twin pairs: zero means the data
    cannot tell the effects apart (the test statistic would be 0/0)."""
    wide = means.pivot_table(index=["pair", "seed"], columns="treatment", values="value")
    return float((wide[1] - wide[0]).abs().max())


def _empty_rows(base: dict, note: str) -> list[dict]:
    return [base | {"term": term, "note": note} for term in TERMS]


def fit_stratum(
    df: pd.DataFrame, metric: str, *, n_samples: int | None, alpha: float, power: float, level: float
) -> list[dict]:
    """Both models for one stratum and metric: a row per model and term."""
    key = {c: df[c].iloc[0] for c in STRATUM}
    # clusters: the teacher-data replicates when there are two or more (every
    # student of a replicate shares its data), else the student seeds
    by_rep = df["replicate"].nunique() >= 2
    df = df.assign(cluster=df["replicate"] if by_rep else df["seed"])
    means = _student_means(df)
    twins = means.groupby(["pair", "matched", "seed"])["treatment"].nunique()
    pairs = means.groupby("pair")["matched"].first()
    info = {
        "n_students": int(means["model"].nunique()),
        "n_seeds": int(means["seed"].nunique()),
        "n_clusters": int(means["cluster"].nunique()),
        "cluster": "replicate" if by_rep else "seed",
        "n_pairs_matched": int((pairs == 1).sum()),
        "n_pairs_mismatched": int((pairs == 0).sum()),
    }
    mult = _mde_multiplier(info["n_clusters"], alpha, power)
    rows: list[dict] = []
    for kind, scale in (("linear", "probability"), ("logit", "log-odds")):
        base = key | {"metric": metric, "model": kind, "scale": scale} | info
        if info["n_pairs_matched"] == 0 or info["n_pairs_mismatched"] == 0:
            rows += _empty_rows(base, "needs matched and mismatched pairs")
            continue
        if info["n_clusters"] < 2:
            rows += _empty_rows(base, "needs at least 2 clusters (seeds or replicates)")
            continue
        if (twins < 2).any():
            rows += _empty_rows(base, "some students lack their control twin")
            continue
        if _twin_spread(means) <= SD_ZERO:
            rows += _empty_rows(base, "no twin differs from its control (zero spread)")
            continue
        data = means if kind == "linear" else df
        try:
            res = _fit(kind, data, n_samples if (metric == "sampled" and kind == "logit") else None)
        except Exception as err:  # separation, non-convergence, singular design
            rows += _empty_rows(base, f"{kind} fit failed: {type(err).__name__}: {err}".replace("\n", " "))
            continue
        for term, c in _contrasts(len(res.params)).items():
            tt = res.t_test(c)
            est, se = float(np.squeeze(tt.effect)), float(np.squeeze(tt.sd))
            dfree = float(tt.df_denom)
            half = float(sps.t.ppf(0.5 + level / 2, dfree)) * se
            ok = se > 0 and np.isfinite(se)
            rows.append(
                base
                | {
                    "term": term,
                    "estimate": est,
                    "se": se,
                    "ci_low": est - half if ok else math.nan,
                    "ci_high": est + half if ok else math.nan,
                    "t": float(np.squeeze(tt.tvalue)) if ok else math.nan,
                    "df": dfree,
                    "p": float(np.squeeze(tt.pvalue)) if ok else math.nan,
                    "mde": mult * se if term == "interaction" and ok else math.nan,
                    "note": "",
                }
            )
    return rows


def interaction(
    scores: pd.DataFrame,
    *,
    metrics: list[str] | None = None,
    relations: dict[tuple[str, str], str] | None = None,
    n_samples: int | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    correction: str | None = "holm",
    level: float = 0.95,
) -> pd.DataFrame:
    """The interaction models for every stratum and metric, as a tidy table
    (see :data:`COLUMNS`). ``n_samples``: samples per question of the
    ``sampled`` metric (its logit model is then a true binomial).

    ``p_adjusted``: the interaction p-values corrected across strata, one
    family per (metric, model); effect rows are descriptive and keep their
    raw p. ``significant``: p_adjusted < alpha.
    """
    metrics = metrics or sorted(scores["metric"].unique())
    rows: list[dict] = []
    for metric in metrics:
        data = student_rows(scores, metric, relations)
        for _, df in data.groupby(STRATUM, sort=True):
            rows += fit_stratum(df, metric, n_samples=n_samples, alpha=alpha, power=power, level=level)
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["p_adjusted"] = out["p"]
    inter = out["term"] == "interaction"
    for _, fam in out[inter].groupby(["metric", "model"], sort=True):
        p = fam["p"].dropna()
        if correction is not None and len(p) > 1:  # one test needs no correction
            out.loc[p.index, "p_adjusted"] = multipletests(p.to_numpy(), method=correction)[1]
    out["significant"] = (out["p_adjusted"] < alpha).fillna(False).astype(bool)
    order = {t: i for i, t in enumerate(TERMS)}
    out = out.sort_values(
        ["metric", "model"] + STRATUM + ["term"],
        kind="mergesort",
        key=lambda c: c.map(order) if c.name == "term" else c,
    ).reset_index(drop=True)
    out.attrs.update(alpha=alpha, power=power, correction=correction, level=level)
    return out


def _num(x: float, scale: str, signed: bool = True) -> str:
    if scale == "probability":
        return format_pp(x, signed, digits=2)
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def summary_text(table: pd.DataFrame) -> str:
    """Plain-text lines for the interaction test, to read first."""
    a = table.attrs
    lines = [
        "Is transmission larger for matched (same base / init group) than mismatched pairs?",
        "One model per trait/modality/recipe over all students: value ~ pair + treatment + treatment:matched,",
        "SEs clustered by teacher-data replicate (or student seed without replicates; t with clusters-1 df); "
        f"interaction p corrected ({a.get('correction') or 'none'}) across strata per metric and model; "
        f"MDE at {100 * a.get('power', 0.8):.0f}% power.",
        "",
    ]
    for (metric, model), fam in table.groupby(["metric", "model"], sort=True):
        for _, g in fam.groupby(STRATUM, sort=True):
            r = {row["term"]: row for _, row in g.iterrows()}
            i = r["interaction"]
            name = f"  {metric} [{model}] {i['trait']}/{i['modality']}/{i['recipe']}"
            if i["note"]:
                lines.append(f"{name}: not testable ({i['note']})")
                continue
            sc = i["scale"]
            lines.append(
                f"{name}: matched {_num(r['effect_matched']['estimate'], sc)}, "
                f"mismatched {_num(r['effect_mismatched']['estimate'], sc)}; "
                f"interaction {_num(i['estimate'], sc)} (95% CI {_num(i['ci_low'], sc)} to {_num(i['ci_high'], sc)}), "
                f"p={format_p(i['p'])}, p_adj={format_p(i['p_adjusted'])}{' *' if i['significant'] else ''}, "
                f"MDE {_num(i['mde'], sc, signed=False)}, {i['n_seeds']} seeds, "
                f"{i['n_pairs_matched']}+{i['n_pairs_mismatched']} pairs"
            )
    return "\n".join(lines) + "\n"
