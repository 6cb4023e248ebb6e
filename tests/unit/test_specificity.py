"""The trait-specificity test: checked against an independent computation,
on simulated drifts (no false positives beyond the binomial band) and on a
simulated trait-specific shift (found and covered)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from conftest import targets_row
from scipy import stats as sps

from subliminal import specificity as sp
from subliminal.stats import compare

ANIMALS = ["owl", "cat", "dog", "lion", "wolf"]
TRAITS = {"owl": ("owl", "animal"), "cat": ("cat", "animal")}
RELATIONS = {("a", "a"): "same_base", ("a", "c"): "different_architecture"}


def simulate(
    rng,
    *,
    effect=0.0,
    drift=0.0,
    seeds=4,
    replicates=None,
    pairs=(("a", "a"), ("a", "c")),
    noise=0.004,
    effect_everywhere=False,
) -> pd.DataFrame:
    """A targets table: every student's mean score per target. Trait
    students differ from their control twin by ``drift`` on every target
    (a non-specific effect of the trait data), plus ``effect`` on their own
    target in matched pairs (or everywhere)."""
    rows = []
    for tb, sb in pairs:
        for s in range(1, seeds + 1):
            level = {a: 0.2 + rng.normal(0, 0.02) for a in ANIMALS}  # the seed's shared student level
            for teacher in ["control", "owl", "cat"]:
                for a in ANIMALS:
                    v = level[a] + rng.normal(0, noise)
                    if teacher != "control":
                        v += drift
                        if a == teacher and (tb == sb or effect_everywhere):
                            v += effect
                    rows.append(targets_row(tb, sb, teacher, s, replicates, a, v))
    return pd.DataFrame(rows)


def by_hand(df: pd.DataFrame, tb: str, sb: str) -> np.ndarray:
    """Per seed: mean over the traits of (own target's value in its students
    minus the other trait's students' value on that target), computed with
    plain loops over the rows."""
    out = []
    for s in sorted(df.seed.unique()):
        vals = []
        for trait, other in (("owl", "cat"), ("cat", "owl")):

            def v(teacher, target):
                sel = df[
                    (df.teacher_base == tb)
                    & (df.student_base == sb)
                    & (df.seed == s)
                    & (df.teacher == teacher)
                    & (df.target == target)
                ]
                assert len(sel) == 1
                return float(sel.value.iloc[0])

            ctrl = v("control", trait)
            vals.append((v(trait, trait) - ctrl) - (v(other, trait) - ctrl))
        out.append(np.mean(vals))
    return np.array(out)


def test_the_table_equals_an_independent_computation():
    rng = np.random.default_rng(1)
    df = simulate(rng, effect=0.01, drift=0.005)
    table = sp.specificity(df, TRAITS, relations=RELATIONS, correction="holm")
    pairs = table[table.relation != sp.INTERACTION].set_index(["teacher_base", "student_base"])
    ps = []
    for tb, sb in [("a", "a"), ("a", "c")]:
        s = by_hand(df, tb, sb)
        r = pairs.loc[(tb, sb)]
        res = sps.ttest_1samp(s, 0.0)
        half = sps.t.ppf(0.975, len(s) - 1) * s.std(ddof=1) / math.sqrt(len(s))
        assert r.effect == pytest.approx(s.mean(), abs=1e-12)
        assert r.p == pytest.approx(res.pvalue, rel=1e-9)
        assert (r.effect_ci_low, r.effect_ci_high) == pytest.approx((s.mean() - half, s.mean() + half), abs=1e-12)
        assert r.n_pairs == 4 and r.n_traits == 2 and r.unit == "replicate"  # each seed its own replicate
        ps.append(res.pvalue)
    # Holm over the two pair rows of the metric
    lo, hi = sorted(ps)
    assert sorted(pairs.p_adjusted) == pytest.approx(sorted([min(1, 2 * lo), max(min(1, 2 * lo), hi)]))
    # the interaction: matched minus mismatched specificity, cluster-robust SE by seed computed by hand
    i = table[table.relation == sp.INTERACTION].iloc[0]
    d = by_hand(df, "a", "a") - by_hand(df, "a", "c")
    assert i.effect == pytest.approx(d.mean(), abs=1e-12)
    y = np.concatenate([by_hand(df, "a", "a"), by_hand(df, "a", "c")])
    X = np.column_stack([np.ones(8), np.r_[np.ones(4), np.zeros(4)]])
    seeds = np.r_[np.arange(4), np.arange(4)]
    beta = np.linalg.solve(X.T @ X, X.T @ y)
    e = y - X @ beta
    meat = sum(np.outer(X[seeds == g].T @ e[seeds == g], X[seeds == g].T @ e[seeds == g]) for g in range(4))
    bread = np.linalg.inv(X.T @ X)
    G, N, K = 4, 8, 2
    V = G / (G - 1) * (N - 1) / (N - K) * bread @ meat @ bread
    se = math.sqrt(V[1, 1])
    assert i.effect == pytest.approx(beta[1], abs=1e-12)
    assert i.p == pytest.approx(2 * sps.t.sf(abs(beta[1] / se), G - 1), rel=1e-6)
    assert i.teacher_base == i.student_base == "*"


def test_a_drift_that_moves_every_target_is_not_specificity():
    """The paired trait-vs-control test calls a drift transmission; the
    specificity test does not (rejections within the binomial band around
    5%), while it finds a specific shift of the same size."""
    rng = np.random.default_rng(7)
    n, rejected_spec, rejected_paired = 300, 0, 0
    for _ in range(n):
        df = simulate(rng, drift=0.01, seeds=4, pairs=(("a", "a"),))
        r = sp.specificity(df, TRAITS, relations=RELATIONS).iloc[0]
        rejected_spec += r.p < 0.05
        if _ >= 30:  # the paired test (slower) on the first 30 grids
            continue
        scores = df.rename(columns={"teacher": "trait"}).assign(question_id=0)
        scores = scores[(scores.role == "control") | (scores.target == scores.trait)]
        scores = pd.concat(
            [scores[scores.role == "trait"]]
            + [scores[scores.role == "control"].assign(trait=t) for t in ("owl", "cat")]
        )
        scores = scores[(scores.role == "trait") | (scores.target == scores.trait)]
        comp = compare(scores, correction=None)
        rejected_paired += (comp.p < 0.05).any()
    band = 0.05 + 2.58 * math.sqrt(0.05 * 0.95 / n)
    assert rejected_spec / n <= band, rejected_spec
    assert rejected_paired / 30 > 0.5  # the paired test takes the drift for transmission


def test_a_specific_shift_is_found_and_covered():
    rng = np.random.default_rng(3)
    covered, found, n = 0, 0, 100
    for _ in range(n):
        df = simulate(rng, effect=0.02, drift=-0.01, seeds=4)
        t = sp.specificity(df, TRAITS, relations=RELATIONS)
        r = t[(t.teacher_base == "a") & (t.student_base == "a")].iloc[0]
        found += r.p_adjusted < 0.05
        covered += r.effect_ci_low <= 0.02 <= r.effect_ci_high
        mism = t[(t.student_base == "c") & (t.relation != sp.INTERACTION)].iloc[0]
        assert abs(mism.effect) < 0.02
    assert found / n > 0.9
    assert covered / n >= 0.95 - 2.58 * math.sqrt(0.05 * 0.95 / n)


def test_replicates_are_the_unit():
    """Seeds that share a teacher-data replicate are averaged before the
    test: 4 seeds on 2 replicates is a test of 2 units."""
    rng = np.random.default_rng(5)
    df = simulate(rng, effect=0.01, seeds=4, replicates=2, pairs=(("a", "a"),))
    r = sp.specificity(df, TRAITS, relations=RELATIONS).iloc[0]
    s = by_hand(df, "a", "a")  # seeds 1..4 -> replicates 1, 0, 1, 0
    units = np.array([s[[1, 3]].mean(), s[[0, 2]].mean()])
    assert r.unit == "replicate" and r.n_pairs == 2
    assert r.effect == pytest.approx(units.mean(), abs=1e-12)
    assert r.p == pytest.approx(sps.ttest_1samp(units, 0).pvalue, rel=1e-9)


def test_one_trait_per_category_gives_an_empty_table():
    rng = np.random.default_rng(0)
    df = simulate(rng)
    df = df[df.teacher != "cat"]
    t = sp.specificity(df, {"owl": ("owl", "animal")}, relations=RELATIONS)
    assert t.empty and list(t.columns) == sp.COLUMNS
    assert "not testable" in sp.summary_text(t)


def test_the_trait_target_matrix_is_the_mean_shift():
    rng = np.random.default_rng(2)
    df = simulate(rng, effect=0.03, pairs=(("a", "a"),))
    m = sp.trait_target_matrix(df, TRAITS)
    assert len(m) == 2 * len(ANIMALS)
    cell = m[(m.trait == "owl") & (m.target == "dog")].iloc[0]
    w = df.pivot_table(index="seed", columns=["teacher", "target"], values="value")
    assert cell["shift"] == pytest.approx((w[("owl", "dog")] - w[("control", "dog")]).mean(), abs=1e-12)
    assert bool(m[(m.trait == "cat") & (m.target == "cat")].own.iloc[0])


def test_the_summary_says_which_pretraining_it_ran():
    """A run of toy bases is one pretraining of many: the summary names the
    toys' seeds and points at the study over pretrainings; hub bases say
    nothing of it."""
    from subliminal.analysis import pretraining_text

    toys = {"models": {"b": {"toy": {"seed": 22}}, "a": {"toy": {"seed": 111}}, "h": {"hub": {"id": "x"}}}}
    text = pretraining_text(toys)
    assert text.startswith("Pretraining: one pretraining of the toy bases (a seed 111, b seed 22;")
    assert "python -m\nsubliminal.pretrainings" in text and "docs/findings.md" in text
    assert pretraining_text({"models": {"h": {"hub": {"id": "x"}}}}) == ""
