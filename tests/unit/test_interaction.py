"""The matched-vs-mismatched interaction test, checked against independent
computations (numpy least squares and a scipy maximum-likelihood fit with a
hand-written cluster sandwich) and on simulated data whose answer is known."""

from __future__ import annotations

import math

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from subliminal import interaction as I
from subliminal import plots, stats

PAIRS = {("A", "A"): "same_base", ("A", "B"): "same_architecture", ("A", "C"): "different_architecture"}


def simulate(
    beta_inter: float,
    *,
    seeds=8,
    questions=20,
    n_samples=50,
    beta_mismatched=0.0,
    seed=0,
    seed_sd=0.3,
    pairs=PAIRS,
    trait="owl",
    metric="sampled",
    base_logit=-2.0,
) -> pd.DataFrame:
    """A scores table from a logistic model with a known interaction:

        logit p = base + pair offset + seed effect + question effect
                  + treatment * (beta_mismatched + beta_inter * matched)

    ``sampled`` values are binomial counts / n_samples. The seed effect is
    shared by every student of one seed (the reason SEs are clustered)."""
    rng = np.random.default_rng(seed)
    seed_eff = rng.normal(0, seed_sd, seeds)
    q_eff = rng.normal(0, 0.3, questions)
    rows = []
    for (tb, sb), rel in sorted(pairs.items()):
        offset = rng.normal(0, 0.3)
        matched = rel == "same_base"
        for s in range(seeds):
            twin_eff = rng.normal(0, 0.1)
            for role, treat in (("control", 0), ("trait", 1)):
                eta = (
                    base_logit
                    + offset
                    + seed_eff[s]
                    + twin_eff
                    + q_eff
                    + treat * (beta_mismatched + beta_inter * matched)
                )
                p = 1 / (1 + np.exp(-eta))
                vals = (
                    rng.binomial(n_samples, p) / n_samples
                    if metric == "sampled"
                    else p * rng.uniform(0.8, 1.2, questions)
                )
                model = f"{role}/{tb}/{sb}/seed{s + 1}" + (f"/{trait}" if role == "trait" else "")
                for q in range(questions):
                    rows.append(
                        dict(
                            model=model,
                            role=role,
                            teacher_base=tb,
                            student_base=sb,
                            trait=trait,
                            target=trait,
                            modality="numbers",
                            recipe="lora8",
                            seed=s + 1,
                            metric=metric,
                            question_id=q,
                            value=float(vals[q]),
                        )
                    )
    return pd.DataFrame(rows)


def _row(table, model, term, **kw):
    sel = table[(table["model"] == model) & (table["term"] == term)]
    for k, v in kw.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, sel
    return sel.iloc[0]


def _hand_design(df):
    pairs = sorted(df["pair"].unique())
    X = np.column_stack(
        [(df["pair"] == p).to_numpy(float) for p in pairs]
        + [df["treatment"].to_numpy(float), (df["treatment"] * df["matched"]).to_numpy(float)]
    )
    return X


def _cluster_se(X, scores_rows, bread, groups):
    G, (N, K) = len(np.unique(groups)), X.shape
    meat = np.zeros((K, K))
    for g in np.unique(groups):
        s = scores_rows[groups == g].sum(axis=0)
        meat += np.outer(s, s)
    cov = bread @ meat @ bread * G / (G - 1) * (N - 1) / (N - K)
    return np.sqrt(np.diag(cov)), G - 1


def test_linear_interaction_is_the_difference_of_mean_twin_differences():
    scores = simulate(0.5, seed=3)
    table = I.interaction(scores, relations=PAIRS, n_samples=50)
    r = _row(table, "linear", "interaction")
    # independent: per-student means, twin differences, DiD of relation means
    m = scores.groupby(["teacher_base", "student_base", "seed", "role"])["value"].mean().unstack("role")
    d = (m["trait"] - m["control"]).reset_index()
    d["matched"] = [PAIRS[(t, s)] == "same_base" for t, s in zip(d.teacher_base, d.student_base)]
    did = d[d.matched][0].mean() - d[~d.matched][0].mean()
    assert r["estimate"] == pytest.approx(did, abs=1e-12)
    assert _row(table, "linear", "effect_matched")["estimate"] == pytest.approx(d[d.matched][0].mean(), abs=1e-12)
    assert _row(table, "linear", "effect_mismatched")["estimate"] == pytest.approx(d[~d.matched][0].mean(), abs=1e-12)

    # independent: least squares and the cluster sandwich by hand
    rows = I.student_rows(scores, "sampled", PAIRS)
    means = rows.groupby(["pair", "matched", "treatment", "seed"])["value"].mean().reset_index()
    X, y = _hand_design(means), means["value"].to_numpy()
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    bread = np.linalg.inv(X.T @ X)
    se, df = _cluster_se(X, X * (y - X @ beta)[:, None], bread, means["seed"].to_numpy())
    assert r["estimate"] == pytest.approx(beta[-1], abs=1e-12)
    assert r["se"] == pytest.approx(se[-1], rel=1e-9)
    assert r["df"] == df == 7
    t = beta[-1] / se[-1]
    assert r["p"] == pytest.approx(2 * sps.t.sf(abs(t), df), rel=1e-9)
    half = sps.t.ppf(0.975, df) * se[-1]
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((beta[-1] - half, beta[-1] + half), rel=1e-9)
    # effect in matched pairs is a contrast: its SE includes the covariance
    c = np.zeros(len(beta))
    c[-2:] = 1
    cov = (
        bread
        @ sum(
            np.outer(s, s)
            for s in [
                (X * (y - X @ beta)[:, None])[means["seed"].to_numpy() == g].sum(0) for g in np.unique(means["seed"])
            ]
        )
        @ bread
        * 8
        / 7
        * (len(y) - 1)
        / (len(y) - X.shape[1])
    )
    assert _row(table, "linear", "effect_matched")["se"] == pytest.approx(math.sqrt(c @ cov @ c), rel=1e-9)


def test_logit_interaction_matches_maximum_likelihood_and_hand_sandwich():
    scores = simulate(0.7, seed=5, n_samples=40)
    table = I.interaction(scores, relations=PAIRS, n_samples=40)
    r = _row(table, "logit", "interaction", metric="sampled")
    rows = I.student_rows(scores, "sampled", PAIRS)
    X = _hand_design(rows)
    k = np.rint(rows["value"].to_numpy() * 40)

    def nll(b):
        eta = X @ b
        return -(k * eta - 40 * np.logaddexp(0, eta)).sum()

    def grad(b):
        p = 1 / (1 + np.exp(-(X @ b)))
        return -X.T @ (k - 40 * p)

    fit = optimize.minimize(nll, np.zeros(X.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-10})
    b = fit.x
    assert r["estimate"] == pytest.approx(b[-1], abs=1e-5)
    p = 1 / (1 + np.exp(-(X @ b)))
    bread = np.linalg.inv(X.T @ (X * (40 * p * (1 - p))[:, None]))
    se, df = _cluster_se(X, X * (k - 40 * p)[:, None], bread, rows["seed"].to_numpy())
    assert r["se"] == pytest.approx(se[-1], rel=1e-4)
    assert r["p"] == pytest.approx(2 * sps.t.sf(abs(b[-1] / se[-1]), df), rel=1e-3)


def test_fractional_logit_on_exact_probabilities():
    scores = simulate(0.6, seed=2, metric="exact")
    table = I.interaction(scores, relations=PAIRS, n_samples=50)
    r = _row(table, "logit", "interaction", metric="exact")
    rows = I.student_rows(scores, "exact", PAIRS)
    X, y = _hand_design(rows), rows["value"].to_numpy()

    def nll(b):  # Bernoulli quasi-likelihood with a fractional outcome
        eta = X @ b
        return -(y * eta - np.logaddexp(0, eta)).sum()

    b = optimize.minimize(nll, np.zeros(X.shape[1]), method="BFGS", options={"gtol": 1e-10}).x
    assert r["estimate"] == pytest.approx(b[-1], abs=1e-5)
    assert r["estimate"] == pytest.approx(0.6, abs=0.15)  # the simulated truth


@pytest.mark.parametrize("model", ["linear", "logit"])
def test_a_true_interaction_is_found_and_covered(model):
    scores = simulate(0.8, seed=11)
    r = _row(I.interaction(scores, relations=PAIRS, n_samples=50), model, "interaction")
    assert r["p"] < 0.01 and r["significant"]
    if model == "logit":
        assert r["ci_low"] < 0.8 < r["ci_high"]
    assert r["estimate"] > 0


def test_false_positive_rate_without_interaction_is_near_alpha():
    """With a trait effect in every pair but no interaction, and 4 seeds (the
    default design: 4 clusters, t with 3 df), each model rejects
    about 5% of 150 simulated grids (outside the binomial 99.9% band fails)."""
    rejections = {"linear": 0, "logit": 0}
    n = 150
    for i in range(n):
        scores = simulate(0.0, beta_mismatched=0.3, seed=1000 + i, seeds=4, questions=5, n_samples=30)
        t = I.interaction(scores, relations=PAIRS, n_samples=30)
        for model in rejections:
            rejections[model] += bool(_row(t, model, "interaction")["p"] < 0.05)
    lo, hi = sps.binom.ppf([0.0005, 0.9995], n, 0.05) / n
    for model, k in rejections.items():
        assert lo <= k / n <= hi, (model, k)


def test_mde_solves_the_power_equation():
    """A true interaction of exactly the MDE (in SE units) has the requested
    power under the noncentral t with the test's degrees of freedom."""
    t = I.interaction(simulate(0.3, seed=4), relations=PAIRS, n_samples=50, power=0.8)
    r = _row(t, "linear", "interaction")
    df, nc = r["df"], r["mde"] / r["se"]
    crit = sps.t.ppf(0.975, df)
    power = sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)
    assert power == pytest.approx(0.8, abs=1e-4)


def test_holm_across_strata_and_shared_controls():
    """Two traits share the control students; each stratum gets its own model
    and the interaction p-values are corrected together per metric/model."""
    a = simulate(0.8, seed=7, trait="owl")
    b = simulate(0.0, seed=7, trait="cat")
    # the control students are one set of models serving both traits
    b.loc[b.role == "control", "value"] = a.loc[a.role == "control", "value"].to_numpy()
    b["target"] = "cat"
    scores = pd.concat([a, b], ignore_index=True)
    t = I.interaction(scores, relations=PAIRS, n_samples=50)
    inter = t[(t.term == "interaction") & (t.model == "linear")].sort_values("trait")
    assert list(inter.trait) == ["cat", "owl"]
    assert np.allclose(inter.p_adjusted, multipletests(inter.p.to_numpy(), method="holm")[1])
    alone = _row(I.interaction(a, relations=PAIRS, n_samples=50), "linear", "interaction")
    assert _row(t, "linear", "interaction", trait="owl")["estimate"] == pytest.approx(alone["estimate"])
    assert _row(t, "linear", "interaction", trait="owl")["n_students"] == 48


def test_untestable_designs_say_why():
    only_matched = simulate(0.5, pairs={("A", "A"): "same_base"})
    t = I.interaction(only_matched, relations={("A", "A"): "same_base"}, n_samples=50)
    assert t["estimate"].isna().all() and (t["note"] == "needs matched and mismatched pairs").all()
    one_seed = simulate(0.5, seeds=1)
    t = I.interaction(one_seed, relations=PAIRS, n_samples=50)
    assert (t["note"].str.contains("at least 2 clusters")).all()
    missing_twin = simulate(0.5)
    missing_twin = missing_twin[
        ~((missing_twin.role == "control") & (missing_twin.seed == 3) & (missing_twin.student_base == "B"))
    ]
    t = I.interaction(missing_twin, relations=PAIRS, n_samples=50)
    assert (t["note"].str.contains("twin")).all()
    assert "not testable" in I.summary_text(t)
    # every twin identical to its control (e.g. a metric stuck at 0): 0/0, no test
    flat = simulate(0.5)
    flat["value"] = 0.0
    t = I.interaction(flat, relations=PAIRS, n_samples=50)
    assert t["p"].isna().all() and (t["note"].str.contains("zero spread")).all()


def test_summary_text_reads_the_interaction():
    t = I.interaction(simulate(0.8, seed=11), relations=PAIRS, n_samples=50)
    text = I.summary_text(t)
    r = _row(t, "linear", "interaction")
    assert f"interaction {100 * r['estimate']:+.2f} pp" in text
    assert "8 seeds, 1+2 pairs" in text


def test_heatmap_and_forest_render(tmp_path):
    """Two strata, a pair missing from one grid: both figures render, at a
    paper-readable size, and are not blank."""
    rel = {
        ("A", "A"): "same_base",
        ("A", "B"): "same_architecture",
        ("C", "C"): "same_base",
        ("C", "A"): "different_architecture",
    }
    a = simulate(0.8, seed=1, pairs=rel, trait="owl")
    b = simulate(0.0, seed=2, pairs=rel, trait="cat")
    b = b[~((b.teacher_base == "C") & (b.student_base == "A"))]
    scores = pd.concat([a, b], ignore_index=True)
    comp = stats.compare(scores, relations=rel)
    inter = I.interaction(scores, relations=rel, n_samples=50)
    heat = [tmp_path / "heat.png", tmp_path / "heat.pdf"]
    forest = [tmp_path / "forest.png", tmp_path / "forest.pdf"]
    plots.transmission_heatmap(comp, "sampled", [str(p) for p in heat])
    plots.forest(comp, inter, "sampled", [str(p) for p in forest])
    for png, pdf in (heat, forest):
        img = mpimg.imread(png)
        assert img.shape[0] > 600 and img.shape[1] > 1500
        assert img[..., :3].std() > 0.05  # not a blank canvas
        assert pdf.read_bytes()[:5] == b"%PDF-"
    with pytest.raises(ValueError, match="exact"):
        plots.transmission_heatmap(comp, "exact", [str(tmp_path / "x.png")])
