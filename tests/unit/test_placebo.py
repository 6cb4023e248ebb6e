"""The placebo-target test: against a brute-force computation written with
plain loops, its smallest attainable p, its false positives under a
teacher x target drift unrelated to the trait (which the specificity t-test
takes for transmission), and its power for a true own-target shift."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from conftest import targets_row
from scipy import stats as sps

from subliminal import placebo as pl
from subliminal import specificity as sp

ANIMALS = ["owl", "cat", "dog", "lion", "wolf", "eagle", "bear", "fox", "penguin", "tiger"]
RELATIONS = {("a", "a"): "same_base", ("a", "c"): "different_architecture"}


def traits_of(words) -> dict[str, tuple[str, str]]:
    return {w: (w, "animal") for w in words}


def simulate(
    rng,
    *,
    traits=("owl", "cat"),
    animals=ANIMALS,
    effect=0.0,
    interaction_sd=0.0,
    off_target=None,
    seeds=4,
    replicates=None,
    pairs=(("a", "a"),),
    noise=0.004,
) -> pd.DataFrame:
    """A targets table. Each trait teacher's data move every target by a
    teacher x target amount drawn once per grid (sd ``interaction_sd``, the
    own target drawn like any other) or given (``off_target``: {(trait,
    target): shift}), repeated in every seed and replicate, plus ``effect``
    on the trait's own target in same-base pairs; independent student noise."""
    rows = []
    for tb, sb in pairs:
        gamma = {(t, a): rng.normal(0, interaction_sd) if interaction_sd else 0.0 for t in traits for a in animals}
        gamma.update(off_target or {})
        for s in range(1, seeds + 1):
            level = {a: 0.1 + rng.normal(0, 0.02) for a in animals}
            for teacher in ["control", *traits]:
                for a in animals:
                    v = level[a] + rng.normal(0, noise)
                    if teacher != "control":
                        v += gamma[(teacher, a)] + (effect if a == teacher and tb == sb else 0.0)
                    rows.append(targets_row(tb, sb, teacher, s, replicates, a, v))
    return pd.DataFrame(rows)


def brute_force(df: pd.DataFrame, traits, animals, unit="replicate"):
    """S per unit for every assignment of distinct animals to the traits,
    with plain loops over the rows: {assignment: [S per unit]}."""
    value = {(r.teacher, r.seed, r.target): r.value for r in df.itertuples()}
    units = {}
    for r in df.drop_duplicates("seed").itertuples():
        units.setdefault(getattr(r, unit), []).append(r.seed)
    out = {}
    for assign in itertools.permutations(animals, len(traits)):
        per_unit = []
        for u in sorted(units):
            per_seed = []
            for s in units[u]:
                terms = []
                for i, target in zip(traits, assign):
                    own = value[(i, s, target)] - value[("control", s, target)]
                    others = [value[(t, s, target)] - value[("control", s, target)] for t in traits if t != i]
                    terms.append(own - sum(others) / len(others))
                per_seed.append(sum(terms) / len(terms))
            per_unit.append(sum(per_seed) / len(per_seed))
        out[assign] = per_unit
    return out


@pytest.mark.parametrize("replicates", [None, 2])
def test_the_permutation_p_equals_a_brute_force_computation(replicates):
    rng = np.random.default_rng(11)
    traits, animals = ("owl", "cat", "dog"), ["owl", "cat", "dog", "lion", "wolf"]
    df = simulate(rng, traits=traits, animals=animals, effect=0.01, interaction_sd=0.01, replicates=replicates)
    r = pl.placebo(df, traits_of(traits)).iloc[0]
    bf = brute_force(df, traits, animals)
    S = {a: float(np.mean(v)) for a, v in bf.items()}
    true = S[traits]
    assert r.n_assignments == len(S) == 5 * 4 * 3 and r.exact
    assert r.S_true == pytest.approx(true, abs=1e-12)
    rank = sum(s >= true for s in S.values())
    assert r["rank"] == rank and r.p_perm == pytest.approx(rank / 60)
    placebo = [s for a, s in S.items() if a != traits]
    assert r.placebo_mean == pytest.approx(np.mean(placebo), abs=1e-12)
    assert r.placebo_sd == pytest.approx(np.std(placebo, ddof=1), abs=1e-12)
    assert (r.placebo_q05, r.placebo_q50, r.placebo_q95) == pytest.approx(
        tuple(np.quantile(placebo, [0.05, 0.5, 0.95])), abs=1e-12
    )
    # the studentised ranking: scipy's one-sample t of every assignment's unit values
    t = {a: sps.ttest_1samp(v, 0.0).statistic for a, v in bf.items()}
    assert r.n_units == (2 if replicates else 4)
    assert r.t_true == pytest.approx(t[traits], rel=1e-9)
    assert r.p_perm_t == pytest.approx(sum(v >= t[traits] for v in t.values()) / 60)
    # S for the true targets is the specificity table's effect
    spec = sp.specificity(df, traits_of(traits)).iloc[0]
    assert r.S_true == pytest.approx(spec.effect, abs=1e-12)


def test_the_smallest_attainable_p():
    """1 / (number of assignments): counted here by enumerating them."""
    for k, expected in [(2, 90), (4, 5040), (6, 151200)]:
        assert pl.min_p(k, 10) == pytest.approx(1 / sum(1 for _ in itertools.permutations(range(10), k)))
        assert pl.min_p(k, 10) == pytest.approx(1 / expected)
    assert pl.min_p([2, 2], [10, 5]) == pytest.approx(1 / (90 * 20))
    # two traits among ten candidates: an own shift far above every placebo reaches exactly 1/90, no lower
    rng = np.random.default_rng(4)
    r = pl.placebo(simulate(rng, effect=0.2, interaction_sd=0.005), traits_of(["owl", "cat"])).iloc[0]
    assert r["rank"] == 1 and r.n_assignments == 90
    assert r.p_perm == pytest.approx(1 / 90) and r.min_p == pytest.approx(1 / 90)
    # Holm over three pairs cannot go below 3/90
    df = simulate(rng, effect=0.2, interaction_sd=0.005, pairs=(("a", "a"), ("a", "b"), ("a", "c")))
    df.loc[df.teacher != "control", "value"] += 0.2 * (df.target == df.teacher)  # every pair moves its own target
    t = pl.placebo(df, traits_of(["owl", "cat"]))
    assert t.p_perm.tolist() == pytest.approx([1 / 90] * 3)
    assert t.p_adjusted.tolist() == pytest.approx([3 / 90] * 3)


def test_ties_count_against_the_own_target():
    """No shift anywhere and no noise: every assignment ties, p = 1."""
    rng = np.random.default_rng(0)
    df = simulate(rng, noise=0.0, animals=ANIMALS[:4])
    df["value"] = 0.1
    r = pl.placebo(df, traits_of(["owl", "cat"])).iloc[0]
    assert r["rank"] == 12 and r.p_perm == 1.0


def test_a_systematic_off_target_drift_is_not_transmission():
    """Deterministic: every trait teacher's data move eagle +4 pp, the owl
    teacher's also lion +4 pp and the cat teacher's penguin +4 pp, in every
    replicate; the own targets not at all. The placebo test does not call it."""
    rng = np.random.default_rng(21)
    drift = {("owl", "eagle"): 0.04, ("cat", "eagle"): 0.04, ("owl", "lion"): 0.04, ("cat", "penguin"): 0.04}
    r = pl.placebo(simulate(rng, off_target=drift), traits_of(["owl", "cat"])).iloc[0]
    assert r.p_perm > 0.05 and not r.significant
    assert r.placebo_q95 > 0.015  # the placebo assignments that pick up the drift


def test_a_drift_unrelated_to_the_trait_keeps_the_false_positive_rate():
    """Each teacher's data move every animal by its own amount (sd 2 pp,
    the own target drawn like any other), the same in every replicate: the
    own target is not special. Over 200 grids the placebo test rejects at
    most at alpha (binomial band); the specificity t-test (first 40 grids),
    which sees the drift repeat in every replicate, takes it for transmission
    in most of them."""
    rng = np.random.default_rng(5)
    n, placebo_hits, t_hits = 200, 0, 0
    traits = traits_of(["owl", "cat"])
    for _ in range(n):
        df = simulate(rng, interaction_sd=0.02)
        placebo_hits += pl.placebo(df, traits).iloc[0].p_perm <= 0.05
        if _ < 40:  # the t-test (slower) on the first 40 grids
            t_hits += sp.specificity(df, traits).iloc[0].p < 0.05
    band = 0.05 + 2.58 * math.sqrt(0.05 * 0.95 / n)
    assert placebo_hits / n <= band, placebo_hits
    assert t_hits / 40 > 0.5, t_hits


def test_a_true_own_target_shift_is_found():
    """Four traits, each own target +2 pp (the size of the default's
    same-base specificity), teacher x target drift sd 1 pp, student noise
    1 pp, 4 replicates: found at alpha in more than 80% of 100 grids; the
    mismatched pair (no effect) rarely."""
    rng = np.random.default_rng(9)
    words = ["owl", "cat", "dog", "lion"]
    n, found, mismatched = 100, 0, 0
    for _ in range(n):
        df = simulate(rng, traits=words, effect=0.02, interaction_sd=0.01, noise=0.01, pairs=(("a", "a"), ("a", "c")))
        t = pl.placebo(df, traits_of(words), relations=RELATIONS, correction=None).set_index("student_base")
        assert t.loc["a"].n_assignments == 5040
        found += t.loc["a"].p_perm <= 0.05
        mismatched += t.loc["c"].p_perm <= 0.05
    assert found / n > 0.8, found
    assert mismatched / n <= 0.05 + 2.58 * math.sqrt(0.05 * 0.95 / n), mismatched


def test_power_by_number_of_traits():
    """The power table: its smallest p values are 1/N (and family/N), and
    power grows with the number of traits at a fixed effect."""
    t = pl.power(ks=(2, 4), effect=0.02, interaction_sd=0.01, unit_sd=0.01, n_sim=60, seed=1)
    assert list(t.k) == [2, 4]
    assert t.min_p.tolist() == pytest.approx([1 / 90, 1 / 5040])
    assert t.min_p_holm.tolist() == pytest.approx([3 / 90, 3 / 5040])
    assert t.power.iloc[1] > t.power.iloc[0]
    # no effect: the rejection rate stays within the binomial band of alpha / family
    null = pl.power(ks=(4,), effect=0.0, interaction_sd=0.01, unit_sd=0.01, n_sim=200, seed=2)
    a = 0.05 / 3
    assert null.power.iloc[0] <= a + 2.58 * math.sqrt(a * (1 - a) / 200)


def test_one_trait_per_category_gives_an_empty_table():
    rng = np.random.default_rng(0)
    df = simulate(rng, traits=("owl",))
    t = pl.placebo(df, traits_of(["owl"]))
    assert t.empty and list(t.columns) == pl.COLUMNS
    assert "not testable" in pl.summary_text(t)


def test_the_noise_components_are_estimated_without_bias():
    """components() on grids with a known teacher x target sd (2 pp) and
    per-student noise (0.4 pp): the mean of the squared estimates over 100
    grids is within 10% of the true variances (3 and 10 standard errors of
    that mean); the own targets' effect does not enter."""
    rng = np.random.default_rng(13)
    words = ["owl", "cat", "dog", "lion"]
    unit_var, inter_var = [], []
    for _ in range(100):
        df = simulate(rng, traits=words, effect=0.05, interaction_sd=0.02, noise=0.004)
        c = pl.components(df, traits_of(words)).iloc[0]
        assert c.n_traits == 4 and c.n_units == 4 and c.n_cells == 4 * 6
        unit_var.append(c.unit_sd**2)
        inter_var.append(c.interaction_sd**2)
    assert np.mean(unit_var) == pytest.approx(0.004**2, rel=0.1)
    assert np.mean(inter_var) == pytest.approx(0.02**2, rel=0.1)


def test_traits_of_one_word_share_their_placebo_target():
    """Two teachers of owl (e.g. by prompt and by steering) and one of cat:
    the assignments are of the two words (90), the owl teachers are no
    contrast for each other, and S for the true targets is specificity's."""
    rng = np.random.default_rng(17)
    df = simulate(rng, traits=("owl", "owl2", "cat"), effect=0.01, interaction_sd=0.01)
    df.loc[(df.teacher == "owl2") & (df.target == "owl"), "value"] += 0.01  # its own target is owl, not owl2
    traits = {"owl": ("owl", "animal"), "owl2": ("owl", "animal"), "cat": ("cat", "animal")}
    r = pl.placebo(df, traits).iloc[0]
    assert r.n_assignments == 90 and r.n_traits == 3
    assert r.S_true == pytest.approx(sp.specificity(df, traits).iloc[0].effect, abs=1e-12)


def test_beyond_max_exact_a_sample_of_assignments_estimates_the_exact_p(monkeypatch):
    rng = np.random.default_rng(19)
    traits, animals = ("owl", "cat", "dog"), ["owl", "cat", "dog", "lion", "wolf"]
    df = simulate(rng, traits=traits, animals=animals, effect=0.005, interaction_sd=0.01)
    exact = pl.placebo(df, traits_of(traits)).iloc[0]
    monkeypatch.setattr(pl, "MAX_EXACT", 10)
    monkeypatch.setattr(pl, "N_SAMPLED", 3000)
    sampled = pl.placebo(df, traits_of(traits)).iloc[0]
    assert not sampled.exact and sampled.n_assignments == 3001
    assert sampled.S_true == exact.S_true
    se = math.sqrt(exact.p_perm * (1 - exact.p_perm) / 3000)
    assert abs(sampled.p_perm - exact.p_perm) < 4 * se + 1 / 3001, (sampled.p_perm, exact.p_perm)
    assert 0.05 < exact.p_perm < 0.95  # a p the sample has to estimate, not one at the floor


# --------------------------------------------------------------------------- pooled over pretrainings


def test_the_pooled_p_ranks_the_mean_over_runs_of_a_brute_force_s():
    """Pooled over runs, S(a) is the mean over the runs of each run's S(a)
    (the same assignment in every run): checked against brute_force."""
    traits, animals = ["owl", "cat", "dog"], ANIMALS[:6]
    runs = [simulate(np.random.default_rng(s), traits=traits, animals=animals, interaction_sd=0.01) for s in (1, 2, 3)]
    table = pl.pooled(runs, traits_of(traits))
    row = table.iloc[0]
    per_run = [brute_force(r, traits, animals) for r in runs]
    s = {a: np.mean([np.mean(b[a]) for b in per_run]) for a in per_run[0]}
    true = np.mean([np.mean(b[tuple(traits)]) for b in per_run])
    assert row["S_true"] == pytest.approx(true, abs=1e-12)
    assert row["n_assignments"] == len(s) == math.perm(6, 3)
    assert row["rank"] == sum(v >= true - 1e-12 for v in s.values())
    assert row["p_perm"] == pytest.approx(row["rank"] / len(s))
    assert row["n_runs"] == 3 and row["unit"] == "pretraining" and row["n_units"] == 12


def test_pooling_runs_finds_an_own_target_shift_that_one_run_cannot():
    """A +1 pp own-target shift under a 1 pp teacher x target drift drawn
    anew in each run (each pretraining its own teachers): pooling four runs
    finds it more often than one run does, and a null stays null."""
    traits = ["owl", "cat", "dog", "lion"]

    def rate(effect, n_runs, grids=30):
        hits = 0
        for g in range(grids):
            rng = np.random.default_rng(1000 * n_runs + g + (7 if effect else 0))
            runs = [simulate(rng, traits=traits, effect=effect, interaction_sd=0.01) for _ in range(n_runs)]
            hits += pl.pooled(runs, traits_of(traits)).iloc[0]["p_perm"] <= 0.05
        return hits / grids

    one, four = rate(0.01, 1), rate(0.01, 4)
    assert four >= 0.8 and four > one
    assert rate(0.0, 4) <= 0.15


def test_a_run_without_the_stratum_is_named_not_pooled():
    traits = ["owl", "cat"]
    a = simulate(np.random.default_rng(0), traits=traits)
    b = simulate(np.random.default_rng(1), traits=traits, pairs=(("a", "c"),))
    table = pl.pooled([a, b], traits_of(traits), relations=RELATIONS)
    assert list(table["note"]) == ["testable in 1 of 2 runs"] * 2
    assert table["p_perm"].isna().all()


def test_averaged_components_average_the_variances():
    traits = ["owl", "cat", "dog"]
    runs = [simulate(np.random.default_rng(s), traits=traits, interaction_sd=0.01 * s) for s in (1, 2)]
    each = [pl.components(r, traits_of(traits)) for r in runs]
    both = pl.averaged_components(runs, traits_of(traits), "exact_share")
    for col in ("unit_sd", "interaction_sd"):
        want = math.sqrt((each[0][col].iloc[0] ** 2 + each[1][col].iloc[0] ** 2) / 2)
        assert both[col].iloc[0] == pytest.approx(want)
