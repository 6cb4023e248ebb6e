"""The analysis stages: the evaluations gathered into tidy tables
(:mod:`subliminal.tables`), the statistics, the figures and the report's
table pages, and the auxiliary-logit branch. Files in, files out, like
:mod:`subliminal.stages`."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from . import chat, grid, interaction, placebo, provenance, specificity, stats, tables
from .io import read_json, read_table
from .report import write_table_page
from .settings import Evaluation

log = logging.getLogger(__name__)


def _csv(df, path, digits: int = 6) -> None:
    df.to_csv(path, index=False, float_format=f"%.{digits}g")


def collect_scores(cfg: dict, evaluations: list[str], out_csv: str):
    scores = tables.preference_scores(cfg, evaluations)
    _csv(scores, out_csv, 8)
    return scores


def collect_targets(cfg: dict, evaluations: list[str], out_csv: str):
    out = tables.targets(cfg, evaluations)
    _csv(out, out_csv, 8)
    return out


def collect_teachers(cfg: dict, preference: list[str], misaligned: list[str], out_csv: str):
    out = tables.teachers(cfg, preference, misaligned)
    _csv(out, out_csv)
    return out


def collect_misalignment(cfg: dict, evaluations: list[str], scores_csv: str, summary_csv: str):
    scores = tables.misalignment_scores(cfg, evaluations)
    _csv(scores, scores_csv, 8)
    _csv(stats.misalignment_summary(scores), summary_csv)
    return scores


def collect_provenance(records: list[str], expected: dict[str, dict], out_json: str, root: str) -> dict:
    """How the members were made (:func:`subliminal.provenance.members`),
    written as members.json with each member named by its path below
    ``root`` (the results folder: a run in another folder writes the same
    file); its banner is logged when they differ."""
    name = lambda p: os.path.relpath(p, root)  # noqa: E731
    summary = provenance.members(
        {name(p): read_json(p) for p in records}, {name(p): want for p, want in expected.items()}
    )
    provenance.write_json(summary, out_json)
    if summary["banner"]:
        log.warning("%s", summary["banner"])
    return summary


def analyse(cfg: dict, scores_csv: str, targets_csv: str, out: dict, members_json: str | None = None) -> None:
    """The trait-specificity test and its interaction (specificity), the
    placebo-target test of the same statistic (placebo), the per-group
    paired tests (stats) and the matched-vs-mismatched interaction models
    (interaction), as tidy CSVs, the trait x target matrix of shifts, and
    one text to read first, which leads with specificity and its placebo
    test. ``out``: the paths of summary, compare, interaction, specificity,
    placebo, matrix and text."""
    a = cfg["analysis"]
    options = dict(
        alpha=a["alpha"], power=a["power"], correction=None if a["correction"] == "none" else a["correction"]
    )
    relations = grid.relations(cfg)
    scores = tables.read_scores(cfg, scores_csv)
    targets = tables.read_targets(cfg, targets_csv)
    targets = targets[targets["role"] != "base"]
    words = tables.trait_targets(cfg)
    spec = specificity.specificity(targets, words, relations=relations, **options)
    plac = placebo.placebo(targets, words, relations=relations, alpha=a["alpha"], correction=options["correction"])
    comp = stats.compare(scores, relations=relations, **options)
    n_samples = Evaluation.of(cfg).samples_per_question
    inter = interaction.interaction(scores, relations=relations, n_samples=n_samples, **options)
    _csv(stats.summarize(scores), out["summary"])
    _csv(comp, out["compare"])
    _csv(inter, out["interaction"])
    _csv(spec, out["specificity"])
    _csv(plac, out["placebo"])
    _csv(specificity.trait_target_matrix(targets, words), out["matrix"])
    text = (
        specificity.summary_text(spec)
        + "\n"
        + pretraining_text(cfg)
        + placebo.summary_text(plac)
        + "\n"
        + stats.summary_text(comp)
        + "\n"
        + interaction.summary_text(inter)
    )
    if members_json:  # members made by other code or config: said first
        text = read_json(members_json, required=("banner",))["banner"] + text
    Path(out["text"]).write_text(text)
    log.info("\n%s", text)


def pretraining_text(cfg: dict) -> str:
    """Which pretraining of the toy bases this run is, and where the claim
    is: toys pretrain to other weights with other seeds and on other CPUs,
    and the toy finding moves with them. Empty without toy bases."""
    toys = {name: spec["toy"]["seed"] for name, spec in cfg["models"].items() if "toy" in spec}
    if not toys:
        return ""
    seeds = ", ".join(f"{name} seed {seed}" for name, seed in sorted(toys.items()))
    return (
        f"Pretraining: one pretraining of the toy bases ({seeds}; the machine that pretrained each:\n"
        "bases/<name>/model/toy_build.json). Toys pretrain to other weights with other seeds and on other CPUs,\n"
        "and their effects move with them: the claim is the study over pretrainings (python -m\n"
        "subliminal.pretrainings; its pre-registration and table: docs/findings.md).\n\n"
    )


def specificity_figures(
    cfg: dict, matrix_csv: str, targets_csv: str, specificity_csv: str, metric: str, matrix_paths, bar_paths
) -> None:
    from . import plots

    spec = read_table(specificity_csv, allow_empty=True)  # no rows: no category with two traits
    relations = grid.relations(cfg)
    plots.specificity_matrix(read_table(matrix_csv), spec, metric, matrix_paths, relations)
    targets = tables.read_targets(cfg, targets_csv)
    plots.trait_bars(targets, spec, tables.trait_targets(cfg), metric, bar_paths, relations)


def placebo_figure(cfg: dict, targets_csv: str, placebo_csv: str, metric: str, out_paths) -> None:
    """The own targets' S beside its placebo distribution, per pair: the
    distribution is recomputed from targets.csv as placebo.csv was."""
    from . import plots

    a = cfg["analysis"]
    targets = tables.read_targets(cfg, targets_csv)
    targets = targets[targets["role"] != "base"]
    relations = grid.relations(cfg)
    correction = None if a["correction"] == "none" else a["correction"]
    table, dists = placebo.placebo(
        targets,
        tables.trait_targets(cfg),
        relations=relations,
        alpha=a["alpha"],
        correction=correction,
        with_distribution=True,
    )
    written = read_table(placebo_csv, allow_empty=True)
    if len(written) != len(table):
        raise ValueError(f"{placebo_csv}: {len(written)} rows, but targets.csv gives {len(table)}: rerun statistics")
    plots.placebo_distributions(table, dists, metric, out_paths, relations)


def figures(summary_csv: str, compare_csv: str, metric: str, out_paths: list[str]) -> None:
    from . import plots

    plots.preference_bars(read_table(summary_csv), read_table(compare_csv), metric, out_paths)


def cross_model_figures(compare_csv: str, interaction_csv: str, metric: str, heatmap_paths, forest_paths) -> None:
    from . import plots

    comp = read_table(compare_csv)
    plots.transmission_heatmap(comp, metric, heatmap_paths)
    plots.forest(comp, read_table(interaction_csv, allow_empty=True), metric, forest_paths)


def misalignment_figure(summary_csv: str, out_paths: list[str]) -> None:
    from . import plots

    plots.misalignment_rates(read_table(summary_csv), out_paths)


def auxlogit(cfg: dict, accuracy_csv: str, summary_csv: str, threads: int = 1) -> None:
    from . import auxlogit as aux

    chat.set_threads(threads)
    acc = aux.run(cfg["auxlogit"])
    summary = aux.summarize(acc)
    _csv(acc, accuracy_csv)
    _csv(summary, summary_csv)
    log.info("\n%s\nWelch t=%.3f p=%.3g", summary.to_string(), summary.attrs["welch_t"], summary.attrs["welch_p"])


def auxlogit_figure(summary_csv: str, out_paths: list[str]) -> None:
    from . import plots

    plots.auxlogit_bars(read_table(summary_csv), out_paths)


def report_table(src: str, out_html: str, title: str) -> None:
    """A result table (or summary.txt) as an HTML page for the report."""
    write_table_page(src, out_html, title)
