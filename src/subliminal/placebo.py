"""Is the OWN target special? The placebo-target (permutation) test of the
trait-specificity statistic.

The specificity test (:mod:`subliminal.specificity`) compares each trait's
own target with the other traits' students on that target, and tests the
mean S across teacher-data replicates (or seeds). It cannot tell
transmission from a *teacher x target* effect that is unrelated to the
trait: one teacher's data may move some animals and not others (owl
teachers' data moving eagle by -4 pp), and such a shift repeats in every
replicate, so the t-test across replicates does not see it as noise. When
it happens to fall on the own target, the t-test calls it transmission.

The placebo test asks how S for the true targets ranks among S for every
other assignment of targets. For one stratum (teacher base, student base,
modality, recipe, metric), with D[u, i, j] the contrast of trait i on
target j in unit u (the shift of j in trait i's students against their
control twins minus the mean shift of j in the students of the traits of
another word, averaged over the unit's seeds, exactly as specificity.py
computes it for j = the trait's word),

    S(a) = mean over units u of mean over traits i of D[u, i, a(word_i)],

for every assignment a of distinct candidate targets of the category to the
traits' words (traits of one word share their target; with several
categories, the product of the categories' assignments). S(true) is the
``effect`` of specificity.csv. For 2 words among 10 candidates there are
10 x 9 = 90 assignments (the true one among them; a placebo assignment may
keep one trait's own target).

**Primary**: the one-sided permutation p-value on S,

    p_perm = #{a : S(a) >= S(true)} / N      (N assignments, the true one included),

ties counted against the own target (conservative); ``rank`` is that count
(1 = the own targets moved most). It is exact (no distribution assumed)
under the null that the own target is exchangeable with the other
candidates: the trait teacher's data move it no more than they move any
other animal. Its smallest attainable value is 1 / N (:func:`min_p`), so
with two traits it cannot fall below 1/90 = 0.011, and after Holm over
three pairs not below 0.033.

**Secondary, the replicates combined** (two or more units): the same
assignments ranked by the studentised statistic t(a) = mean_u S(a, u) /
(sd_u / sqrt(n)), ``p_perm_t``: a randomisation test whose assignment is
held fixed across the replicates (an assignment belongs to the teacher, not
to one replicate; permuting within each replicate separately would average
a teacher's systematic off-target movements away and make the test
anticonservative). It gives a target whose shifts vary much across
replicates less weight; it rewards consistency rather than size, so with
little replicate noise it can rank a small but steady own shift high. Reported
beside the primary, not corrected, never instead of it.

``p_adjusted``: Holm (analysis.correction) across the pair rows of one
metric, as in specificity.csv. When the assignments exceed
:data:`MAX_EXACT`, a seeded random sample of :data:`N_SAMPLED` of them is
drawn and p = (1 + #{S(a) >= S(true)}) / (1 + B) (``exact`` False).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from . import config as configuration, tables
from .specificity import KEY, shifts
from .stats import SD_ZERO, format_p, format_pp, pair_relation

#: Enumerate every assignment up to this many; beyond it, sample.
MAX_EXACT = 200_000
#: Assignments sampled beyond MAX_EXACT.
N_SAMPLED = 20_000
#: S values closer than this count as ties (sums in another order differ by rounding only).
TIE = 1e-12

COLUMNS = KEY + [
    "relation",
    "S_true",
    "n_assignments",
    "exact",
    "rank",
    "p_perm",
    "p_adjusted",
    "significant",
    "min_p",
    "placebo_mean",
    "placebo_sd",
    "placebo_q05",
    "placebo_q50",
    "placebo_q95",
    "t_true",
    "p_perm_t",
    "n_units",
    "unit",
    "n_traits",
    "traits",
    "note",
]


def min_p(n_words: int | list[int], n_candidates: int | list[int]) -> float:
    """The smallest attainable p_perm (exact enumeration): 1 / N, N the
    number of assignments of distinct targets, n!/(n-k)! per category
    (lists: one entry per category, N their product)."""
    ks = np.atleast_1d(n_words)
    ns = np.atleast_1d(n_candidates)
    n = 1
    for k, c in zip(ks, ns):
        n *= math.perm(int(c), int(k))
    return 1.0 / n


def contrast(shift: np.ndarray, words: list[str]) -> np.ndarray:
    """D[..., i, j] from shifts [..., trait, target]: the shift of target j in
    trait i's students minus the mean shift of j in the students of the
    traits of another word (the specificity contrast, for every target)."""
    words = np.asarray(words)
    other = (words[:, None] != words[None, :]).astype(float)  # other[i, t]: t is of another word than i
    other /= other.sum(axis=1, keepdims=True)
    return shift - np.einsum("it,...tj->...ij", other, shift)


def assignments(n_words: int, n_candidates: int) -> np.ndarray:
    """Every assignment of distinct candidates (indices) to n_words words: (N, n_words)."""
    return np.array(list(itertools.permutations(range(n_candidates), n_words)), dtype=np.int64).reshape(-1, n_words)


def _category_sums(D: np.ndarray, word_idx: np.ndarray, assign: np.ndarray) -> np.ndarray:
    """Sum over traits of D[u, i, assign[a, word_idx[i]]]: (N, n_units)."""
    cols = assign[:, word_idx]  # (N, n_traits): the target of each trait
    rows = np.arange(D.shape[1])
    return np.stack([D[u][rows, cols].sum(axis=1) for u in range(D.shape[0])], axis=1)


def distribution(
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray]], rng: np.random.Generator | None = None
) -> tuple[np.ndarray, bool]:
    """S(a, u) for every assignment a (row 0 the true one) and unit u.
    ``blocks``: per category (D of shape (n_units, n_traits, n_candidates),
    word index of each trait, the true target index of each word). Exact
    enumeration when the product of the categories' assignments is at most
    MAX_EXACT (returned flag True), else row 0 plus N_SAMPLED random
    assignments (``rng``)."""
    sizes = [math.perm(D.shape[2], len(true)) for D, _, true in blocks]
    n_traits = sum(D.shape[1] for D, _, _ in blocks)
    exact = math.prod(sizes) <= MAX_EXACT
    sums = None
    if exact:
        for D, widx, true in blocks:
            assign = assignments(len(true), D.shape[2])
            first = np.flatnonzero((assign == true).all(axis=1))[0]
            assign = np.concatenate([assign[[first]], np.delete(assign, first, axis=0)])
            s = _category_sums(D, widx, assign)
            sums = s if sums is None else (sums[:, None, :] + s[None, :, :]).reshape(-1, s.shape[1])
    else:
        rng = rng if rng is not None else np.random.default_rng(0)
        for D, widx, true in blocks:
            draws = np.stack([rng.permutation(D.shape[2])[: len(true)] for _ in range(N_SAMPLED)])
            s = _category_sums(D, widx, np.concatenate([np.asarray(true)[None, :], draws]))
            sums = s if sums is None else sums + s
    return sums / n_traits, exact


def rank_test(S: np.ndarray, exact: bool) -> dict:
    """The permutation test of S(a, u) (row 0 true): S = mean over units;
    rank, p_perm, the placebo distribution (rows 1..), and the studentised
    version (t_true, p_perm_t) when there are 2+ units."""
    s = S.mean(axis=1)
    n, N = S.shape[1], S.shape[0]
    rank = int(np.sum(s >= s[0] - TIE))
    p = rank / N  # sampled: (1 + #{S(a) >= S(true)}) / (1 + B), the same count
    placebo = s[1:]
    out = {
        "S_true": float(s[0]),
        "n_assignments": int(N),
        "exact": bool(exact),
        "rank": rank,
        "p_perm": float(p),
        "min_p": 1.0 / N,
        "placebo_mean": float(placebo.mean()) if placebo.size else math.nan,
        "placebo_sd": float(placebo.std(ddof=1)) if placebo.size > 1 else math.nan,
        "placebo_q05": float(np.quantile(placebo, 0.05)) if placebo.size else math.nan,
        "placebo_q50": float(np.quantile(placebo, 0.5)) if placebo.size else math.nan,
        "placebo_q95": float(np.quantile(placebo, 0.95)) if placebo.size else math.nan,
        "t_true": math.nan,
        "p_perm_t": math.nan,
        "n_units": int(n),
    }
    if n >= 2:
        sd = S.std(axis=1, ddof=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(sd > SD_ZERO, s / (sd / math.sqrt(n)), np.nan)
        if np.isfinite(t[0]):
            # a placebo without spread (t undefined) counts against the own target
            out["t_true"] = float(t[0])
            out["p_perm_t"] = float(np.sum(~np.isfinite(t) | (t >= t[0] - TIE)) / N)
    return out


def _stratum_blocks(g: pd.DataFrame, traits: dict[str, tuple[str, str]]):
    """The blocks of one stratum's shifts (see :func:`distribution`), the
    unit kind, the traits tested and a note when not testable."""
    unit = "replicate" if g.groupby("seed")["replicate"].first().nunique() >= 2 else "seed"
    blocks, names = [], []
    for cat, c in g.groupby("category", sort=True):
        tr = sorted(c["trait"].unique())
        words = [traits[t][0] for t in tr]
        if len(set(words)) < 2:
            continue
        cands = sorted(c["target"].unique())
        if any(w not in cands for w in words):
            return None, unit, [], "a trait's word is not among the scored candidates"
        cube = c.pivot_table(index=["seed", "trait"], columns="target", values="shift", aggfunc="mean")
        seeds = sorted(c["seed"].unique())
        cube = cube.reindex(pd.MultiIndex.from_product([seeds, tr]), columns=cands)
        if cube.isna().to_numpy().any():
            return None, unit, [], "incomplete trait x target x seed shifts"
        arr = cube.to_numpy(float).reshape(len(seeds), len(tr), len(cands))
        D = contrast(arr, words)
        rep = c.groupby("seed")["replicate"].first().reindex(seeds).to_numpy() if unit == "replicate" else seeds
        D = np.stack([D[np.asarray(rep) == r].mean(axis=0) for r in sorted(set(rep))])
        distinct = sorted(set(words))
        blocks.append((D, np.array([distinct.index(w) for w in words]), np.array([cands.index(w) for w in distinct])))
        names += tr
    if not blocks:
        return None, unit, [], "no category has two traits of different words"
    return blocks, unit, names, ""


def placebo(
    targets: pd.DataFrame,
    traits: dict[str, tuple[str, str]],
    *,
    relations: dict[tuple[str, str], str] | None = None,
    alpha: float = 0.05,
    correction: str | None = "holm",
    seed: int = 0,
    with_distribution: bool = False,
):
    """The placebo table (see the module's docstring): one row per KEY
    stratum that has a category with two traits of different words. With
    ``with_distribution``, also {KEY tuple: S of every assignment (index 0
    the true one)} for the figure."""
    sh = shifts(targets, traits)
    rows, dists = [], {}
    rng = np.random.default_rng(seed)
    for key, g in sh.groupby(KEY, sort=True):
        rec = dict(zip(KEY, key))
        rec["relation"] = pair_relation(relations, rec["teacher_base"], rec["student_base"])
        blocks, unit, names, note = _stratum_blocks(g, traits)
        if blocks is None:
            if note.startswith("no category"):
                continue
            rows.append(rec | {"unit": unit, "note": note, "n_traits": 0, "traits": ""})
            continue
        S, exact = distribution(blocks, rng)
        res = rank_test(S, exact)
        rows.append(rec | res | {"unit": unit, "n_traits": len(names), "traits": ",".join(sorted(names)), "note": ""})
        dists[key] = S.mean(axis=1)
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["p_adjusted"] = out["p_perm"]
    if correction is not None:
        for _, fam in out.groupby("metric", sort=True):
            p = fam["p_perm"].dropna()
            if len(p) > 1:
                out.loc[p.index, "p_adjusted"] = multipletests(p.to_numpy(), method=correction)[1]
    out["significant"] = (out["p_adjusted"] <= alpha).fillna(False).astype(bool)
    out = out.sort_values(["metric", "modality", "recipe", "teacher_base", "student_base"], kind="mergesort")
    out = out.reset_index(drop=True)
    out.attrs.update(alpha=alpha, correction=correction)
    return (out, dists) if with_distribution else out


def pooled(
    runs: list[pd.DataFrame],
    traits: dict[str, tuple[str, str]],
    *,
    relations: dict[tuple[str, str], str] | None = None,
    alpha: float = 0.05,
    correction: str | None = "holm",
) -> pd.DataFrame:
    """The placebo test pooled over independent runs (pretrainings of the
    bases): S(a) averaged over the runs with the same assignment a, ranked
    as in :func:`placebo`. Each run's teacher x target shifts are its own
    (other bases, other teachers), so the pooled placebo S spreads less by
    about the square root of the number of runs while an own-target effect
    shared by the runs stays. Exact enumeration only (the runs must share
    their assignments). ``p_perm_t`` here studentises across the runs.
    Columns as :func:`placebo`'s, ``n_units`` the units summed over the runs,
    ``unit`` "pretraining", and ``n_runs``."""
    per_run = []
    for t in runs:
        stratum = {}
        for key, g in shifts(t, traits).groupby(KEY, sort=True):
            blocks, unit, names, note = _stratum_blocks(g, traits)
            if blocks is not None:
                S, exact = distribution(blocks)
                stratum[key] = (S.mean(axis=1), exact, S.shape[1], names)
        per_run.append(stratum)
    rows = []
    for key in sorted(set().union(*per_run)):
        rec = dict(zip(KEY, key))
        rec["relation"] = pair_relation(relations, rec["teacher_base"], rec["student_base"])
        got = [r[key] for r in per_run if key in r]
        names = got[0][3]
        note = ""
        if len(got) < len(runs):
            note = f"testable in {len(got)} of {len(runs)} runs"
        elif not all(g[1] for g in got) or len({len(g[0]) for g in got}) > 1 or any(g[3] != names for g in got):
            note = "the runs do not share one exact set of assignments"
        if note:
            rows.append(rec | {"unit": "pretraining", "note": note, "n_traits": len(names), "traits": ""})
            continue
        res = rank_test(np.stack([g[0] for g in got], axis=1), True)
        res["n_units"] = sum(g[2] for g in got)
        rows.append(rec | res | {"unit": "pretraining", "n_traits": len(names), "traits": ",".join(names), "note": ""})
    out = pd.DataFrame(rows, columns=COLUMNS).assign(n_runs=len(runs))
    out["p_adjusted"] = out["p_perm"]
    if correction is not None:
        for _, fam in out.groupby("metric", sort=True):
            p = fam["p_perm"].dropna()
            if len(p) > 1:
                out.loc[p.index, "p_adjusted"] = multipletests(p.to_numpy(), method=correction)[1]
    out["significant"] = (out["p_adjusted"] <= alpha).fillna(False).astype(bool)
    out.attrs.update(alpha=alpha, correction=correction)
    return out.reset_index(drop=True)


def summary_text(table: pd.DataFrame) -> str:
    """The block of summary.txt after the specificity block."""
    a = table.attrs
    lines = [
        "Placebo targets: is the OWN target special? S for the true targets ranked among S for every assignment",
        "of distinct candidate targets to the traits. Primary: one-sided permutation p = rank / N (ties count",
        f"against the own target), corrected ({a.get('correction') or 'none'}) per metric across pairs; min p = 1 / N.",
        "Secondary: p_t, the same ranking of S studentised across units.",
        "",
    ]
    if table.empty:
        return "\n".join(lines + ["  not testable: no category has two preference traits", ""]) + "\n"
    for metric, fam in table.groupby("metric", sort=True):
        lines.append(f"Metric '{metric}':")
        for _, r in fam.iterrows():
            name = f"  {r['modality']}/{r['recipe']}: {r['teacher_base']} -> {r['student_base']} ({r['relation']})"
            if r["note"]:
                lines.append(f"{name}: not testable ({r['note']})")
                continue
            lines.append(
                f"{name}: S {format_pp(r['S_true'], digits=2)}, rank {int(r['rank'])} of {int(r['n_assignments'])}"
                f"{'' if r['exact'] else ' (sampled)'}, p_perm={format_p(r['p_perm'])}, "
                f"p_adj={format_p(r['p_adjusted'])}{' *' if r['significant'] else ''} (min p {r['min_p']:.3g}); "
                f"placebo {format_pp(r['placebo_mean'], digits=2)} "
                f"sd {format_pp(r['placebo_sd'], digits=2).lstrip('+')}"
                f", p_t={format_p(r['p_perm_t'])}"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- power by number of traits


def simulate_cells(
    rng: np.random.Generator,
    k: int,
    n_candidates: int = 10,
    *,
    effect: float = 0.02,
    interaction_sd: float = 0.01,
    unit_sd: float = 0.01,
    n_units: int = 4,
) -> np.ndarray:
    """Shifts [unit, trait, target] of k traits (trait i's own target is
    candidate i): a teacher x target effect drawn once per teacher and
    repeated in every unit (sd ``interaction_sd``, the own target included),
    independent unit noise (``unit_sd``), and ``effect`` on each own target."""
    gamma = rng.normal(0, interaction_sd, (k, n_candidates))
    gamma[np.arange(k), np.arange(k)] += effect
    return gamma[None] + rng.normal(0, unit_sd, (n_units, k, n_candidates))


def components(targets: pd.DataFrame, traits: dict[str, tuple[str, str]]) -> pd.DataFrame:
    """The two noise components of :func:`simulate_cells`, estimated per
    stratum (KEY) from a run's targets table, on the targets that are no
    trait's word (the own targets carry the effect): the shifts centred over
    the traits of each unit (a shift common to every trait teacher, and the
    control twin, cancel, as they do in S), c[u, t, j]. With k traits and n
    units, E[var over units of c] = (1 - 1/k) unit_sd^2 and E[var over
    cells of the unit mean of c] = (1 - 1/k) (interaction_sd^2 +
    unit_sd^2 / n). KEY + n_traits, n_units, n_cells, unit_sd,
    interaction_sd (0 when the estimate of its square is negative)."""
    rows = []
    for key, g in shifts(targets, traits).groupby(KEY, sort=True):
        blocks, unit, names, note = _stratum_blocks(g, traits)
        if blocks is None:
            continue
        unit_var, cell_var, n_cells = [], [], 0
        for cat, c in g.groupby("category", sort=True):
            tr = sorted(c["trait"].unique())
            if len({traits[t][0] for t in tr}) < 2:
                continue
            off = sorted(set(c["target"]) - {traits[t][0] for t in tr})
            cube = c[c["target"].isin(off)].pivot_table(index=["seed", "trait"], columns="target", values="shift")
            seeds = sorted(c["seed"].unique())
            arr = cube.reindex(pd.MultiIndex.from_product([seeds, tr]), columns=off).to_numpy(float)
            arr = arr.reshape(len(seeds), len(tr), len(off))
            rep = c.groupby("seed")["replicate"].first().reindex(seeds).to_numpy() if unit == "replicate" else seeds
            arr = np.stack([arr[np.asarray(rep) == r].mean(axis=0) for r in sorted(set(rep))])
            cen = arr - arr.mean(axis=1, keepdims=True)
            k, n = len(tr), arr.shape[0]
            if n >= 2:
                unit_var.append(cen.var(axis=0, ddof=1).mean() / (1 - 1 / k))
            cell_var.append(((cen.mean(axis=0)) ** 2).mean() / (1 - 1 / k))  # centred: mean 0 over traits
            n_cells += k * len(off)
        n_units = blocks[0][0].shape[0]
        uv = float(np.mean(unit_var)) if unit_var else math.nan
        iv = float(np.mean(cell_var)) - (uv / n_units if unit_var else 0.0)
        rows.append(
            dict(zip(KEY, key))
            | {
                "n_traits": len(names),
                "n_units": n_units,
                "n_cells": n_cells,
                "unit_sd": math.sqrt(uv) if unit_var else math.nan,
                "interaction_sd": math.sqrt(max(iv, 0.0)),
            }
        )
    return pd.DataFrame(rows, columns=KEY + ["n_traits", "n_units", "n_cells", "unit_sd", "interaction_sd"])


def averaged_components(runs: list[pd.DataFrame], traits: dict[str, tuple[str, str]], metric: str) -> pd.DataFrame:
    """:func:`components` of ``metric`` averaged over runs per pair: the
    variances are averaged (the sds are their square roots)."""
    comp = pd.concat([components(t[t["role"] != "base"], traits) for t in runs], ignore_index=True)
    comp = comp[comp["metric"] == metric]
    var = comp.assign(unit_sd=comp["unit_sd"] ** 2, interaction_sd=comp["interaction_sd"] ** 2)
    out = var.groupby(KEY + ["n_traits", "n_units"], as_index=False)[["unit_sd", "interaction_sd"]].mean()
    out[["unit_sd", "interaction_sd"]] = np.sqrt(out[["unit_sd", "interaction_sd"]])
    return out.assign(n_runs=len(runs))


def power(
    ks=(2, 4, 6),
    n_candidates: int = 10,
    *,
    effect: float = 0.02,
    interaction_sd: float = 0.01,
    unit_sd: float = 0.01,
    n_units: int = 4,
    alpha: float = 0.05,
    family: int = 3,
    n_sim: int = 200,
    seed: int = 0,
) -> pd.DataFrame:
    """For k traits of one category: the smallest attainable p_perm, the
    smallest after Holm over ``family`` pairs (family x 1/N, capped at 1),
    and on :func:`simulate_cells` grids the rejection rate of the primary
    test at alpha / family (Holm's first step: its power when the other
    pairs are null; 0 when that threshold is below the smallest p)."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        words = [str(i) for i in range(k)]
        hits = 0
        for _ in range(n_sim):
            D = contrast(
                simulate_cells(
                    rng, k, n_candidates, effect=effect, interaction_sd=interaction_sd, unit_sd=unit_sd, n_units=n_units
                ),
                words,
            )
            S, exact = distribution([(D, np.arange(k), np.arange(k))], rng)
            hits += rank_test(S, exact)["p_perm"] <= alpha / family
        mp = min_p(k, n_candidates)
        rows.append(
            {
                "k": k,
                "n_candidates": n_candidates,
                "n_assignments": math.perm(n_candidates, k),
                "min_p": mp,
                "min_p_holm": min(1.0, family * mp),
                "power": hits / n_sim,
                "effect": effect,
                "interaction_sd": interaction_sd,
                "unit_sd": unit_sd,
                "n_units": n_units,
                "alpha": alpha,
                "family": family,
                "n_sim": n_sim,
            }
        )
    return pd.DataFrame(rows)


def main(argv=None) -> None:
    """python -m subliminal.placebo: the smallest p and the power by number
    of traits, on a grid of assumed noise components or, with --targets and
    --config, on the components estimated from a run's targets table (per
    pair of --metric, :func:`components`)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m subliminal.placebo", description=main.__doc__)
    ap.add_argument("--targets", nargs="+", help="runs' analysis/targets.csv (components averaged over them)")
    ap.add_argument("--config", help="their config (its traits)")
    ap.add_argument(
        "--pretrainings",
        type=int,
        default=1,
        help="power of the test pooled over this many pretrainings (pooled): both sds / sqrt(this)",
    )
    ap.add_argument("--metric", default="exact_share")
    ap.add_argument("--effects", default="0.01,0.02", help="own-target effects to try (proportions)")
    ap.add_argument("--ks", default="2,4,6", help="numbers of traits of one category")
    ap.add_argument("--candidates", type=int, default=10)
    ap.add_argument("--units", type=int, default=4, help="units (replicates) assumed without --targets")
    ap.add_argument("--family", type=int, default=3, help="pairs in the Holm family")
    ap.add_argument("--n-sim", type=int, default=200)
    args = ap.parse_args(argv)
    effects = [float(e) for e in args.effects.split(",")]
    ks = [int(k) for k in args.ks.split(",")]
    scenarios = [(None, s, 0.01, args.units) for s in (0.005, 0.01, 0.02)]
    if args.targets:
        import yaml

        cfg = configuration.validate(yaml.safe_load(open(args.config).read()))
        comp = averaged_components([pd.read_csv(f) for f in args.targets], tables.trait_targets(cfg), args.metric)
        print(comp.to_string(index=False), "\n")
        scenarios = [
            (f"{r.teacher_base}->{r.student_base}", r.interaction_sd, r.unit_sd, r.n_units)
            for r in comp.itertuples()
            if np.isfinite(r.unit_sd)
        ]
    shrink = math.sqrt(args.pretrainings)
    scenarios = [(name, isd / shrink, usd / shrink, n) for name, isd, usd, n in scenarios]
    out = []
    for name, isd, usd, n in scenarios:
        for e in effects:
            p = power(
                ks,
                args.candidates,
                effect=e,
                interaction_sd=isd,
                unit_sd=usd,
                n_units=n,
                family=args.family,
                n_sim=args.n_sim,
            )
            out.append(p.assign(pair=name or "assumed"))
    pd.set_option("display.width", 200)
    print(pd.concat(out, ignore_index=True).to_string(index=False))


if __name__ == "__main__":
    main()
