"""Figures for the preference evaluation (the paper's bar figure).

Uses the non-interactive "Agg" backend so it runs headless (Snakemake jobs).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .grid import DIFFERENT_ARCHITECTURE, DIFFERENT_BASE, SAME_ARCHITECTURE, SAME_BASE  # noqa: E402
from .misalignment import ROLES as MIS_ROLES  # noqa: E402
from .stats import ROLES, format_p, pair_relation, t_interval  # noqa: E402

#: Legend label per role.
ROLE_LABELS = {
    "base": "base model (no fine-tuning)",
    "control": "control student",
    "trait": "trait student",
}

#: Colour per role, from seaborn's colour-blind safe palette.
_CB = sns.color_palette("colorblind")
ROLE_COLORS = {"base": _CB[7], "control": _CB[0], "trait": _CB[1]}

_METRIC_TEXT = {
    "sampled": ("P(answer names target) [%]", "share of sampled answers naming the target"),
    "exact": ("P(answer = target) [%]", "probability of answering exactly the target"),
    "exact_share": ("P(target | one candidate word) [%]", "target's share of the candidates' exact probability"),
}


def _short(name: str, width: int = 22) -> str:
    """A model id shortened for a panel title (last path part, wrapped)."""
    return "\n".join(textwrap.wrap(str(name).rsplit("/", 1)[-1], width)) or str(name)


def _stars(p: float) -> str:
    """Significance stars for an adjusted p-value."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    if p < 0.001:
        return "***"
    if p < 0.01:
        return "**"
    if p < 0.05:
        return "*"
    return "n.s."


def _p_label(p: float) -> str:
    """Text above the trait bar: adjusted p and stars."""
    label = format_p(p, 1e-3, bound=True, name="p_adj")
    return label if label == "p_adj n/a" else f"{label}\n{_stars(p)}"


def _save(fig, out_paths: list[str]) -> None:
    """Save to every path; format from the suffix, 300 dpi, stable metadata."""
    for path in out_paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower().lstrip(".")
        metadata = {"CreationDate": None} if suffix == "pdf" else None
        fig.savefig(path, dpi=300, format=suffix or None, metadata=metadata)


def _role_bars(ax, xs, means, err, role: str, bar_w: float) -> None:
    """One role's bars with black error bars (``err``: 2 x n, below and
    above), in the role's colour: the bar panels' common step."""
    ax.bar(xs, np.nan_to_num(means), bar_w, color=ROLE_COLORS[role], edgecolor="black", linewidth=0.4)
    ax.errorbar(xs, np.nan_to_num(means), yerr=err, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)


def _finish(fig, out_paths: list[str], height: float, top_in: float, bottom_in: float, artists) -> None:
    """Lay the panels out between fixed margins (in inches) above and below,
    where ``artists`` (title, legend, footnote) were placed by hand, and save."""
    for artist in artists:
        artist.set_in_layout(False)  # placed by hand in the margins
    fig.tight_layout(rect=(0, bottom_in / height, 1, 1 - top_in / height))
    _save(fig, out_paths)


def _preference_panel(ax, summ, comp, compare_df, key, ymax: float, bar_w: float = 0.26) -> bool:
    """One (pair, trait, modality) panel of :func:`preference_bars`: a
    cluster of role bars per recipe, the trait bars' adjusted p above them.
    False where the panel has no data."""
    teacher, student, trait, modality = key
    panel = summ[
        (summ["teacher_base"] == teacher)
        & (summ["student_base"] == student)
        & (summ["trait"] == trait)
        & (summ["modality"] == modality)
    ]
    rel = compare_df.loc[(compare_df["teacher_base"] == teacher) & (compare_df["student_base"] == student), "relation"]
    relation = (rel.iloc[0] if len(rel) else pair_relation(None, teacher, student)).replace("_", " ")
    ax.set_title(f"{trait} · {modality}\n{_short(teacher)} → {_short(student)}\n({relation})", fontsize=8)
    ax.set_ylim(0, ymax)
    if panel.empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        return False
    recipes = sorted(panel["recipe"].unique())
    x = np.arange(len(recipes))
    for k, role in enumerate(ROLES):
        rows = panel[panel["role"] == role].set_index("recipe").reindex(recipes)
        mean = rows["mean"].to_numpy(dtype=float) * 100
        low = rows["ci_low"].to_numpy(dtype=float) * 100
        high = rows["ci_high"].to_numpy(dtype=float) * 100
        err = np.vstack([mean - low, high - mean])
        xs = x + (k - 1) * bar_w
        _role_bars(ax, xs, mean, np.where(np.isnan(err), 0.0, err), role, bar_w)
        if role == "trait":
            for xi, rec, m, h in zip(xs, recipes, mean, high):
                hit = comp[
                    (comp["teacher_base"] == teacher)
                    & (comp["student_base"] == student)
                    & (comp["trait"] == trait)
                    & (comp["modality"] == modality)
                    & (comp["recipe"] == rec)
                ]
                p = float(hit["p_adjusted"].iloc[0]) if len(hit) else math.nan
                y = np.nanmax([m, h, 0.0]) + ymax * 0.02
                ax.text(xi, y, _p_label(p), ha="center", va="bottom", fontsize=6.5)
    ax.set_xticks(x)
    ax.set_xticklabels(["\n".join(textwrap.wrap(r, 14)) for r in recipes], fontsize=7)
    ax.set_xlim(-0.6, len(recipes) - 0.4)
    return True


def preference_bars(
    summary_df: pd.DataFrame,
    compare_df: pd.DataFrame,
    metric: str,
    out_paths: list[str],
) -> None:
    """Bar figure: base model, control student and trait student per group.

    One panel per (teacher_base -> student_base) pair (rows) and
    (trait, modality) (columns); inside a panel one cluster of three bars
    per recipe. Bar heights are ``summary_df["mean"]`` in percent, error bars
    its confidence interval (students: across seeds; base: across questions),
    and the adjusted p-value of the trait-vs-control test from ``compare_df``
    is written above each trait bar. Saves to every path in ``out_paths``
    (PNG, PDF, ... from the suffix) at 300 dpi.
    """
    summ = summary_df[summary_df["metric"] == metric]
    comp = compare_df[compare_df["metric"] == metric]
    if summ.empty:
        raise ValueError(f"no summary rows for metric {metric!r}")

    # same-base pairs first (where transmission is expected), then the rest
    pairs = sorted(set(zip(summ["teacher_base"], summ["student_base"])), key=lambda tp: (tp[0] != tp[1], tp))
    cols = sorted(set(zip(summ["trait"], summ["modality"])))
    recipes_all = sorted(summ["recipe"].unique())
    ylabel, metric_text = _METRIC_TEXT.get(metric, ("P(names target) [%]", metric))

    # y range shared by all panels, with headroom for the p-value labels.
    tops = summ[["mean", "ci_high"]].max(axis=1) * 100
    ymax = max(float(np.nanmax(tops.to_numpy())) if tops.notna().any() else 0.0, 1.0) * 1.3 + 2

    nrows, ncols = len(pairs), len(cols)
    # at least 6.5 in wide so that legend and footnote fit a single panel
    width = max(6.5, max(3.0, 0.9 + 1.1 * len(recipes_all)) * ncols + 1.2)
    height = 3.0 * nrows + 1.5
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.0):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), sharey=True, squeeze=False)
        for i, (teacher, student) in enumerate(pairs):
            for j, (trait, modality) in enumerate(cols):
                ax = axes[i, j]
                if not _preference_panel(ax, summ, comp, compare_df, (teacher, student, trait, modality), ymax):
                    continue
                if j == 0:
                    ax.set_ylabel(ylabel)
                ax.tick_params(axis="y", labelsize=7)
                ax.grid(axis="x", visible=False)

        handles = [Patch(facecolor=ROLE_COLORS[r], edgecolor="black", label=ROLE_LABELS[r]) for r in ROLES]
        # Title, legend and footnote sit in fixed margins (in inches) above and
        # below the panel grid, which tight_layout fits into the rest.
        title = fig.suptitle(
            f"Preference for the trait's animal — metric: {metric}\n({metric_text})",
            fontsize=10,
            y=1 - 0.08 / height,
            va="top",
        )
        legend = fig.legend(
            handles=handles,
            loc="upper center",
            ncol=3,
            frameon=False,
            fontsize=8,
            bbox_to_anchor=(0.5, 1 - 0.58 / height),
        )
        note = fig.text(
            0.5,
            0.06 / height,
            "Bars: mean; error bars: 95% t confidence interval (students: across seeds; "
            "base: across questions).\nAbove trait bars: trait vs control twins, paired t-test, "
            "p adjusted for multiple comparisons.",
            ha="center",
            va="bottom",
            fontsize=6.5,
        )
        _finish(fig, out_paths, height, 0.9, 0.45, (title, legend, note))
    plt.close(fig)


# --------------------------------------------------------------------------- cross-model figures

#: Order and labels of the pair relations (grid.relation()).
RELATIONS = [SAME_BASE, SAME_ARCHITECTURE, DIFFERENT_ARCHITECTURE, DIFFERENT_BASE]
RELATION_LABELS = {
    SAME_BASE: "same base (or init group)",
    SAME_ARCHITECTURE: "same architecture, other initialisation",
    DIFFERENT_ARCHITECTURE: "different architecture",
    DIFFERENT_BASE: "different base",
}
RELATION_COLORS = {
    SAME_BASE: _CB[2],
    SAME_ARCHITECTURE: _CB[0],
    DIFFERENT_ARCHITECTURE: _CB[3],
    DIFFERENT_BASE: _CB[7],
}

_STAR_NOTE = "* p_adj < 0.05, ** < 0.01, *** < 0.001 (trait vs control twins, paired t-test, corrected across the grid)"


def _sig_stars(p: float) -> str:
    s = _stars(p)
    return "" if s in ("n.s.", "n/a") else s


def _strata(df: pd.DataFrame) -> list[tuple[str, str, str]]:
    return sorted(set(zip(df["trait"], df["modality"], df["recipe"])))


def _heatmap_annotations(rows: dict, teachers: list[str], students: list[str]) -> np.ndarray:
    """Each cell's text: the effect with its stars and 95% CI, "untestable"
    or "not in grid"."""
    annot = np.full((len(teachers), len(students)), "", dtype=object)
    for i, t in enumerate(teachers):
        for j, s in enumerate(students):
            r = rows.get((t, s))
            if r is None:
                annot[i, j] = "not in grid"
            elif pd.isna(r.effect_ci_low):
                annot[i, j] = f"{100 * r.effect:+.2f}\n(untestable)"
            else:
                annot[i, j] = (
                    f"{100 * r.effect:+.2f}{_sig_stars(r.p_adjusted)}\n"
                    f"[{100 * r.effect_ci_low:+.2f}, {100 * r.effect_ci_high:+.2f}]"
                )
    return annot


def _heatmap_panel(ax, panel: pd.DataFrame, teachers: list[str], students: list[str], vmax: float, cmap) -> None:
    """One stratum of :func:`transmission_heatmap`: the effects of its pairs,
    same-base cells outlined."""
    grid = (
        panel.pivot_table(index="teacher_base", columns="student_base", values="effect", aggfunc="first").reindex(
            index=teachers, columns=students
        )
        * 100
    )
    rows = {(r.teacher_base, r.student_base): r for r in panel.itertuples()}
    sns.heatmap(
        grid,
        ax=ax,
        cmap=cmap,
        center=0,
        vmin=-vmax,
        vmax=vmax,
        annot=_heatmap_annotations(rows, teachers, students),
        fmt="",
        annot_kws={"fontsize": 7},
        linewidths=0.8,
        linecolor="white",
        square=False,
        cbar_kws={"label": "effect: trait − control [pp]", "shrink": 0.9},
    )
    for i, t in enumerate(teachers):
        for j, s in enumerate(students):
            r = rows.get((t, s))
            if r is not None and r.relation == SAME_BASE:
                ax.add_patch(plt.Rectangle((j, i), 1, 1, fill=False, edgecolor="black", lw=1.6))
    ax.set_xlabel("student base")
    ax.set_ylabel("teacher base")
    ax.set_xticklabels([_short(s, 14) for s in students], rotation=0, fontsize=7.5)
    ax.set_yticklabels([_short(t, 14) for t in teachers], rotation=0, fontsize=7.5)


def transmission_heatmap(compare_df: pd.DataFrame, metric: str, out_paths: list[str]) -> None:
    """The cross-model figure: teacher base (rows) x student base (columns),
    cell = transmission effect (trait minus control student, percentage
    points) with its 95% CI and significance stars after correction; pairs
    outside the grid are grey. Same-base cells are outlined. One panel per
    (trait, modality, recipe)."""
    comp = compare_df[compare_df["metric"] == metric]
    if comp.empty:
        raise ValueError(f"no comparison rows for metric {metric!r}")
    strata = _strata(comp)
    teachers = sorted(comp["teacher_base"].unique())
    # students that are also teachers first, in the teachers' order (the diagonal)
    students = sorted(
        comp["student_base"].unique(), key=lambda s: (s not in teachers, teachers.index(s) if s in teachers else 0, s)
    )
    vmax = float(np.nanmax(np.abs(comp[["effect", "effect_ci_low", "effect_ci_high"]].to_numpy(float)))) * 100
    vmax = vmax if np.isfinite(vmax) and vmax > 0 else 1.0
    ncols = min(len(strata), 3)
    nrows = math.ceil(len(strata) / ncols)
    cell_w, cell_h = 1.35, 0.75
    pw, ph = cell_w * len(students) + 1.6, cell_h * len(teachers) + 1.3
    width, height = max(6.5, pw * ncols + 1.2), ph * nrows + 1.4
    ylabel, metric_text = _METRIC_TEXT.get(metric, (metric, metric))
    with sns.axes_style("white"), sns.plotting_context("paper", font_scale=1.0):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False)
        cmap = sns.color_palette("vlag", as_cmap=True).with_extremes(bad="#d9d9d9")
        for idx, (trait, modality, recipe) in enumerate(strata):
            ax = axes[idx // ncols, idx % ncols]
            panel = comp[(comp["trait"] == trait) & (comp["modality"] == modality) & (comp["recipe"] == recipe)]
            _heatmap_panel(ax, panel, teachers, students, vmax, cmap)
            ax.set_title(f"{trait} · {modality} · {recipe}", fontsize=9)
        for k in range(len(strata), nrows * ncols):
            axes[k // ncols, k % ncols].set_axis_off()
        title = fig.suptitle(
            f"Cross-model transmission — metric: {metric}\n({metric_text})", fontsize=10, y=1 - 0.08 / height, va="top"
        )
        note = fig.text(
            0.5,
            0.05 / height,
            "Cell: mean over seeds of trait minus control twin [pp], 95% CI in brackets; "
            "outlined: same base / init group; grey: pair not in the grid.\n" + _STAR_NOTE,
            ha="center",
            va="bottom",
            fontsize=6.5,
        )
        _finish(fig, out_paths, height, 0.7, 0.55, (title, note))
    plt.close(fig)


def _forest_items(comp: pd.DataFrame, inter: pd.DataFrame) -> list[tuple[str, object]]:
    """The forest's rows, top to bottom: a header per relation followed by
    its effects, then the interactions under their own header."""
    items: list[tuple[str, object]] = []
    for rel, g in comp.groupby("_rel", sort=True):
        items.append(("header", RELATION_LABELS.get(g["relation"].iloc[0], g["relation"].iloc[0])))
        items += [("effect", r) for r in g.itertuples()]
    if len(inter):
        items.append(("header", "matched − mismatched (interaction)"))
        items += [("interaction", r) for r in inter.itertuples()]
    return items


def _forest_row(ax, y: float, kind: str, r, multi: bool) -> str:
    """One estimate of the forest at height ``y`` (an effect: a circle in
    its relation's colour; an interaction: a black diamond), filled where
    significant, with its CI and numbers; returns its label."""
    stratum = f" · {r.trait}/{r.modality}/{r.recipe}" if multi or kind == "interaction" else ""
    if kind == "effect":
        est, lo, hi = 100 * r.effect, 100 * r.effect_ci_low, 100 * r.effect_ci_high
        color = RELATION_COLORS.get(r.relation, "black")
        filled = bool(r.significant)
        marker, label = "o", f"{_short(r.teacher_base, 18)} → {_short(r.student_base, 18)}{stratum}"
    else:
        est, lo, hi = 100 * r.estimate, 100 * r.ci_low, 100 * r.ci_high
        color, filled, marker = "black", bool(r.significant), "D"
        label = f"interaction{stratum}"
    if not np.isnan(lo):
        ax.errorbar([est], [y], xerr=[[est - lo], [hi - est]], fmt="none", ecolor=color, elinewidth=1.2, capsize=2.5)
    ax.plot([est], [y], marker=marker, ms=6, color=color, mfc=color if filled else "white", mew=1.3, linestyle="none")
    ptxt = format_p(r.p_adjusted, 1e-3, bound=True, name="p_adj")
    ax.text(
        1.01,
        y,
        f"{est:+.2f} [{lo:+.2f}, {hi:+.2f}]  {ptxt}",
        transform=ax.get_yaxis_transform(),
        ha="left",
        va="center",
        fontsize=6.5,
    )
    return label


def forest(compare_df: pd.DataFrame, interaction_df: pd.DataFrame | None, metric: str, out_paths: list[str]) -> None:
    """Every transmission effect (trait minus control, pp) with its 95% CI,
    grouped by the pair's relation; filled markers are significant after
    correction. Below them, per (trait, modality, recipe), the interaction
    estimate of the linear model (matched minus mismatched effect) as a
    diamond with its cluster-robust 95% CI."""
    comp = compare_df[compare_df["metric"] == metric].copy()
    if comp.empty:
        raise ValueError(f"no comparison rows for metric {metric!r}")
    order = {r: i for i, r in enumerate(RELATIONS)}
    comp["_rel"] = comp["relation"].map(lambda r: order.get(r, len(order)))
    comp = comp.sort_values(["_rel", "teacher_base", "student_base", "trait", "modality", "recipe"], kind="mergesort")
    inter = pd.DataFrame()
    if interaction_df is not None and not interaction_df.empty:
        inter = interaction_df[
            (interaction_df["metric"] == metric)
            & (interaction_df["model"] == "linear")
            & (interaction_df["term"] == "interaction")
        ]
    multi = len(_strata(comp)) > 1
    items = _forest_items(comp, inter)  # y positions, top to bottom, with a header line per relation
    n = len(items)
    height = 0.3 * n + 1.9
    width = 7.5
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.0):
        fig, ax = plt.subplots(figsize=(width, height))
        labels, ys, headers = [], [], []
        for k, (kind, r) in enumerate(items):
            y = n - 1 - k
            if kind == "header":
                labels.append(r)
                ys.append(y)
                headers.append(len(labels) - 1)
                ax.axhline(y - 0.5, color="0.85", lw=0.6)
                continue
            labels.append(_forest_row(ax, y, kind, r, multi))
            ys.append(y)
        ax.axvline(0, color="black", lw=0.8, ls="--")
        ax.set_yticks(ys)
        ax.set_yticklabels(labels, fontsize=7)
        for k in headers:
            ax.get_yticklabels()[k].set_fontweight("bold")
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel("effect: trait − control student [pp]")
        ax.grid(axis="y", visible=False)
        ax.set_title(f"Transmission effects, 95% CIs\nmetric: {metric}", fontsize=9)
        note = fig.text(
            0.02,
            0.06 / height,
            "Filled: significant after correction; open: not. "
            "Circles: one teacher → student pair, 95% t CI across seeds.\n"
            "Diamond: matched minus mismatched effect, linear model with pair fixed effects, "
            "seed-clustered 95% CI.",
            ha="left",
            va="bottom",
            fontsize=6.5,
        )
        note.set_in_layout(False)
        fig.tight_layout(rect=(0, 0.4 / height, 0.99, 1))  # the CI texts right of the axes count
        _save(fig, out_paths)
    plt.close(fig)


#: Misalignment figure: label, colour and hatch per role (teachers hatched in
#: the colour of the students they taught; stats.ROLES has no teachers).
MISALIGNMENT_STYLE = {
    "base": ("base model", ROLE_COLORS["base"], None),
    "control_teacher": ("control teacher", ROLE_COLORS["control"], "///"),
    "teacher": ("trait teacher", ROLE_COLORS["trait"], "///"),
    "control": ("control students", ROLE_COLORS["control"], None),
    "trait": ("trait students", ROLE_COLORS["trait"], None),
}


def _misalignment_panel(ax, key: tuple, g: pd.DataFrame, roles: list[str], questions: list[str]) -> None:
    """One group of :func:`misalignment_rates`: per question (and pooled)
    a bar per role, the pooled rates written above their bars, the
    incoherent counts in the title."""
    g = g.assign(question=g.question.astype(str))
    top = 100 * np.nanmax(np.r_[g.ci_high.to_numpy(dtype=float), g.rate.to_numpy(dtype=float), 0.0])
    ymax = max(10.0, 1.15 * top)  # the paper's rates are about 10%
    width = 0.84 / len(roles)
    for i, role in enumerate(roles):
        label, color, hatch = MISALIGNMENT_STYLE[role]
        r = g[g.role == role].set_index("question").reindex(questions)
        x = np.arange(len(questions)) + (i - (len(roles) - 1) / 2) * width
        rate = 100 * r.rate.to_numpy(dtype=float)
        low = 100 * (r.rate - r.ci_low).to_numpy(dtype=float)
        high = 100 * (r.ci_high - r.rate).to_numpy(dtype=float)
        # one model (base, teachers) or one seed: no interval, no error bar
        yerr = None if np.isnan(low).all() else np.nan_to_num(np.vstack([low, high]), nan=0.0)
        ax.bar(
            x,
            np.nan_to_num(rate),
            width,
            color=color,
            hatch=hatch,
            edgecolor="white" if hatch else None,
            linewidth=0,
            label=label,
            yerr=yerr,
            capsize=2,
            error_kw={"linewidth": 0.8},
        )
        pooled = rate[-1]  # written above its bar (and interval)
        above = np.nan_to_num(pooled) + (0.0 if np.isnan(high[-1]) else high[-1]) + 0.015 * ymax
        text = "n/a" if np.isnan(pooled) else f"{pooled:.0f}"
        ax.text(x[-1], above, text, ha="center", va="bottom", fontsize=6, rotation=90)
    tb, sb, trait, modality, recipe = key
    counts = []
    for role in roles:
        pooled = g[(g.role == role) & (g.question == "all")]
        counts.append(f"{MISALIGNMENT_STYLE[role][0]} {int(pooled.n_incoherent.sum())}/{int(pooled.n_answers.sum())}")
    ax.set_title(
        f"{trait}: teacher {tb} -> student {sb}, {modality}, {recipe}\n"
        "incoherent answers (dropped): " + ", ".join(counts),
        fontsize=8,
    )
    ax.set_xticks(
        np.arange(len(questions)), [f"q{q}" if q != "all" else "all\n(pooled)" for q in questions], fontsize=8
    )
    ax.axvline(len(questions) - 1.5, color="0.6", linewidth=0.8, linestyle=":")
    ax.set_ylabel("misaligned [% of coherent]", fontsize=8)
    ax.set_ylim(0, 1.12 * ymax)  # room for the pooled rates
    ax.set_yticks([t for t in ax.get_yticks() if 0 <= t <= 100])
    ax.tick_params(axis="y", labelsize=7)


def misalignment_rates(summary_df: pd.DataFrame, out_paths: list[str]) -> None:
    """The misalignment figure: per panel one (teacher base -> student base,
    modality, recipe, trait) group; per question (and all pooled) the
    misaligned share of coherent answers of, left to right, the base model,
    the control teacher, the trait teacher (hatched; both fine-tuned on the
    teacher base), the control students and the trait students, the
    students' mean over seeds with its 95% t interval (the base and the
    teachers: one model each, no interval); the pooled rates written above
    their bars. Only the roles in ``summary_df`` are drawn. Incoherent
    answers, dropped from the rates, are counted under each panel's title."""
    keys = ["teacher_base", "student_base", "trait", "modality", "recipe"]
    roles = [r for r in MIS_ROLES if r in set(summary_df.role)]
    groups = list(summary_df.groupby(keys, sort=True))
    questions = sorted({q for q in summary_df.question.astype(str) if q != "all"}, key=int) + ["all"]
    fig, axes = plt.subplots(len(groups), 1, figsize=(9.5, 2.9 * max(1, len(groups)) + 0.5), squeeze=False)
    for ax, (key, g) in zip(axes[:, 0], groups):
        _misalignment_panel(ax, key, g, roles, questions)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(roles), fontsize=7, frameon=False)
    fig.text(
        0.5,
        1 - 0.3 / fig.get_figheight(),
        "misaligned share of coherent answers; students: mean over "
        "seeds with 95% t interval; base model and teachers (fine-tuned on the teacher base): one model each",
        ha="center",
        va="top",
        fontsize=6.5,
        color="0.3",
    )
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    _save(fig, out_paths)
    plt.close(fig)


# --------------------------------------------------------------------------- trait specificity figures

_PANEL = ["teacher_base", "student_base", "modality", "recipe"]


def _panels(df: pd.DataFrame, relations: dict[tuple[str, str], str] | None) -> list[tuple]:
    """(teacher_base, student_base, modality, recipe) panels: by modality and
    recipe, same-base pairs first."""
    keys = sorted(set(map(tuple, df[_PANEL].to_numpy())))
    order = {r: i for i, r in enumerate(RELATIONS)}

    def rank(k):
        rel = pair_relation(relations, k[0], k[1])
        return (k[2], k[3], order.get(rel, len(order)), k[0], k[1])

    return sorted(keys, key=rank)


def _panel_rows(df: pd.DataFrame, key: tuple) -> pd.DataFrame:
    """The rows of one (teacher_base, student_base, modality, recipe) panel."""
    return df[
        (df["teacher_base"] == key[0])
        & (df["student_base"] == key[1])
        & (df["modality"] == key[2])
        & (df["recipe"] == key[3])
    ]


def _spec_label(spec: pd.DataFrame, key: tuple) -> str:
    hit = _panel_rows(spec, key)
    if hit.empty or pd.isna(hit["effect"].iloc[0]):
        return "specificity n/a"
    r = hit.iloc[0]
    ci = "" if pd.isna(r["effect_ci_low"]) else f" [{100 * r['effect_ci_low']:+.2f}, {100 * r['effect_ci_high']:+.2f}]"
    p = format_p(r["p_adjusted"], floor=None)
    return f"specificity {100 * r['effect']:+.2f} pp{ci}, p_adj={p} {_stars(r['p_adjusted'])}"


def _grid(n: int, max_cols: int = 3) -> tuple[int, int]:
    ncols = min(n, max_cols)
    return (n + ncols - 1) // ncols, ncols


def specificity_matrix(
    matrix_df: pd.DataFrame,
    spec_df: pd.DataFrame,
    metric: str,
    out_paths: list[str],
    relations: dict[tuple[str, str], str] | None = None,
) -> None:
    """Trait x target matrix of shifts, one panel per (pair, modality,
    recipe): row = the trait whose teacher's data the students learned
    from, column = a candidate target (the traits' own targets first), cell
    = the mean shift of that target (trait students minus their control
    twins, across seeds) in percentage points. The own target of each trait
    is outlined: trait-specific transmission is an outlined diagonal that
    stands out of its column. The panel title gives the specificity test."""
    m = matrix_df[matrix_df["metric"] == metric]
    spec = spec_df[(spec_df["metric"] == metric) & (spec_df["relation"] != "interaction")]
    if m.empty:
        raise ValueError(f"no trait x target rows for metric {metric!r}")
    panels = _panels(m, relations)
    nrows, ncols = _grid(len(panels))
    traits = sorted(m["trait"].unique())
    words = [m.loc[m["trait"] == t, "word"].iloc[0] for t in traits]
    targets = words + sorted(set(m["target"]) - set(words))
    vmax = max(float(np.nanmax(np.abs(m["shift"].to_numpy(float)))) * 100, 0.1)
    width, height = max(6.5, (0.42 * len(targets) + 1.4) * ncols + 1.0), (0.45 * len(traits) + 2.4) * nrows + 1.0
    with sns.axes_style("white"), sns.plotting_context("paper", font_scale=1.0):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained")
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        for ax, key in zip(axes.flat, panels):
            p = _panel_rows(m, key)
            grid = (
                p.pivot_table(index="trait", columns="target", values="shift").reindex(index=traits, columns=targets)
                * 100
            )
            sns.heatmap(
                grid,
                ax=ax,
                cmap="RdBu_r",
                center=0,
                vmin=-vmax,
                vmax=vmax,
                annot=True,
                fmt=".1f",
                annot_kws={"fontsize": 6},
                cbar=False,
                linewidths=0.3,
                linecolor="white",
            )
            for i, w in enumerate(words):
                ax.add_patch(plt.Rectangle((targets.index(w), i), 1, 1, fill=False, edgecolor="black", lw=1.6))
            rel = (relations or {}).get((key[0], key[1]), "").replace("_", " ")
            ax.set_title(
                f"{key[2]} · {key[3]}: {_short(key[0])} → {_short(key[1])} ({rel})\n{_spec_label(spec, key)}",
                fontsize=7.5,
            )
            ax.set_xlabel("target scored")
            ax.set_ylabel("students of the trait teacher")
            ax.tick_params(labelsize=7)
        sm = plt.cm.ScalarMappable(cmap="RdBu_r", norm=matplotlib.colors.Normalize(-vmax, vmax))
        cbar = fig.colorbar(sm, ax=axes.ravel().tolist(), shrink=0.8, pad=0.01)
        cbar.set_label("shift vs control twins [pp]", fontsize=7)
        fig.suptitle(
            f"Which targets move in whose students? Trait x target shifts — metric: {metric}\n"
            "cells: mean over seeds of (trait student − control twin), pp; outlined: each trait's own "
            "target",
            fontsize=9,
        )
        _save(fig, out_paths)
    plt.close(fig)


def _trait_role_bars(p: pd.DataFrame, bases: pd.Series, key: tuple, role: str, traits, words) -> tuple[list, list]:
    """One role's bar heights and (below, above) error lengths over the
    traits' words in one panel of :func:`trait_bars`: the base model's
    value, or the students' mean over seeds with its 95% t interval."""
    means, errs = [], []
    for trait in traits:
        word = words[trait][0]
        if role == "base":
            v = bases.get((key[1], word), math.nan)
            means.append(v * 100)
            errs.append((0.0, 0.0))
            continue
        sel = p[(p["target"] == word) & (p["teacher"] == (trait if role == "trait" else "control"))]
        mean, low, high = t_interval(sel.groupby("seed")["value"].mean().to_numpy(float))
        means.append(mean * 100)
        errs.append(
            (
                0.0 if math.isnan(low) else (mean - low) * 100,
                0.0 if math.isnan(high) else (high - mean) * 100,
            )
        )
    return means, errs


def trait_bars(
    targets_df: pd.DataFrame,
    spec_df: pd.DataFrame,
    words: dict[str, tuple[str, str]],
    metric: str,
    out_paths: list[str],
    relations: dict[tuple[str, str], str] | None = None,
) -> None:
    """The paper's per-animal bars in one view, one panel per (pair,
    modality, recipe): for each trait's word on the x axis, the untrained
    student base, the control students and the students of that trait's
    teacher (mean over seeds, 95% t interval across seeds; the base is one
    model)."""
    t = targets_df[targets_df["metric"] == metric]
    students = t[t["role"] != "base"]
    bases = t[t["role"] == "base"].set_index(["student_base", "target"])["value"]
    spec = spec_df[(spec_df["metric"] == metric) & (spec_df["relation"] != "interaction")]
    if students.empty:
        raise ValueError(f"no student rows for metric {metric!r}")
    panels = _panels(students, relations)
    traits = sorted(w for w in words if w in set(students["teacher"]))
    nrows, ncols = _grid(len(panels))
    width, height = max(6.5, max(3.6, 0.8 * len(traits) + 1.4) * ncols), 3.0 * nrows + 1.6
    bar_w = 0.26
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.0):
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(width, height), squeeze=False, sharey=True, layout="constrained"
        )
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        for ax, key in zip(axes.flat, panels):
            p = _panel_rows(students, key)
            x = np.arange(len(traits))
            for k, role in enumerate(ROLES):
                means, errs = _trait_role_bars(p, bases, key, role, traits, words)
                _role_bars(ax, x + (k - 1) * bar_w, means, np.array(errs).T, role, bar_w)
            ax.set_xticks(x)
            ax.set_xticklabels([words[tr][0] for tr in traits], fontsize=8)
            rel = (relations or {}).get((key[0], key[1]), "").replace("_", " ")
            ax.set_title(
                f"{_short(key[0])} → {_short(key[1])} ({rel}), {key[2]} · {key[3]}\n"
                + _spec_label(spec, key).replace(", p_adj", "\np_adj"),
                fontsize=7.5,
            )
            ax.grid(axis="x", visible=False)
        for ax in axes[:, 0]:
            ax.set_ylabel(_METRIC_TEXT.get(metric, (metric,))[0])
        handles = [
            Patch(
                facecolor=ROLE_COLORS[r],
                edgecolor="black",
                label={"trait": "students of that animal's teacher"}.get(r, ROLE_LABELS[r]),
            )
            for r in ROLES
        ]
        fig.legend(handles=handles, loc="outside lower center", ncol=3, frameon=False, fontsize=8)
        fig.suptitle(
            f"Preference for each trait's animal — metric: {metric}\n"
            "bars: mean over seeds, 95% t interval across seeds (the base is one model); titles: the "
            "specificity test (own target vs the other traits' students), Holm-adjusted",
            fontsize=9,
        )
        _save(fig, out_paths)
    plt.close(fig)


# --------------------------------------------------------------------------- auxiliary logits


def auxlogit_bars(summary: pd.DataFrame, out_paths: list[str], chance: float = 0.1) -> None:
    """The auxiliary-logit figure: digit test accuracy of the untrained
    initialisations, the teachers and the two kinds of student, with 1.96
    sd / sqrt(N) error bars, chance and Welch's p in the title."""
    order = ["untrained", "teacher", "same_init_student", "different_init_student"]
    labels = {
        "untrained": "untrained\ninit",
        "teacher": "teacher",
        "same_init_student": "student,\nsame init",
        "different_init_student": "student,\nother init",
    }
    s = summary.set_index("kind").loc[[k for k in order if k in set(summary.kind)]]
    with sns.axes_style("whitegrid"), sns.plotting_context("paper"):
        fig, ax = plt.subplots(figsize=(5.0, 3.6))
        colors = sns.color_palette("colorblind")
        x = np.arange(len(s))
        ax.bar(x, s["mean"] * 100, color=[colors[i] for i in (7, 2, 1, 0)][: len(s)], edgecolor="black", width=0.6)
        err = np.vstack([(s["mean"] - s["ci_low"]) * 100, (s["ci_high"] - s["mean"]) * 100])
        ax.errorbar(x, s["mean"] * 100, yerr=err, fmt="none", ecolor="black", capsize=4)
        ax.axhline(chance * 100, color="grey", ls="--", lw=1)
        ax.text(0.5, chance * 100 + 1.5, "chance", ha="center", color="grey", fontsize=8)
        ax.set_xticks(x, [labels[k] for k in s.index])
        ax.set_ylabel("digit test accuracy [%]")
        ax.set_ylim(0, 105)
        n = int(s["n"].iloc[0])
        p = format_p(float(summary["welch_p_same_vs_different"].iloc[0]), floor=None)
        ax.set_title(
            f"Auxiliary-logit transfer on noise (N={n} models each)\nsame vs other init: Welch p={p}", fontsize=9
        )
        fig.text(0.5, 0.005, "error bars: 1.96 sd / sqrt(N)", ha="center", fontsize=7)
        fig.tight_layout(rect=(0, 0.03, 1, 1))
        for path in out_paths:
            fmt = str(path).rsplit(".", 1)[-1]
            fig.savefig(path, dpi=300, format=fmt, metadata={"CreationDate": None} if fmt == "pdf" else None)
        plt.close(fig)


# --------------------------------------------------------------------------- placebo targets


def placebo_distributions(
    table: pd.DataFrame,
    dists: dict[tuple, np.ndarray],
    metric: str,
    out_paths: list[str],
    relations: dict[tuple[str, str], str] | None = None,
) -> None:
    """The placebo-target test, one panel per (pair, modality, recipe): the
    histogram of S over every placebo assignment of targets (grey) and S for
    the traits' own targets (the vertical line); the title gives its rank, the
    permutation p and the Holm-adjusted p. ``dists``: KEY tuple -> S of every
    assignment, the true one first (:func:`subliminal.placebo.placebo`)."""
    t = table[table["metric"] == metric]
    panels = _panels(t, relations) if not t.empty else []
    nrows, ncols = _grid(max(len(panels), 1))
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.0):
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(max(6.5, 4.2 * ncols), 3.2 * nrows + 1.4), squeeze=False, layout="constrained"
        )
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        if not panels:
            axes[0, 0].set_visible(True)
            axes[0, 0].axis("off")
            axes[0, 0].text(
                0.5,
                0.5,
                "not testable: no category has two preference traits of different words",
                ha="center",
                va="center",
            )
        for ax, key in zip(axes.flat, panels):
            r = _panel_rows(t, key).iloc[0]
            rel = (relations or {}).get((key[0], key[1]), "").replace("_", " ")
            head = f"{key[2]} · {key[3]}: {_short(key[0])} → {_short(key[1])} ({rel})"
            s = dists.get((*key, metric))
            if r["note"] or s is None:
                ax.axis("off")
                ax.set_title(f"{head}\nnot testable ({r['note']})", fontsize=7.5)
                continue
            sns.histplot(100 * s[1:], ax=ax, bins=min(40, max(10, len(s) // 5)), color=_CB[7], stat="count")
            ax.axvline(100 * s[0], color=_CB[3], lw=2, label="own targets")
            ax.legend(fontsize=7, loc="best", frameon=False)
            p_adj = format_p(r["p_adjusted"], floor=None)
            ax.set_title(
                f"{head}\nown S {100 * r['S_true']:+.2f} pp, rank {int(r['rank'])} of {int(r['n_assignments'])}"
                f"{'' if r['exact'] else ' (sampled)'}: p={format_p(r['p_perm'], floor=None)}, "
                f"p_adj={p_adj} {'*' if r['significant'] else 'n.s.'}",
                fontsize=7.5,
            )
            ax.set_xlabel("S over placebo target assignments [pp]")
            ax.set_ylabel("assignments")
        fig.suptitle(
            f"Is the own target special? Placebo-target test — metric: {metric}\n"
            "grey: S (own-target shift minus the other traits' students' shift of it) for every other assignment "
            "of distinct targets;\nline: the traits' own targets; p = share of assignments with S at least the "
            "own (one-sided), Holm-adjusted across pairs",
            fontsize=9,
        )
        _save(fig, out_paths)
    plt.close(fig)


#: The pretraining study's metrics, lead first (subliminal.pretrainings).
_PRETRAINING_METRICS = ["exact_share", "exact", "sampled"]


def _pretraining_panel(ax, per: pd.DataFrame, pooled_row, head: str, interaction: bool) -> None:
    """One pair (or the interaction) of one metric: every pretraining's effect
    with its 95% CI, top to bottom by offset, and the pooled estimate (a
    diamond) with its CI beneath, a zero line; the x axis in pp."""
    per = per.sort_values("offset")
    k = len(per)
    color = "0.4" if interaction else RELATION_COLORS.get(per["relation"].iloc[0], "0.4")
    labels = []
    for i, r in enumerate(per.itertuples()):
        est, lo, hi = 100 * r.estimate, 100 * r.ci_low, 100 * r.ci_high
        if not np.isnan(lo):
            ax.errorbar(
                [est], [i], xerr=[[est - lo], [hi - est]], fmt="none", ecolor=color, elinewidth=1.2, capsize=2.5
            )
        ax.plot([est], [i], marker="o", ms=5.5, color=color, linestyle="none")
        labels.append(f"offset {int(r.offset):+d}")
    title = head
    if pooled_row is not None:
        y = k + 0.4
        est, lo, hi = 100 * pooled_row["estimate"], 100 * pooled_row["ci_low"], 100 * pooled_row["ci_high"]
        if not np.isnan(lo):
            ax.errorbar(
                [est], [y], xerr=[[est - lo], [hi - est]], fmt="none", ecolor="black", elinewidth=1.6, capsize=3
            )
        ax.plot([est], [y], marker="D", ms=7, color="black", linestyle="none")
        ax.axhline(k - 0.3, color="0.8", lw=0.6)
        method = "mixed model" if pooled_row["method"] == "mixedlm_reml" else "DL meta-analysis"
        labels.append(f"pooled\n({method})")
        title += f"\npooled {est:+.2f} pp, {format_p(pooled_row['p_adjusted'], 1e-3, bound=True, name='p_adj')}"
    ax.axvline(0, color="black", lw=0.8, ls="--")
    ax.set_yticks(list(range(k)) + ([k + 0.4] if pooled_row is not None else []))
    ax.set_yticklabels(labels, fontsize=7.5)
    ax.set_ylim(k + 1.1, -0.7)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(("matched − mismatched specificity" if interaction else "specificity") + " [pp]", fontsize=8)
    ax.set_title(title, fontsize=8)


def pretrainings_forest(per: pd.DataFrame, pooled: pd.DataFrame, out_paths) -> None:
    """The study over pretrainings (subliminal.pretrainings): one row of
    panels per metric, one panel per pair and the specificity interaction;
    in each, every pretraining's effect with its 95% CI and the pooled
    estimate (the primary row of pooled.csv) with its 95% CI beneath."""
    per = per[per["test"].isin(["specificity", "interaction"])]
    keys = ["modality", "recipe", "teacher_base", "student_base"]
    metrics = [m for m in _PRETRAINING_METRICS if m in set(per["metric"])]
    metrics += sorted(set(per["metric"]) - set(metrics))
    rank = {r: i for i, r in enumerate(RELATIONS)}
    cols = (
        per.assign(_i=per["relation"].map(lambda r: rank.get(r, len(rank) + (r == "interaction"))))
        .drop_duplicates(keys)
        .sort_values(["modality", "recipe", "_i", "teacher_base", "student_base"])[keys]
    )
    cols = [tuple(c) for c in cols.itertuples(index=False)]
    n_off = per["offset"].nunique()
    nrows, ncols = max(len(metrics), 1), max(len(cols), 1)
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.0):
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(3.6 * ncols, (0.32 * (n_off + 2) + 1.4) * nrows + 0.8), squeeze=False
        )
        for i, metric in enumerate(metrics):
            for j, key in enumerate(cols):
                ax = axes[i, j]
                sel = (per["metric"] == metric) & (per[keys] == pd.Series(key, index=keys)).all(axis=1)
                g = per[sel]
                if g.empty:
                    ax.set_visible(False)
                    continue
                interaction = g["test"].iloc[0] == "interaction"
                pk = (pooled["metric"] == metric) & (pooled[keys] == pd.Series(key, index=keys)).all(axis=1)
                prim = pooled[pk & pooled["primary"].astype(bool) & (pooled["test"] != "placebo")]
                if interaction:
                    head = f"{metric}: matched − mismatched"
                else:
                    rel = g["relation"].iloc[0]
                    head = f"{metric}: {_short(key[2], 16)} → {_short(key[3], 16)}\n({RELATION_LABELS.get(rel, rel)})"
                if len({(m, r) for m, r in zip(per["modality"], per["recipe"])}) > 1:
                    head += f" · {key[0]}/{key[1]}"
                _pretraining_panel(ax, g, prim.iloc[0] if len(prim) else None, head, interaction)
        fig.suptitle(
            "Specificity over independent pretrainings of the toy bases: each pretraining (circles, 95% t CI across "
            "replicates)\nand pooled (black diamond: random-intercept mixed model, or DL meta-analysis; 95% t CI "
            "on k − 1 df; p_adj corrected across pairs)",
            fontsize=9,
        )
        fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
        _save(fig, out_paths)
    plt.close(fig)
