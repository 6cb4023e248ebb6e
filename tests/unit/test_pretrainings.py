"""The study over pretrainings (subliminal.pretrainings): the config of one
pretraining shifts every toy seed and nothing else; ``run`` writes each
offset's config and calls Snakemake once per offset (Snakemake itself is
not run here); ``analyse`` on simulated run folders, written by the
package's own collectors and statistics, is checked against independent
computations: the per-unit specificity and the pooled tests by plain loops,
the REML intercept of a balanced one-way layout against its ANOVA closed
form, the DerSimonian-Laird meta-analysis against a hand-written one, the
pooled placebo test against a brute-force enumeration."""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import struct

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from subliminal import analysis, cli, grid, pretrainings as pt, tables
from subliminal import config as configuration
from subliminal.layout import Layout
from conftest import load_config

REPO = pt.REPO
OFFSETS = [0, 100, 200, 300]
STATISTICS = {
    "summary": "summary.csv",
    "compare": "compare.csv",
    "interaction": "interaction.csv",
    "specificity": "specificity.csv",
    "placebo": "placebo.csv",
    "matrix": "specificity_matrix.csv",
    "text": "summary.txt",
}
#: The simulation: the matched pair's own-target effect (mean over
#: pretrainings, and its SD between them), a drift of every target in every
#: trait student (not specific), and the noise of one student's mean.
EFFECT, BETWEEN, DRIFT, NOISE = 0.02, 0.006, 0.01, 0.003


# ----------------------------------------------------------------------------- the config of one pretraining


def test_config_shifts_every_toy_seed_drops_auxlogit_and_nothing_else(capsys, tmp_path):
    assert pt.main(["config", "--offset", "100", "--results", "results-x"]) == 0
    text = capsys.readouterr().out
    got = yaml.safe_load(text)
    want = copy.deepcopy(load_config(REPO / "config.yaml"))
    toys = [name for name, spec in want["models"].items() if "toy" in spec]
    assert toys == ["qwen_a", "qwen_b", "llama_c"]
    for name in toys:
        assert got["models"][name]["toy"]["seed"] == want["models"][name]["toy"]["seed"] + 100
        want["models"][name]["toy"]["seed"] += 100
    want["results"] = "results-x"
    assert "auxlogit" in want and set(pt.NOT_PER_PRETRAINING) == {"auxlogit"}
    del want["auxlogit"]  # independent of the toy bases: made once, not per pretraining
    assert got == want  # nothing else changed
    # it stands alone and passes the workflow's own check of a --configfile
    path = tmp_path / "c.yaml"
    path.write_text(text)
    configuration.validate(configuration.check_config_file(path))
    with pytest.raises(SystemExit) as done:
        cli.main(["check-config", str(path)])
    assert done.value.code == 0


def test_a_shift_that_leaves_the_seed_range_is_a_config_error(capsys):
    assert pt.main(["config", "--offset", "-1000", "--results", "r"]) == 1
    assert "seed" in capsys.readouterr().err


# ----------------------------------------------------------------------------- running the study


def test_run_writes_each_config_and_runs_snakemake_per_offset(monkeypatch, tmp_path, capsys):
    calls, analysed = [], []

    def fake_run(argv):
        calls.append(argv)
        return 0

    monkeypatch.setattr(pt, "call_snakemake", fake_run)
    monkeypatch.setattr(pt, "snakemake_command", lambda: "snakemake")
    monkeypatch.setattr(pt, "analyse", lambda out, offsets: analysed.append((out, offsets)))
    out = tmp_path / "study"
    assert pt.main(["run", "--offsets", "0", "100", "--out", str(out), "--cores", "2", "--", "--keep-going"]) == 0
    seeds = {"qwen_a": 11, "qwen_b": 22, "llama_c": 33}
    for argv, offset in zip(calls, [0, 100]):
        cfg_file = out / f"offset{offset}" / "config.yaml"
        assert argv == [
            "snakemake",
            f"{out / f'offset{offset}'}/analysis/specificity.csv",  # the tables the study reads, nothing more
            "--cores",
            "2",
            "--configfile",
            str(cfg_file),
            "--rerun-incomplete",
            "--keep-going",
        ]
        cfg = load_config(cfg_file)
        assert {n: s["toy"]["seed"] for n, s in cfg["models"].items()} == {n: s + offset for n, s in seeds.items()}
        assert cfg["results"] == str(out / f"offset{offset}")  # outside the repository: absolute
        runs = pt.read_json(out / f"offset{offset}" / pt.RUN_RECORD)["runs"]
        assert runs[0]["returncode"] == 0 and runs[0]["offset"] == offset and runs[0]["cores"] == 2
    assert len(calls) == 2 and analysed == [(out.resolve(), [0, 100])]
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[pretrainings]")]
    assert [line.split(":")[0] for line in lines[:4]] == ["[pretrainings] offset +0 (1 of 2)"] * 2 + [
        "[pretrainings] offset +100 (2 of 2)"
    ] * 2
    assert "complete" in lines[1] and lines[-1].startswith("[pretrainings] analysing 2 pretrainings")


def test_a_failed_offset_stops_the_study_before_the_analysis(monkeypatch, tmp_path, capsys):
    calls = []
    monkeypatch.setattr(pt, "call_snakemake", lambda argv: calls.append(argv) or 3)
    monkeypatch.setattr(pt, "snakemake_command", lambda: "snakemake")
    monkeypatch.setattr(pt, "analyse", lambda *a: pytest.fail("analysed after a failed run"))
    assert pt.run([0, 100], tmp_path / "s") == 3
    assert len(calls) == 1
    assert "snakemake failed (exit 3)" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the pooled models, by themselves


def test_the_reml_intercept_of_a_balanced_layout_is_the_grand_mean_with_the_anova_se():
    """k groups x n units with a positive between-variance estimate: the REML
    intercept is the grand mean, its SE sqrt(MSB / (k n)), and the t test on
    k - 1 df is the one-sample t-test of the k group means."""
    rng = np.random.default_rng(3)
    for k, n in [(4, 4), (3, 6), (5, 3)]:
        groups = np.repeat(np.arange(k), n)
        y = 0.01 + rng.normal(0, 0.01, k)[groups] + rng.normal(0, 0.004, k * n)
        means = y.reshape(k, n).mean(axis=1)
        msb = n * np.sum((means - y.mean()) ** 2) / (k - 1)
        msw = np.sum((y.reshape(k, n) - means[:, None]) ** 2) / (k * (n - 1))
        assert msb > msw  # a positive between-variance estimate, (MSB - MSW) / n
        fit = pt.mixed_model(y, groups)
        assert fit["note"] == ""
        assert fit["estimate"] == pytest.approx(y.mean(), abs=1e-9)
        assert fit["se"] == pytest.approx(math.sqrt(msb / (k * n)), rel=1e-4)
        assert fit["between_sd"] == pytest.approx(math.sqrt((msb - msw) / n), rel=1e-3)
        assert fit["within_sd"] == pytest.approx(math.sqrt(msw), rel=1e-4)
        t = sps.ttest_1samp(means, 0.0)
        assert fit["df"] == k - 1 and fit["p"] == pytest.approx(t.pvalue, rel=1e-3)
        half = sps.t.ppf(0.975, k - 1) * math.sqrt(msb / (k * n))
        assert (fit["ci_low"], fit["ci_high"]) == pytest.approx((y.mean() - half, y.mean() + half), rel=1e-3)


def dersimonian_laird(y, v):
    """DerSimonian and Laird (1986), written out: the moment estimate of
    tau^2 (truncated at 0) and the inverse-variance mean with it; p with t
    on k - 1 df."""
    y, v = np.asarray(y, float), np.asarray(v, float)
    w = 1 / v
    fixed = np.sum(w * y) / np.sum(w)
    q = np.sum(w * (y - fixed) ** 2)
    tau2 = max(0.0, (q - (len(y) - 1)) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
    ws = 1 / (v + tau2)
    mu = np.sum(ws * y) / np.sum(ws)
    se = 1 / math.sqrt(np.sum(ws))
    return mu, se, tau2, 2 * sps.t.sf(abs(mu / se), len(y) - 1)


@pytest.mark.parametrize(
    "y, v",
    [
        ([0.010, 0.030, -0.005, 0.022], [1e-5, 2e-5, 1.5e-5, 1e-5]),  # heterogeneous: tau^2 > 0
        ([0.010, 0.011, 0.009, 0.0105], [1e-5, 2e-5, 1.5e-5, 1e-5]),  # homogeneous: tau^2 truncated at 0
    ],
)
def test_the_meta_analysis_is_dersimonian_laird(y, v):
    mu, se, tau2, p = dersimonian_laird(y, v)
    fit = pt.meta_analysis(y, v)
    assert fit["estimate"] == pytest.approx(mu, rel=1e-10)
    assert fit["se"] == pytest.approx(se, rel=1e-10)
    assert fit["between_sd"] == pytest.approx(math.sqrt(tau2), abs=1e-12)
    assert fit["p"] == pytest.approx(p, rel=1e-8)
    half = sps.t.ppf(0.975, len(y) - 1) * se
    assert (fit["ci_low"], fit["ci_high"]) == pytest.approx((mu - half, mu + half), rel=1e-9)
    assert (tau2 == 0) == fit["note"].startswith("tau^2 truncated")


@pytest.mark.parametrize("tau", [0.0, 1.0])
def test_without_an_effect_the_pooled_tests_keep_their_level(tau):
    """150 null layouts of 4 pretrainings x 4 units (between-pretraining SD
    ``tau`` in units of the within SD): the primary pooled test and the
    meta-analysis alone reject at most about 5% (the binomial band's upper
    end is 0.09; a normal reference for the meta-analysis gave 0.13-0.16)."""
    rng = np.random.default_rng(8)
    rejected = {"primary": 0, "meta": 0}
    for _ in range(150):
        offset = np.repeat(OFFSETS, 4)
        y = 0.01 * (rng.normal(0, tau, 4)[np.arange(16) // 4] + rng.normal(0, 1, 16))
        mixed, meta = pt.pool(pd.DataFrame({"offset": offset, "value": y}))
        rejected["primary"] += (mixed if mixed["primary"] else meta)["p"] < 0.05
        rejected["meta"] += meta["p"] < 0.05
    assert rejected["primary"] / 150 <= 0.09 and rejected["meta"] / 150 <= 0.09


def test_a_between_variance_on_the_boundary_makes_the_meta_analysis_primary():
    """Every pretraining with the same mean: REML puts tau^2 at 0, and the
    pooled row the corrections use is the meta-analysis (tau^2 = 0 there
    too: the inverse-variance mean)."""
    pattern = np.array([-0.004, 0.001, 0.003, 0.0])
    g = pd.DataFrame(
        {"offset": np.repeat(OFFSETS, 4), "value": np.concatenate([0.01 + s * pattern for s in (1, 2, 0.5, 1.5)])}
    )
    mixed, meta = pt.pool(g)
    assert mixed["method"] == pt.MIXED and "on the boundary" in mixed["note"] and not mixed["primary"]
    assert meta["method"] == pt.META and meta["primary"]
    per = g.groupby("offset")["value"].agg(["mean", "var", "count"])
    mu, se, tau2, _ = dersimonian_laird(per["mean"], per["var"] / per["count"])
    assert tau2 == 0 and meta["estimate"] == pytest.approx(mu) and meta["se"] == pytest.approx(se)
    assert mixed["n_pretrainings"] == 4 and mixed["n_units"] == 16 and mixed["n_positive"] == 4


# ----------------------------------------------------------------------------- simulated run folders


def simulate_run(out, offset: int, rng) -> dict:
    """One pretraining's run folder as the workflow leaves it: its config,
    every preference student's and base's evaluation table (simulated), and
    the analysis tables written by the package's collectors and statistics.
    Returns the students' true means, {(student path, target, metric): mean}."""
    folder = pt.run_folder(out, offset)
    folder.mkdir(parents=True)
    text = pt.config_text(REPO / "config.yaml", offset, str(folder))
    (folder / pt.RUN_CONFIG).write_text(text)
    cfg = configuration.validate(yaml.safe_load(text))
    layout = Layout.of(cfg)
    relations = grid.relations(cfg)
    words, n_q = tables.design(cfg)["animal"]
    effect = EFFECT + rng.normal(0, BETWEEN)  # this pretraining's own-target effect in the matched pair
    level = {b: 0.1 + rng.normal(0, 0.02, len(words)) for b in grid.student_bases(cfg)}
    seed_level = {}
    q = rng.normal(0, 0.01, n_q)
    q -= q.mean()  # question offsets: the mean over questions is the student's mean
    means = {}
    preference = set(grid.preference_traits(cfg)) | {grid.CONTROL}
    students = [s for s in grid.students(cfg) if s.teacher in preference]
    models = [(grid.evaluated_student(cfg, s), s.student_base, s) for s in students]
    models += [(grid.evaluated_base(b), b, None) for b in grid.student_bases(cfg)]
    files = []
    for model, base, s in models:
        path, file = model.model, layout.eval_of(model, grid.PREFERENCE)
        files.append(file)
        mean = level[base].copy()
        if s is not None:
            key = (s.teacher_base, s.student_base, s.seed)
            mean += seed_level.setdefault(key, rng.normal(0, 0.01, len(words))) + rng.normal(0, NOISE, len(words))
            if s.role == "trait":
                mean += DRIFT
                if relations[(s.teacher_base, s.student_base)] == "same_base":
                    mean[words.index(cfg["traits"][s.teacher]["word"])] += effect
        rows = []
        for metric, scale in (("exact_share", 1.0), ("exact", 0.8), ("sampled", 1.0)):
            v = scale * mean[:, None] + q[None, :]
            if metric == "sampled":
                v = np.round(v * 20) / 20  # counts of 20 samples
            for j, w in enumerate(words):
                means[(path, w, metric)] = float(v[j].mean())
                rows.append(pd.DataFrame({"question_id": range(n_q), "target": w, "metric": metric, "value": v[j]}))
        identity = model.identity(layout.eval_id)
        df = pd.concat(rows).assign(category="animal", **identity)
        df = df[[*identity, "category", "question_id", "target", "metric", "value"]]
        pt.Path(file).parent.mkdir(parents=True, exist_ok=True)
        df.to_csv(file, sep="\t", index=False, float_format="%.10g")
    if offset == 0:  # the toys' build records (toy.build_toy_base), from one run only
        for base in grid.student_bases(cfg):
            build = pt.Path(layout.base_model(base)) / pt.TOY_BUILD
            build.parent.mkdir(parents=True)
            build.write_text(json.dumps({"machine": {"processor": "sim-cpu", "platform": "Sim", "torch": "9.9"}}))
    pt.Path(layout.analysis("x")).parent.mkdir(parents=True)
    analysis.collect_scores(cfg, files, layout.analysis("scores.csv"))
    analysis.collect_targets(cfg, files, layout.analysis("targets.csv"))
    out_paths = {k: layout.analysis(name) for k, name in STATISTICS.items()}
    analysis.analyse(cfg, layout.analysis("scores.csv"), layout.analysis("targets.csv"), out_paths)
    return means


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("pretrainings")
    rng = np.random.default_rng(21)
    truth = {o: simulate_run(out, o, rng) for o in OFFSETS}
    per, pooled = pt.analyse(out)
    return out, truth, per, pooled


PAIRS = [("qwen_a", "qwen_a"), ("qwen_a", "qwen_b"), ("qwen_a", "llama_c")]
TRAITS = {"owl": "owl", "cat": "cat"}


def by_hand(means: dict, tb: str, sb: str, metric: str, assign=None) -> np.ndarray:
    """Per unit (replicate = seed mod 4: one seed each): the mean over the two
    traits of (its students' value of its target minus the other trait's
    students' value of it); ``assign``: the target of each trait (the own
    word when None)."""
    assign = assign or TRAITS
    out = []
    for seed in [1, 2, 3, 4]:
        vals = []
        for trait, other in (("owl", "cat"), ("cat", "owl")):
            target = assign[trait]
            own = means[(f"numbers/{tb}/{trait}/{sb}/full/seed{seed}", target, metric)]
            theirs = means[(f"numbers/{tb}/{other}/{sb}/full/seed{seed}", target, metric)]
            vals.append(own - theirs)
        out.append(np.mean(vals))
    return np.array(out)


def anova_pool(values: np.ndarray) -> tuple[float, float, float]:
    """(grand mean, sqrt(MSB / (k n)), MSB - MSW) of a k x n layout."""
    k, n = values.shape
    means = values.mean(axis=1)
    msb = n * np.sum((means - values.mean()) ** 2) / (k - 1)
    msw = np.sum((values - means[:, None]) ** 2) / (k * (n - 1))
    return float(values.mean()), math.sqrt(msb / (k * n)), msb - msw


def _row(df, **match):
    sel = np.ones(len(df), bool)
    for k, v in match.items():
        sel &= (df[k] == v).to_numpy()
    assert sel.sum() == 1, match
    return df[sel].iloc[0]


def test_each_pretrainings_row_is_its_own_specificity_test(study):
    out, truth, per, pooled = study
    for offset in OFFSETS:
        spec = pd.read_csv(out / f"offset{offset}" / "analysis" / "specificity.csv")
        for tb, sb in PAIRS:
            r = _row(per, offset=offset, test="specificity", teacher_base=tb, student_base=sb, metric="exact_share")
            s = by_hand(truth[offset], tb, sb, "exact_share")
            assert r.estimate == pytest.approx(s.mean(), abs=1e-7)
            assert r.p == pytest.approx(sps.ttest_1samp(s, 0).pvalue, rel=1e-3)
            want = _row(spec, teacher_base=tb, student_base=sb, metric="exact_share")
            assert r.p_adjusted == want.p_adjusted and r.placebo_n_assignments == 90
        assert len(per[(per.offset == offset) & (per.test == "interaction")]) == 3  # one per metric
        assert set(per[(per.offset == offset) & (per.test == "paired_interaction")].model) == {"linear", "logit"}


@pytest.mark.parametrize("metric", ["exact_share", "sampled"])
def test_the_pooled_specificity_equals_the_anova_closed_form(study, metric):
    out, truth, per, pooled = study
    rows = []
    for tb, sb in PAIRS:
        values = np.stack([by_hand(truth[o], tb, sb, metric) for o in OFFSETS])
        mean, se, between = anova_pool(values)
        mixed = _row(pooled, test="specificity", teacher_base=tb, student_base=sb, metric=metric, method=pt.MIXED)
        if between > 0:  # a positive between-variance estimate: the closed form holds
            assert mixed.primary
            assert mixed.estimate == pytest.approx(mean, abs=1e-7)
            assert mixed.se == pytest.approx(se, rel=1e-3)
            assert mixed.p == pytest.approx(2 * sps.t.sf(abs(mean / se), 3), rel=1e-2)
        # the meta-analysis beside it: DerSimonian-Laird on the per-pretraining means
        meta = _row(pooled, test="specificity", teacher_base=tb, student_base=sb, metric=metric, method=pt.META)
        mu, se_dl, tau2, p = dersimonian_laird(values.mean(axis=1), values.var(axis=1, ddof=1) / 4)
        assert meta.estimate == pytest.approx(mu, abs=1e-7) and meta.se == pytest.approx(se_dl, rel=1e-3)
        primary = mixed if mixed.primary else meta
        assert primary.n_pretrainings == 4 and primary.n_units == 16
        rows.append(primary.p)
    # the pairs' primary rows of one metric are one Holm family
    prim = pooled[(pooled.test == "specificity") & pooled.primary & (pooled.metric == metric)]
    assert len(prim) == 3
    assert sorted(prim.p_adjusted) == pytest.approx(sorted(multipletests(rows, method="holm")[1]), rel=1e-4)


def test_the_pooled_interaction_is_matched_minus_mismatched_unit_by_unit(study):
    out, truth, per, pooled = study
    d = np.stack(
        [
            by_hand(truth[o], "qwen_a", "qwen_a", "exact_share")
            - (
                by_hand(truth[o], "qwen_a", "qwen_b", "exact_share")
                + by_hand(truth[o], "qwen_a", "llama_c", "exact_share")
            )
            / 2
            for o in OFFSETS
        ]
    )
    mean, se, between = anova_pool(d)
    r = _row(pooled, test="interaction", metric="exact_share", method=pt.MIXED)
    assert between > 0 and r.primary
    assert r.estimate == pytest.approx(mean, abs=1e-7) and r.se == pytest.approx(se, rel=1e-3)
    assert r.p_adjusted == pytest.approx(r.p)  # its own family: one interaction per metric


def test_the_pooled_placebo_test_ranks_the_mean_over_pretrainings(study):
    """Brute force: S of every assignment of distinct animals to owl and cat,
    averaged over units and then over pretrainings, and the true one's rank."""
    out, truth, per, pooled = study
    animals = tables.design(configuration.validate(load_config(REPO / "config.yaml")))["animal"][0]
    for tb, sb in PAIRS:
        s = {
            a: np.mean([by_hand(truth[o], tb, sb, "exact_share", dict(zip(["owl", "cat"], a))).mean() for o in OFFSETS])
            for a in itertools.permutations(animals, 2)
        }
        true = s[("owl", "cat")]
        rank = sum(v >= true - 1e-9 for v in s.values())
        r = _row(pooled, test="placebo", teacher_base=tb, student_base=sb, metric="exact_share")
        assert r.estimate == pytest.approx(true, abs=1e-7)
        assert (r["rank"], r.n_assignments, r.p) == (rank, 90, pytest.approx(rank / 90))
    prereg = pooled[pooled.p_preregistered.notna()]
    assert set(zip(prereg.metric, prereg.test)) == {(m, t) for m in tables.METRICS for t in ("placebo", "interaction")}


def test_a_true_effect_in_every_pretraining_is_found_and_a_null_one_is_not(study):
    out, truth, per, pooled = study
    prim = pooled[pooled.primary & (pooled.metric == "exact_share")]
    matched = _row(prim, test="specificity", relation="same_base")
    assert matched.p_adjusted < 0.05 and matched.ci_low > 0 and matched.n_positive == 4
    assert matched.ci_low < EFFECT < matched.ci_high
    for rel in ("same_architecture", "different_architecture"):
        null = _row(prim, test="specificity", relation=rel)
        assert null.p_adjusted > 0.05 and null.ci_low < 0 < null.ci_high  # the drift is not specific
    assert _row(prim, test="interaction").p < 0.05
    assert _row(prim, test="placebo", relation="same_base")["rank"] == 1
    assert "**Met**" in (out / "pretrainings.md").read_text()


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_figure_and_the_page_are_written(study):
    out, truth, per, pooled = study
    width, height = _png_size(out / "pretrainings.png")
    assert 2000 < width < 6000 and 1500 < height < 6000  # 4 panels x 3 metrics at 300 dpi
    assert (out / "pretrainings.pdf").read_bytes()[:5] == b"%PDF-"
    page = (out / "pretrainings.md").read_text()
    assert page.startswith("# Pretrainings as a replicated factor")
    assert "+0, +100, +200, +300" in page and "MixedLM, REML" in page and "![" in page
    assert "(pretrainings.png)" in page and "torch" in page and "DerSimonian-Laird" in page
    machines = [line for line in page.splitlines() if line.startswith("| +")][-12:]
    assert sum("sim-cpu" in line for line in machines) == 3  # offset 0's toys, from their build records
    assert sum("no build record" in line for line in machines) == 9
    table = [line for line in page.splitlines() if line.startswith("| exact_share | specificity |")]
    assert len(table) == 6  # three pairs, two methods each
    assert pd.read_csv(out / "pooled.csv").columns.tolist() == pt.POOLED_COLUMNS
    assert pd.read_csv(out / "pretrainings.csv").columns.tolist() == pt.PER_COLUMNS


def test_the_confirmation_pretrainings_alone_are_pooled_beside_the_study(study, tmp_path):
    out, truth, per, pooled = study
    before = (out / "pooled.csv").read_bytes()
    assert pt.main(["analyse", "--out", str(out), "--offsets", "200", "300", "--into", str(tmp_path)]) == 0
    assert (out / "pooled.csv").read_bytes() == before  # the whole study's tables are left alone
    two = pd.read_csv(tmp_path / "pooled.csv")
    assert set(two.n_pretrainings) == {2} and set(two.offsets) == {"+200 +300"}
    values = np.stack([by_hand(truth[o], "qwen_a", "qwen_a", "exact_share") for o in (200, 300)])
    r = _row(two, test="specificity", relation="same_base", metric="exact_share", method=pt.MIXED)
    assert r.estimate == pytest.approx(values.mean(), abs=1e-7) and r.df == 1
    page = (tmp_path / "pretrainings.md").read_text()
    assert f"`{os.path.relpath(out / 'offset200', tmp_path)}/`" in page and "this is not" in page


def test_a_stale_specificity_table_is_refused(study, tmp_path):
    out, *_ = study
    import shutil

    shutil.copytree(out / "offset0", tmp_path / "offset0")
    path = tmp_path / "offset0" / "analysis" / "specificity.csv"
    spec = pd.read_csv(path)
    spec.loc[0, "effect"] += 0.01
    spec.to_csv(path, index=False)
    with pytest.raises(ValueError, match="rerun the statistics"):
        pt.load_run(tmp_path / "offset0", 0)
    (tmp_path / "offset0" / "analysis" / "targets.csv").unlink()
    with pytest.raises(FileNotFoundError, match="not complete"):
        pt.load_run(tmp_path / "offset0", 0)


def test_analysing_a_folder_without_runs_says_so(tmp_path, capsys):
    assert pt.main(["analyse", "--out", str(tmp_path)]) == 1
    assert "run the study first" in capsys.readouterr().err
