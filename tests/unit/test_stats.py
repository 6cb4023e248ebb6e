"""Tests of subliminal.stats (summaries, paired tests, power) and subliminal.plots."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from subliminal import stats
from subliminal.stats import GROUP, compare, student_scores, summarize, summary_text, t_interval


# --------------------------------------------------------------------------
# helper: a synthetic scores table in the workflow's tidy format
# --------------------------------------------------------------------------
def make_scores(
    pairs=(("qwen-7b", "qwen-7b"), ("gemma-2b", "qwen-7b")),
    traits=("owl",),
    modalities=("numbers",),
    recipes=("lora-r8",),
    metrics=("sampled",),
    n_seeds=8,
    n_questions=10,
    base_rate=0.1,
    control_rate=0.1,
    trait_rate=0.3,
    cross_trait_rate=None,
    student_sd=0.02,
    question_sd=0.02,
    rng=0,
    drop_models=(),
) -> pd.DataFrame:
    """Build a scores DataFrame: one row per (model, question, metric) and group.

    Every student has a true mean drawn around its role's rate (``student_sd``)
    and per-question values around that mean (``question_sd``), clipped to
    [0, 1]. Trait students of a same-base pair use ``trait_rate``; of a
    different-base pair ``cross_trait_rate`` (default: ``control_rate``, i.e.
    no transmission). The base and control rows are repeated for every group
    they belong to with identical values (they are the same models). Model ids
    in ``drop_models`` are left out (to make unpaired twins).
    """
    gen = np.random.default_rng(rng)
    cross = control_rate if cross_trait_rate is None else cross_trait_rate
    cache: dict[tuple[str, str], np.ndarray] = {}

    def values(model: str, metric: str, rate: float, between_sd: float) -> np.ndarray:
        """Per-question values of one model, the same wherever it is repeated."""
        if (model, metric) not in cache:
            mean = rate + gen.normal(0.0, between_sd)
            cache[(model, metric)] = np.clip(mean + gen.normal(0.0, question_sd, n_questions), 0, 1)
        return cache[(model, metric)]

    rows = []
    for teacher, student in pairs:
        for trait in traits:
            for modality in modalities:
                for recipe in recipes:
                    for metric in metrics:
                        common = dict(
                            teacher_base=teacher,
                            student_base=student,
                            trait=trait,
                            target=trait,
                            modality=modality,
                            recipe=recipe,
                            metric=metric,
                        )
                        models = [(f"{student}", "base", -1, base_rate)]
                        for seed in range(n_seeds):
                            models.append(
                                (f"ctrl|{teacher}|{student}|{modality}|{recipe}|s{seed}", "control", seed, control_rate)
                            )
                            models.append(
                                (
                                    f"{trait}|{teacher}|{student}|{modality}|{recipe}|s{seed}",
                                    "trait",
                                    seed,
                                    trait_rate if teacher == student else cross,
                                )
                            )
                        for model, role, seed, rate in models:
                            if model in drop_models:
                                continue
                            # the single base model has no between-student noise
                            v = values(model, metric, rate, 0.0 if role == "base" else student_sd)
                            for q in range(n_questions):
                                rows.append(
                                    common | dict(model=model, role=role, seed=seed, question_id=q, value=float(v[q]))
                                )
    cols = [
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
    ]
    return pd.DataFrame(rows, columns=cols)


def student_means_by_hand(scores: pd.DataFrame, group: dict, role: str) -> pd.Series:
    """Per-seed mean over questions for one role of one group (plain pandas)."""
    m = scores
    for k, v in group.items():
        m = m[m[k] == v]
    m = m[m["role"] == role]
    return m.groupby("seed")["value"].mean().sort_index()


def holm_by_hand(p):
    """Holm step-down adjusted p-values."""
    p = np.asarray(p, dtype=float)
    m = p.size
    order = np.argsort(p, kind="mergesort")
    adj = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adj[idx] = running
    return adj


def paired_power_by_hand(d, n, alpha=0.05):
    """Power of a two-sided paired t-test with n pairs and standardized effect d."""
    df = n - 1
    nc = d * math.sqrt(n)
    crit = sps.t.ppf(1 - alpha / 2, df)
    return sps.nct.sf(crit, df, nc) + sps.nct.cdf(-crit, df, nc)


def to_csv(df: pd.DataFrame) -> str:
    return df.to_csv(index=False, float_format="%.6g")


# --------------------------------------------------------------------------
# t_interval
# --------------------------------------------------------------------------
@pytest.mark.parametrize("level", [0.95, 0.9])
def test_t_interval_matches_hand_computation(level):
    x = np.array([0.12, 0.31, 0.25, 0.18, 0.4, 0.22, 0.29])
    n = x.size
    mean = x.sum() / n
    sd = math.sqrt(((x - mean) ** 2).sum() / (n - 1))
    half = sps.t.ppf(1 - (1 - level) / 2, n - 1) * sd / math.sqrt(n)
    m, lo, hi = t_interval(x, level)
    assert m == pytest.approx(mean, abs=1e-12)
    assert lo == pytest.approx(mean - half, abs=1e-12)
    assert hi == pytest.approx(mean + half, abs=1e-12)
    # scipy's own interval as a second opinion
    lo2, hi2 = sps.t.interval(level, n - 1, loc=mean, scale=sps.sem(x))
    assert (lo, hi) == pytest.approx((lo2, hi2), abs=1e-12)


def test_t_interval_small_n():
    m, lo, hi = t_interval([0.3])
    assert m == 0.3 and math.isnan(lo) and math.isnan(hi)
    m, lo, hi = t_interval([])
    assert all(math.isnan(v) for v in (m, lo, hi))
    assert t_interval([0.2, 0.2, 0.2]) == pytest.approx((0.2, 0.2, 0.2), abs=1e-15)
    assert t_interval([0.1, np.nan, 0.3])[0] == pytest.approx(0.2)  # NaNs dropped


# --------------------------------------------------------------------------
# student_scores / summarize
# --------------------------------------------------------------------------
def test_student_scores_means_over_questions():
    s = make_scores(n_seeds=3, n_questions=4)
    per = student_scores(s)
    assert {"model", "role", "seed", "target", "value", "n_questions"} <= set(per.columns)
    assert set(GROUP) <= set(per.columns)
    # 2 pairs x (1 base + 3 control + 3 trait)
    assert len(per) == 2 * 7
    assert (per["n_questions"] == 4).all()
    one = per.iloc[3]
    hand = s[(s["model"] == one["model"]) & (s["teacher_base"] == one["teacher_base"])]["value"].mean()
    assert one["value"] == pytest.approx(hand)


def test_summarize_rows_and_ci():
    s = make_scores(n_seeds=5, n_questions=12)
    summ = summarize(s)
    assert list(summ.columns) == GROUP + ["role", "n", "n_values", "mean", "ci_low", "ci_high", "ci_over"]
    assert len(summ) == 2 * 3  # 2 groups x 3 roles
    base = summ[summ["role"] == "base"]
    assert (base["ci_over"] == "questions").all()
    assert (base["n"] == 1).all() and (base["n_values"] == 12).all()
    students = summ[summ["role"] != "base"]
    assert (students["ci_over"] == "seeds").all()
    assert (students["n"] == 5).all() and (students["n_values"] == 5).all()
    # roles in base, control, trait order within each group
    roles = summ.groupby(GROUP, sort=False)["role"].apply(list)
    assert all(r == ["base", "control", "trait"] for r in roles)

    g = dict(zip(GROUP, summ.iloc[0][GROUP]))
    trait = summ[(summ[GROUP] == pd.Series(g)).all(axis=1) & (summ["role"] == "trait")].iloc[0]
    hand = t_interval(student_means_by_hand(s, g, "trait"))
    assert (trait["mean"], trait["ci_low"], trait["ci_high"]) == pytest.approx(hand)
    base_q = s[(s[GROUP] == pd.Series(g)).all(axis=1) & (s["role"] == "base")]["value"]
    b = summ[(summ[GROUP] == pd.Series(g)).all(axis=1) & (summ["role"] == "base")].iloc[0]
    assert (b["mean"], b["ci_low"], b["ci_high"]) == pytest.approx(t_interval(base_q))


def test_outputs_are_deterministic_csv():
    s = make_scores(metrics=("sampled", "exact"), recipes=("a", "b"))
    shuffled = s.sample(frac=1.0, random_state=3).reset_index(drop=True)
    for fn in (summarize, compare, student_scores):
        first = to_csv(fn(s))
        assert to_csv(fn(s)) == first
        assert to_csv(fn(shuffled)) == first
    assert summary_text(compare(s)) == summary_text(compare(shuffled))


# --------------------------------------------------------------------------
# compare: test, interval, correction, power
# --------------------------------------------------------------------------
def test_compare_matches_scipy_and_hand_formula():
    s = make_scores(n_seeds=8, trait_rate=0.15, student_sd=0.05, rng=11)
    cmp = compare(s)
    assert len(cmp) == 2
    for _, row in cmp.iterrows():
        g = dict(zip(GROUP, row[GROUP]))
        trait = student_means_by_hand(s, g, "trait")
        ctrl = student_means_by_hand(s, g, "control")
        ref = sps.ttest_rel(trait.to_numpy(), ctrl.to_numpy())
        assert row["t"] == pytest.approx(ref.statistic, rel=1e-9)
        assert row["p"] == pytest.approx(ref.pvalue, rel=1e-9)
        lo, hi = ref.confidence_interval(0.95)
        assert (row["effect_ci_low"], row["effect_ci_high"]) == pytest.approx((lo, hi), abs=1e-12)

        d = (trait - ctrl).to_numpy()
        n = d.size
        sd = d.std(ddof=1)
        t = d.mean() / (sd / math.sqrt(n))
        assert row["n_pairs"] == n == 8 and row["df"] == n - 1
        assert row["effect"] == pytest.approx(d.mean(), abs=1e-12)
        assert row["sd_diff"] == pytest.approx(sd, rel=1e-12)
        assert row["t"] == pytest.approx(t, rel=1e-9)
        assert row["p"] == pytest.approx(2 * sps.t.sf(abs(t), n - 1), rel=1e-9)
        half = sps.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
        assert row["effect_ci_low"] == pytest.approx(d.mean() - half, abs=1e-12)
        assert row["trait_mean"] == pytest.approx(trait.mean())
        assert row["control_mean"] == pytest.approx(ctrl.mean())
        assert row["effect_vs_base"] == pytest.approx(row["trait_mean"] - row["base_mean"])
        tlo, thi = sps.t.interval(0.95, len(trait) - 1, loc=trait.mean(), scale=sps.sem(trait.to_numpy()))
        assert (row["effect_vs_base_ci_low"], row["effect_vs_base_ci_high"]) == pytest.approx(
            (tlo - row["base_mean"], thi - row["base_mean"]), abs=1e-12
        )
        expected = "same_base" if g["teacher_base"] == g["student_base"] else "different_base"
        assert row["relation"] == expected


def test_relations_from_the_config_label_the_rows():
    s = make_scores(pairs=(("a", "a"), ("a", "b")))
    plain = stats.compare(s)
    labelled = stats.compare(s, relations={("a", "a"): "same_base", ("a", "b"): "same_architecture"})
    assert set(plain.relation) == {"same_base", "different_base"}
    assert set(labelled.relation) == {"same_base", "same_architecture"}
    cols = [c for c in plain.columns if c != "relation"]
    pd.testing.assert_frame_equal(plain[cols], labelled[cols])


def test_holm_one_family_per_metric():
    s = make_scores(
        pairs=(("a", "a"), ("b", "b"), ("a", "b"), ("b", "a")),
        recipes=("r1", "r2"),
        metrics=("sampled", "exact"),
        n_seeds=5,
        trait_rate=0.13,
        student_sd=0.04,
        rng=5,
    )
    cmp = compare(s, correction="holm")
    for metric, fam in cmp.groupby("metric"):
        assert len(fam) == 8
        assert fam["p_adjusted"].to_numpy() == pytest.approx(holm_by_hand(fam["p"]), rel=1e-12)
        assert (fam["significant"] == (fam["p_adjusted"] < 0.05)).all()
    # a pooled family would give different numbers
    pooled = holm_by_hand(cmp["p"])
    assert not np.allclose(pooled, cmp["p_adjusted"])
    none = compare(s, correction=None)
    assert none["p_adjusted"].to_numpy() == pytest.approx(none["p"].to_numpy())


@pytest.mark.parametrize("n_seeds", [3, 5, 8, 20])
def test_mde_has_the_requested_power(n_seeds):
    s = make_scores(pairs=(("a", "a"),), n_seeds=n_seeds, rng=n_seeds)
    row = compare(s, alpha=0.05, power=0.8).iloc[0]
    assert row["n_pairs"] == n_seeds
    assert paired_power_by_hand(row["mde_d"], n_seeds, 0.05) == pytest.approx(0.8, abs=1e-3)
    assert row["mde"] == pytest.approx(row["mde_d"] * row["sd_diff"], rel=1e-12)
    # fewer pairs -> larger detectable effect
    assert stats.minimum_detectable_d(n_seeds) > stats.minimum_detectable_d(n_seeds + 1)


def test_untestable_groups_give_nan_not_errors():
    # one seed only
    one = compare(make_scores(pairs=(("a", "a"),), n_seeds=1)).iloc[0]
    assert one["n_pairs"] == 1
    for col in ("t", "df", "p", "p_adjusted", "effect_ci_low", "effect_ci_high", "mde_d", "mde", "sd_diff"):
        assert math.isnan(one[col]), col
    assert not one["significant"]

    # identical differences (zero spread)
    flat = compare(make_scores(pairs=(("a", "a"),), n_seeds=4, student_sd=0, question_sd=0)).iloc[0]
    assert flat["n_pairs"] == 4 and flat["sd_diff"] == pytest.approx(0, abs=1e-12)
    for col in ("t", "p", "p_adjusted", "effect_ci_low", "mde"):
        assert math.isnan(flat[col]), col
    assert flat["effect"] == pytest.approx(0.2)

    # unpaired students are left out of the test but counted in the means
    s = make_scores(pairs=(("a", "a"),), n_seeds=4, drop_models=("owl|a|a|numbers|lora-r8|s3",))
    row = compare(s).iloc[0]
    assert (row["n_control"], row["n_trait"], row["n_pairs"]) == (4, 3, 3)

    text = summary_text(compare(make_scores(pairs=(("a", "a"),), n_seeds=1)))
    assert "not testable" in text and "No effect is significant" in text


# --------------------------------------------------------------------------
# simulations with a known truth
# --------------------------------------------------------------------------
def test_big_true_effect_is_significant():
    s = make_scores(
        pairs=(("qwen-7b", "qwen-7b"),),
        n_seeds=8,
        control_rate=0.1,
        trait_rate=0.3,
        student_sd=0.02,
        question_sd=0.02,
        rng=1,
    )
    row = compare(s).iloc[0]
    assert row["significant"]
    assert row["effect"] == pytest.approx(0.2, abs=0.03)
    assert row["effect_ci_low"] < 0.2 < row["effect_ci_high"]
    assert row["mde"] < row["effect"]
    text = summary_text(compare(s))
    assert "1 of 1 effects are significant" in text and "qwen-7b -> qwen-7b" in text


def test_no_effect_false_positive_rate_near_alpha():
    # 200 independent null grids, as 200 groups of one call (fast)
    s = make_scores(
        pairs=(("a", "a"),),
        recipes=tuple(f"r{i:03d}" for i in range(200)),
        n_seeds=8,
        n_questions=5,
        control_rate=0.2,
        trait_rate=0.2,
        student_sd=0.03,
        question_sd=0.03,
        rng=2024,
    )
    raw = compare(s, alpha=0.05, correction=None)
    assert len(raw) == 200
    rate = raw["significant"].mean()
    assert 0.01 <= rate <= 0.11
    assert raw["p"].between(0, 1).all()
    # with Holm across the 200 groups, false positives are (almost) gone
    assert compare(s, alpha=0.05, correction="holm")["significant"].sum() <= 1


# --------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------
def test_preference_bars_writes_png_and_pdf(tmp_path):
    import matplotlib.image as mpimg

    from subliminal.plots import preference_bars

    s = make_scores(traits=("owl", "eagle"), n_seeds=4)
    png, pdf = tmp_path / "fig" / "bars.png", tmp_path / "fig" / "bars.pdf"
    preference_bars(summarize(s), compare(s), "sampled", [str(png), str(pdf)])
    assert png.stat().st_size > 10_000
    assert pdf.stat().st_size > 5_000
    img = mpimg.imread(png)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert img.shape[0] > 1000 and img.shape[1] > 1000  # 300 dpi


def test_seeds_sharing_a_teacher_data_replicate_are_one_unit():
    """With replicates, the paired test is across replicates: the twin
    differences of the seeds of one replicate are averaged first."""
    s = make_scores(pairs=(("a", "a"),), n_seeds=6, rng=3)
    s["replicate"] = np.where(s["seed"] < 0, -1, s["seed"] % 3)
    row = compare(s, correction=None).iloc[0]
    per = s.groupby(["role", "seed"])["value"].mean()
    diffs = pd.Series({k: per[("trait", k)] - per[("control", k)] for k in range(6)})
    units = diffs.groupby(diffs.index % 3).mean().to_numpy()
    assert row["unit"] == "replicate" and row["n_pairs"] == 3
    assert row["effect"] == pytest.approx(units.mean(), abs=1e-12)
    assert row["p"] == pytest.approx(sps.ttest_1samp(units, 0).pvalue, rel=1e-9)
    s["replicate"] = 0  # one teacher dataset: the seeds are the units
    row = compare(s, correction=None).iloc[0]
    assert row["unit"] == "seed" and row["n_pairs"] == 6


@pytest.mark.parametrize(
    "p, text, figure, bare",
    [
        (0.5, "0.5", "p_adj=0.5", "0.5"),
        (0.0123, "0.012", "p_adj=0.012", "0.012"),
        (9.99e-4, "0.001", "p_adj<0.001", "0.001"),
        (2.3e-5, "2.3e-05", "p_adj<0.001", "2.3e-05"),
        (math.nan, "n/a", "p_adj n/a", "n/a"),
    ],
)
def test_one_p_value_format_for_reports_and_figures(p, text, figure, bare):
    """Text reports: two digits, scientific below 1e-4; figures: bounded at
    0.001 with the name; the specificity titles: two digits at any size."""
    assert stats.format_p(p) == text
    assert stats.format_p(p, 1e-3, bound=True, name="p_adj") == figure
    assert stats.format_p(p, floor=None) == bare
    assert stats.format_pp(0.1234) == "+12.3 pp" and stats.format_pp(0.1234, signed=False, digits=2) == "12.34 pp"
