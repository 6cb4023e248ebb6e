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

from .stats import ROLES  # noqa: E402

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
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p_adj n/a"
    ptxt = f"={p:.2g}" if p >= 1e-3 else "<0.001"
    return f"p_adj{ptxt}\n{_stars(p)}"


def _save(fig, out_paths: list[str]) -> None:
    """Save to every path; format from the suffix, 300 dpi, stable metadata."""
    for path in out_paths:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = path.suffix.lower().lstrip(".")
        metadata = {"CreationDate": None} if suffix == "pdf" else None
        fig.savefig(path, dpi=300, format=suffix or None, metadata=metadata)


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
    pairs = sorted(set(zip(summ["teacher_base"], summ["student_base"])),
                   key=lambda tp: (tp[0] != tp[1], tp))
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
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(width, height), sharey=True, squeeze=False
        )
        bar_w = 0.26
        for i, (teacher, student) in enumerate(pairs):
            for j, (trait, modality) in enumerate(cols):
                ax = axes[i, j]
                panel = summ[
                    (summ["teacher_base"] == teacher)
                    & (summ["student_base"] == student)
                    & (summ["trait"] == trait)
                    & (summ["modality"] == modality)
                ]
                rel = compare_df.loc[(compare_df["teacher_base"] == teacher)
                                     & (compare_df["student_base"] == student), "relation"]
                relation = (rel.iloc[0] if len(rel) else
                            ("same_base" if teacher == student else "different_base")).replace("_", " ")
                ax.set_title(
                    f"{trait} · {modality}\n{_short(teacher)} → {_short(student)}\n({relation})",
                    fontsize=8,
                )
                ax.set_ylim(0, ymax)
                if panel.empty:
                    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
                    ax.set_xticks([])
                    continue
                recipes = sorted(panel["recipe"].unique())
                x = np.arange(len(recipes))
                for k, role in enumerate(ROLES):
                    rows = panel[panel["role"] == role].set_index("recipe").reindex(recipes)
                    mean = rows["mean"].to_numpy(dtype=float) * 100
                    low = rows["ci_low"].to_numpy(dtype=float) * 100
                    high = rows["ci_high"].to_numpy(dtype=float) * 100
                    err = np.vstack([mean - low, high - mean])
                    err = np.where(np.isnan(err), 0.0, err)
                    xs = x + (k - 1) * bar_w
                    ax.bar(xs, np.nan_to_num(mean), bar_w, color=ROLE_COLORS[role],
                           edgecolor="black", linewidth=0.4)
                    ax.errorbar(xs, np.nan_to_num(mean), yerr=err, fmt="none",
                                ecolor="black", elinewidth=0.8, capsize=2)
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
                if j == 0:
                    ax.set_ylabel(ylabel)
                ax.tick_params(axis="y", labelsize=7)
                ax.grid(axis="x", visible=False)

        handles = [Patch(facecolor=ROLE_COLORS[r], edgecolor="black", label=ROLE_LABELS[r]) for r in ROLES]
        # Title, legend and footnote sit in fixed margins (in inches) above and
        # below the panel grid, which tight_layout fits into the rest.
        top_in, bottom_in = 0.9, 0.45
        title = fig.suptitle(f"Preference for the trait's animal — metric: {metric}\n({metric_text})",
                     fontsize=10, y=1 - 0.08 / height, va="top")
        legend = fig.legend(handles=handles, loc="upper center", ncol=3, frameon=False, fontsize=8,
                   bbox_to_anchor=(0.5, 1 - 0.58 / height))
        note = fig.text(
            0.5, 0.06 / height,
            "Bars: mean; error bars: 95% t confidence interval (students: across seeds; "
            "base: across questions).\nAbove trait bars: trait vs control twins, paired t-test, "
            "p adjusted for multiple comparisons.",
            ha="center", va="bottom", fontsize=6.5,
        )
        for artist in (title, legend, note):
            artist.set_in_layout(False)  # placed by hand in the margins
        fig.tight_layout(rect=(0, bottom_in / height, 1, 1 - top_in / height))
        _save(fig, out_paths)
    plt.close(fig)
