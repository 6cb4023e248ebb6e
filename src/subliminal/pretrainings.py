"""Pretrainings as a replicated factor (issue 21): does a finding hold over
independent pretrainings of the toy bases?

A toy base pretrains to other weights on another CPU or with another seed,
and the default's same-base specificity changed from significant to not
with every toy seed shifted by +100 (docs/findings.md). A finding must
therefore hold across pretrainings, and this module makes the pretraining a
replicated factor: the same study run k times, each time with every toy
base's ``toy.seed`` shifted by an offset (0, +100, +200, +300), each run a
complete results folder of its own, then the runs pooled.

``python -m subliminal.pretrainings``:

- ``config --offset K --results DIR``: the stand-alone config of one
  pretraining (every toy seed + K, ``results: DIR``, nothing else changed)
  on stdout;
- ``run --offsets 0 100 200 300 --out DIR``: for each offset writes
  ``DIR/offset<K>/config.yaml`` and runs Snakemake on it into
  ``DIR/offset<K>/``, one offset after the other (a complete offset is only
  re-checked), then ``analyse``;
- ``analyse --out DIR``: reads every ``DIR/offset<K>/`` run and writes
  ``DIR/pretrainings.csv`` (each pretraining's own tests),
  ``DIR/pooled.csv`` (the pooled tests), ``DIR/pretrainings.png``/``.pdf``
  (a forest plot per pair and metric) and ``DIR/pretrainings.md``;
  ``--offsets`` some of them only, ``--into`` another folder for these.

**The pooled tests.** The unit of each run's specificity test is its
teacher-data replicate (:mod:`subliminal.specificity`); its per-unit values
S[u] are recomputed from the run's targets.csv with specificity.py's own
functions (specificity.csv holds only their mean, which they are checked
against). Pooled over pretraining p and unit u, per pair and metric,

    S[p, u] = mu + b[p] + e[p, u],   b[p] ~ N(0, tau^2),  e ~ N(0, sigma^2),

a linear mixed model with a random intercept per pretraining (statsmodels
MixedLM, REML): mu is the pooled specificity, tau the between-pretraining
SD. mu is tested against 0 with t on k - 1 df (k pretrainings): the
intercept varies at the pretraining level, so that is its between-within
df. MixedLM's own z ignores that tau^2 rests on k values: on simulated null
layouts of 4 pretrainings x 4 units it rejected 8-16% at 0.05, t on 3 df
1-6%. (With a balanced layout and tau^2 > 0 the t test is exactly the
t-test of the k pretraining means.) The pooled interaction is the same
model on D[p, u] = mean S of the matched pairs minus mean S of the
mismatched pairs, unit by unit.

Beside every mixed model, a random-effects meta-analysis of the k
per-pretraining means (variances s^2 / n; statsmodels' ``combine_effects``,
DerSimonian-Laird), tested with t on k - 1 df too: with 4 pretrainings
its usual normal reference rejected 11-20% of simulated null layouts at
0.05. It is the row the corrections use (``primary``) when MixedLM fails
or puts tau^2 on the boundary (0). statsmodels' DL does not truncate a
negative tau^2 at 0 (it would weight the pretraining estimates by more
than their inverse variances); here tau^2 is truncated, as DerSimonian and
Laird define it, by taking its fixed-effect result, which is the DL result
at tau^2 = 0.

**The pooled placebo test** (the pre-registered primary test of
docs/findings.md; :func:`subliminal.placebo.pooled`): S(a) of every
assignment a of distinct targets to the traits, averaged over the
pretrainings with the same a, and the true assignment's rank among them.

**Families.** The primary rows of the pooled specificity of the pairs:
corrected (the config's ``analysis.correction``) across the pairs of one
metric. The pooled interaction: its own family per metric (one row in a
study of one modality and recipe). The pooled placebo tests: across the
pairs of one metric. ``p_preregistered``: the pre-registration's family of
two per metric, the matched pair's pooled placebo test and the pooled
interaction.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy import stats as sps
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.stats.meta_analysis import combine_effects

from . import config as configuration, grid, placebo, specificity, tables
from .interaction import MATCHED, _mde_multiplier
from .io import read_json, read_table
from .layout import STUDY_OUTPUTS as OUTPUTS, Layout
from .stats import SD_ZERO, _adjust, format_p, format_pp, pair_relation

#: The repository: the workflow run by ``run`` (its Snakefile and config.yaml).
REPO = Path(__file__).resolve().parents[2]
#: One pretraining's folder below the study's folder, its config, and the
#: record of every ``run`` that ran it (machine, versions, times).
RUN_FOLDER = "offset{offset}"
RUN_CONFIG = "config.yaml"
RUN_RECORD = "runs.json"
#: A toy's build record in its model folder (toy.build_toy_base).
TOY_BUILD = "toy_build.json"
#: The lead metric of the pre-registration.
LEAD_METRIC = "exact_share"
#: The pre-registered study's offsets.
PREREGISTERED_OFFSETS = (0, 100, 200, 300)
#: tau^2 at or below this share of tau^2 + sigma^2 counts as on the boundary;
#: below NEAR_BOUNDARY too when the optimiser did not converge (it stops
#: short of the constraint tau^2 >= 0).
BOUNDARY, NEAR_BOUNDARY = 1e-6, 0.01
MIXED, META, PERMUTATION = "mixedlm_reml", "meta_dl", "permutation"
TESTS = ("specificity", "interaction", "placebo")

PER_COLUMNS = [
    "offset",
    "test",
    *specificity.KEY,
    "relation",
    "trait",
    "model",
    "scale",
    "estimate",
    "ci_low",
    "ci_high",
    "p",
    "p_adjusted",
    "mde",
    "n_units",
    "unit",
    "placebo_rank",
    "placebo_n_assignments",
    "placebo_p",
    "placebo_p_adjusted",
    "note",
]
POOLED_COLUMNS = [
    "test",
    *specificity.KEY,
    "relation",
    "method",
    "primary",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "df",
    "p",
    "p_adjusted",
    "family",
    "p_preregistered",
    "mde",
    "n_pretrainings",
    "n_units",
    "n_positive",
    "between_sd",
    "within_sd",
    "rank",
    "n_assignments",
    "p_t",
    "offsets",
    "note",
]


# ----------------------------------------------------------------------------- one pretraining's config


#: Config sections a pretraining's run leaves out: what they make does not
#: depend on the toy bases (the auxiliary-logit branch trains its own small
#: MLPs from its own seed), so k runs would make it k times over.
NOT_PER_PRETRAINING = ("auxlogit",)


def shifted(cfg: dict, offset: int, results: str) -> dict:
    """``cfg`` with every toy base's ``toy.seed`` + ``offset``, ``results``
    set and the sections of :data:`NOT_PER_PRETRAINING` left out, nothing
    else changed; refused (ConfigError) when the result is not a valid
    config (a seed outside [0, 2^32))."""
    out = {k: copy.deepcopy(v) for k, v in cfg.items() if k not in NOT_PER_PRETRAINING}
    for spec in out["models"].values():
        if "toy" in spec:
            spec["toy"]["seed"] += offset
    out["results"] = results
    configuration.validate(copy.deepcopy(out))
    return out


def config_text(config_path: str | Path, offset: int, results: str, name: str | None = None) -> str:
    """The stand-alone config file of one pretraining (a --configfile
    replaces config.yaml, so nothing is inherited); its first line names
    the config it shifts (``name``, else its path)."""
    cfg = configuration.check_config_file(config_path)
    head = f"# {name or config_path} with every toy seed {offset:+d} (python -m subliminal.pretrainings config)\n"
    return head + yaml.safe_dump(shifted(cfg, offset, results), sort_keys=False)


def run_folder(out: str | Path, offset: int) -> Path:
    return Path(out) / RUN_FOLDER.format(offset=offset)


def machine(cores: int | None = None) -> dict:
    """What a result may depend on of the machine that made it (no torch
    import: its version from the package metadata)."""
    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch = None
    return {
        "processor": platform.processor() or platform.machine(),
        "uname": " ".join(platform.uname()),
        "python": platform.python_version(),
        "torch": torch,
        "cpu_count": os.cpu_count(),
        "cores": cores,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    }


# ----------------------------------------------------------------------------- running the study


def snakemake_command() -> str:
    """The repository's .venv/bin/snakemake, else the one beside this Python,
    else snakemake on PATH."""
    for candidate in (REPO / ".venv" / "bin" / "snakemake", Path(sys.executable).parent / "snakemake"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("snakemake")
    if found is None:
        raise SystemExit("pretrainings: no snakemake (neither .venv/bin/snakemake nor one on PATH)")
    return found


def call_snakemake(argv: list[str]) -> int:
    """One Snakemake run in the repository (its output on this terminal): its exit status."""
    return subprocess.run(argv, cwd=REPO).returncode


def _in_repo(path: Path) -> str:
    """A path as a config names it: relative to the repository (where
    Snakemake runs) when inside it, else absolute."""
    path = path.resolve()
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def targets(cfg: dict) -> list[str]:
    """What one pretraining's run makes: the analysis tables :func:`load_run`
    reads (the statistics rule writes specificity, placebo and interaction
    together, from targets.csv). No figure, report page or teacher table:
    the study's own figure and page are made from these tables."""
    return [Layout.of(configuration.validate(copy.deepcopy(cfg))).analysis("specificity.csv")]


def _record(folder: Path, record: dict) -> None:
    path = folder / RUN_RECORD
    records = read_json(path, required=("runs",))["runs"] if path.exists() else []
    path.write_text(json.dumps({"runs": records + [record]}, indent=1) + "\n")


def run(offsets: list[int], out: str | Path, config_path: str | Path | None = None, cores: int = 2, extra=()) -> int:
    """Each offset's config and its Snakemake run, one after the other, in the
    repository (``--rerun-incomplete``: a run killed midway resumes; a
    complete one is only checked); then :func:`analyse`. Returns the exit
    status: the first failed run's (nothing is analysed then), else 0."""
    config_path = Path(config_path or REPO / "config.yaml").resolve()
    out = Path(out).resolve()
    command = snakemake_command()
    for i, offset in enumerate(offsets, 1):
        folder = run_folder(out, offset)
        folder.mkdir(parents=True, exist_ok=True)
        text = config_text(config_path, offset, _in_repo(folder), name=_in_repo(config_path))
        cfg_file = folder / RUN_CONFIG
        if not cfg_file.exists() or cfg_file.read_text() != text:
            cfg_file.write_text(text)
        # the targets first: --configfile takes every word after it
        wanted = targets(yaml.safe_load(text))
        argv = [command, *wanted, "--cores", str(cores), "--configfile", str(cfg_file), "--rerun-incomplete", *extra]
        name = f"offset {offset:+d} ({i} of {len(offsets)})"
        print(f"[pretrainings] {name}: {' '.join(argv)}  (results in {folder})", flush=True)
        start = time.time()
        rc = call_snakemake(argv)
        seconds = round(time.time() - start, 1)
        _record(folder, {"offset": offset, "argv": argv, "returncode": rc, "seconds": seconds} | machine(cores))
        if rc != 0:
            print(f"[pretrainings] {name}: snakemake failed (exit {rc}) after {seconds} s; stopped", flush=True)
            return rc
        print(f"[pretrainings] {name}: complete ({seconds} s)", flush=True)
    print(f"[pretrainings] analysing {len(offsets)} pretrainings into {out}", flush=True)
    analyse(out, offsets)
    return 0


# ----------------------------------------------------------------------------- one pretraining's run, read back


@dataclass
class Run:
    """One pretraining's run: its config, its tables, the per-unit
    specificity values and the placebo distributions."""

    offset: int
    folder: Path
    cfg: dict
    specificity: pd.DataFrame
    placebo: pd.DataFrame
    interaction: pd.DataFrame | None
    units: pd.DataFrame
    targets: pd.DataFrame
    builds: dict
    records: list


def find_offsets(out: str | Path) -> list[int]:
    """The offsets of the run folders below ``out`` (those with a config)."""
    pattern = re.compile(RUN_FOLDER.format(offset=r"(-?\d+)") + "$")
    found = [int(m.group(1)) for p in Path(out).iterdir() if (m := pattern.match(p.name)) and (p / RUN_CONFIG).exists()]
    return sorted(found)


def unit_values(targets: pd.DataFrame, words: dict, relations: dict | None) -> pd.DataFrame:
    """Each pair's specificity per statistical unit, as specificity.py
    computes it: KEY + unit, unit_id, value, relation."""
    u = specificity.unit_values(specificity.per_trait(specificity.shifts(targets, words)))
    u["relation"] = [pair_relation(relations, t, s) for t, s in zip(u["teacher_base"], u["student_base"])]
    return u[[*specificity.KEY, "relation", "unit", "unit_id", "value"]]


def _check_units(units: pd.DataFrame, spec: pd.DataFrame, path) -> None:
    """The recomputed units' means are the effects specificity.csv holds:
    else the tables are of another targets.csv (a stale analysis)."""
    pairs = spec[spec["relation"] != specificity.INTERACTION]
    means = units.groupby(specificity.KEY, sort=True)["value"].mean()
    for r in pairs.itertuples():
        key = tuple(getattr(r, k) for k in specificity.KEY)
        got = means.get(key, math.nan)
        if not math.isclose(got, r.effect, rel_tol=1e-4, abs_tol=1e-7):
            raise ValueError(
                f"{path}: the effect of {key} is {r.effect}, but targets.csv gives {got}: rerun the statistics"
            )


def load_run(folder: str | Path, offset: int) -> Run:
    """One pretraining's run folder: its config and analysis tables (an
    incomplete run is an error naming the missing table)."""
    folder = Path(folder)
    cfg = configuration.validate(configuration.check_config_file(folder / RUN_CONFIG))
    layout = Layout.of({**cfg, "results": str(folder)})
    path = {name: Path(layout.analysis(f"{name}.csv")) for name in ("specificity", "targets", "placebo", "interaction")}
    for name in ("specificity", "targets"):
        if not path[name].exists():
            raise FileNotFoundError(f"offset {offset:+d}: no {path[name]} (the run is not complete)")
    a = cfg["analysis"]
    correction = None if a["correction"] == "none" else a["correction"]
    words, relations = tables.trait_targets(cfg), grid.relations(cfg)
    spec = read_table(path["specificity"], required=tuple(specificity.COLUMNS), allow_empty=True, **tables.AS_WRITTEN)
    targets = tables.read_targets(cfg, str(path["targets"]))
    targets = targets[targets["role"] != "base"]
    units = unit_values(targets, words, relations)
    _check_units(units, spec, path["specificity"])
    if path["placebo"].exists():
        plac = read_table(path["placebo"], required=tuple(placebo.COLUMNS), allow_empty=True, **tables.AS_WRITTEN)
    else:  # a run of older code
        plac = placebo.placebo(targets, words, relations=relations, alpha=a["alpha"], correction=correction)
    inter = None
    if path["interaction"].exists():
        inter = read_table(path["interaction"], allow_empty=True, **tables.AS_WRITTEN)
    record = folder / RUN_RECORD
    records = read_json(record, required=("runs",))["runs"] if record.exists() else []
    units = units.assign(offset=offset)
    return Run(offset, folder, cfg, spec, plac, inter, units, targets, toy_builds(cfg, layout), records)


def toy_builds(cfg: dict, layout: Layout) -> dict:
    """Each toy base's build record (toy.build_toy_base writes it beside the
    model): the machine, torch and threads that pretrained it; {} where a
    base was built by older code."""
    out = {}
    for name, spec in sorted(cfg["models"].items()):
        path = Path(layout.base_model(name)) / TOY_BUILD
        if "toy" in spec and path.exists():
            out[name] = read_json(path).get("machine", {})
    return out


# ----------------------------------------------------------------------------- each pretraining's own tests


def _blank(value) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def per_pretraining(runs: list[Run]) -> pd.DataFrame:
    """pretrainings.csv: per pretraining, each pair's specificity test (with
    its placebo test beside it), the specificity interaction, and the
    interaction models of interaction.csv (term ``interaction``)."""
    rows = []
    for run in runs:
        plac = {tuple(r[k] for k in specificity.KEY): r for _, r in run.placebo.iterrows()}
        for _, r in run.specificity.iterrows():
            key = tuple(r[k] for k in specificity.KEY)
            inter = r["relation"] == specificity.INTERACTION
            rec = dict(zip(specificity.KEY, key)) | {
                "offset": run.offset,
                "test": "interaction" if inter else "specificity",
                "relation": r["relation"],
                "scale": "probability",
                "estimate": r["effect"],
                "ci_low": r["effect_ci_low"],
                "ci_high": r["effect_ci_high"],
                "p": r["p"],
                "p_adjusted": r["p_adjusted"],
                "mde": r["mde"],
                "n_units": r["n_pairs"],
                "unit": r["unit"],
                "note": _blank(r["note"]),
            }
            if key in plac and not inter:
                q = plac[key]
                rec |= {
                    "placebo_rank": q["rank"],
                    "placebo_n_assignments": q["n_assignments"],
                    "placebo_p": q["p_perm"],
                    "placebo_p_adjusted": q["p_adjusted"],
                }
            rows.append(rec)
        rows += _paired_interactions(run)
    out = pd.DataFrame(rows, columns=PER_COLUMNS)
    order = {t: i for i, t in enumerate(["specificity", "interaction", "paired_interaction"])}
    out = out.assign(_t=out["test"].map(order))
    out = out.sort_values(["offset", "metric", "_t", "modality", "recipe", "teacher_base", "student_base", "trait"])
    return out.drop(columns="_t").reset_index(drop=True)


def _paired_interactions(run: Run) -> list[dict]:
    """interaction.csv's interaction terms (trait students minus control
    twins, matched minus mismatched, per trait and model)."""
    if run.interaction is None or run.interaction.empty:
        return []
    rows = []
    for _, r in run.interaction[run.interaction["term"] == "interaction"].iterrows():
        rows.append(
            {
                "offset": run.offset,
                "test": "paired_interaction",
                "teacher_base": "*",
                "student_base": "*",
                "modality": r["modality"],
                "recipe": r["recipe"],
                "metric": r["metric"],
                "relation": specificity.INTERACTION,
                "trait": r["trait"],
                "model": r["model"],
                "scale": r["scale"],
                "estimate": r["estimate"],
                "ci_low": r["ci_low"],
                "ci_high": r["ci_high"],
                "p": r["p"],
                "p_adjusted": r["p_adjusted"],
                "mde": r["mde"],
                "n_units": r["n_clusters"],
                "unit": r["cluster"],
                "note": _blank(r["note"]),
            }
        )
    return rows


# ----------------------------------------------------------------------------- the pooled models


def _empty_fit(note: str) -> dict:
    keys = ("estimate", "se", "ci_low", "ci_high", "df", "p", "mde", "between_sd", "within_sd")
    return {k: math.nan for k in keys} | {"note": note}


def mixed_model(values, groups, level: float = 0.95, alpha: float = 0.05, power: float = 0.8) -> dict:
    """The random-intercept model of ``values`` with one group per
    pretraining (MixedLM, REML): the fixed intercept, its SE, a t interval
    and p on k - 1 df, the MDE, the between- and within-pretraining SDs.
    ``note`` says why there is no fit, or that tau^2 is on the boundary."""
    y = np.asarray(values, dtype=float)
    g = np.asarray(groups)
    k = len(np.unique(g))
    if k < 2:
        return _empty_fit("fewer than 2 pretrainings")
    if y.size <= k:
        return _empty_fit("one unit per pretraining: no within variance")
    if float(np.std(y)) <= SD_ZERO:
        return _empty_fit("zero spread")
    # fitted on the standardised values with Powell's search (REML is
    # equivariant: the estimates scale back): statsmodels' default gradient
    # searches stop short of the optimum when tau^2 is near 0, with SEs off
    # by up to a fifth against a balanced layout's closed form
    centre, scale = float(np.mean(y)), float(np.std(y))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "on the boundary" even at tau^2 > 0; judged below
            res = MixedLM((y - centre) / scale, np.ones((y.size, 1)), groups=g).fit(reml=True, method="powell")
    except (np.linalg.LinAlgError, ValueError) as err:
        return _empty_fit(f"MixedLM failed: {err}")
    tau2, sigma2 = scale**2 * float(np.asarray(res.cov_re).item()), scale**2 * float(res.scale)
    est, se = centre + scale * float(res.fe_params[0]), scale * float(res.bse_fe[0])
    if not (np.isfinite(se) and se > 0):
        return _empty_fit("MixedLM gave no standard error")
    share = tau2 / (tau2 + sigma2) if tau2 + sigma2 > 0 else 0.0
    # at tau^2 = 0 the optimiser stops at the constraint and says it did not converge
    note = "" if res.converged else "MixedLM did not converge"
    if share <= BOUNDARY or (note and share < NEAR_BOUNDARY):
        note = "; ".join(filter(None, [note, f"between variance on the boundary (tau^2 share {share:.1g})"]))
    df = k - 1
    half = float(sps.t.ppf(0.5 + level / 2, df)) * se
    return {
        "estimate": est,
        "se": se,
        "ci_low": est - half,
        "ci_high": est + half,
        "df": float(df),
        "p": float(2 * sps.t.sf(abs(est / se), df)),
        "mde": _mde_multiplier(k, alpha, power) * se,
        "between_sd": math.sqrt(max(tau2, 0.0)),
        "within_sd": math.sqrt(sigma2),
        "note": note,
    }


def meta_analysis(estimates, variances, level: float = 0.95, alpha: float = 0.05, power: float = 0.8) -> dict:
    """DerSimonian-Laird random-effects meta-analysis of the k per-pretraining
    estimates (statsmodels' combine_effects; tau^2 truncated at 0 by taking
    its fixed-effect result there): the pooled estimate and its SE, tested
    with t on k - 1 df as the mixed model is (a normal reference rejected
    11-20% of simulated null layouts of 4 pretrainings x 4 units at 0.05,
    t on 3 df 2.5-5%), the MDE and the between-pretraining SD."""
    eff = np.asarray(estimates, dtype=float)
    var = np.asarray(variances, dtype=float)
    k = eff.size
    if k < 2:
        return _empty_fit("fewer than 2 pretrainings")
    if not (np.all(np.isfinite(var)) and np.all(var > 0)):
        return _empty_fit("a pretraining without a variance (fewer than 2 units, or zero spread)")
    with np.errstate(invalid="ignore", divide="ignore"):  # its side results at a negative tau^2
        res = combine_effects(eff, var, method_re="dl", alpha=1 - level)
    tau2 = float(res.tau2)
    if tau2 > 0:
        est, se = float(res.mean_effect_re), float(res.sd_eff_w_re)
    else:
        est, se = float(res.mean_effect_fe), float(res.sd_eff_w_fe)
    df = k - 1
    half = float(sps.t.ppf(0.5 + level / 2, df)) * se
    return {
        "estimate": est,
        "se": se,
        "ci_low": est - half,
        "ci_high": est + half,
        "df": float(df),
        "p": float(2 * sps.t.sf(abs(est / se), df)),
        "mde": _mde_multiplier(k, alpha, power) * se,
        "between_sd": math.sqrt(max(tau2, 0.0)),
        "within_sd": math.nan,
        "note": "" if tau2 > 0 else "tau^2 truncated at 0 (the fixed-effect estimate)",
    }


def pool(g: pd.DataFrame, level: float = 0.95, alpha: float = 0.05, power: float = 0.8) -> list[dict]:
    """The two pooled rows of one pair (or interaction) and metric from its
    per-unit values (``offset``, ``value``): the mixed model, and the
    meta-analysis beside it; ``primary`` the one the corrections use."""
    per = g.groupby("offset", sort=True)["value"].agg(["mean", "var", "count"])
    mixed = mixed_model(g["value"], g["offset"], level, alpha, power)
    meta = meta_analysis(per["mean"], per["var"] / per["count"], level, alpha, power)
    use_meta = bool(mixed["note"]) and not meta["note"].startswith(("fewer", "a pretraining"))
    common = {
        "n_pretrainings": int(len(per)),
        "n_units": int(len(g)),
        "n_positive": int((per["mean"] > 0).sum()),
        "offsets": " ".join(f"{o:+d}" for o in per.index),
    }
    return [
        common | mixed | {"method": MIXED, "primary": not use_meta},
        common | meta | {"method": META, "primary": use_meta},
    ]


def interaction_units(units: pd.DataFrame) -> pd.DataFrame:
    """Per pretraining and unit: the matched pairs' mean specificity minus
    the mismatched pairs', over the units every pair of the stratum has."""
    rows = []
    for key, g in units.groupby(["offset", *specificity.STRATUM], sort=True):
        matched = g["relation"] == MATCHED
        if matched.all() or not matched.any():
            continue
        common = set.intersection(*(set(p["unit_id"]) for _, p in g.groupby(["teacher_base", "student_base"])))
        g = g[g["unit_id"].isin(common)]
        m = g[g["relation"] == MATCHED].groupby("unit_id")["value"].mean()
        o = g[g["relation"] != MATCHED].groupby("unit_id")["value"].mean()
        for uid, d in (m - o).items():
            rows.append(
                dict(zip(["offset", *specificity.STRATUM], key))
                | {"teacher_base": "*", "student_base": "*", "relation": specificity.INTERACTION}
                | {"unit_id": uid, "value": float(d)}
            )
    return pd.DataFrame(rows, columns=["offset", *specificity.KEY, "relation", "unit_id", "value"])


def pooled_placebo(runs: list[Run]) -> list[dict]:
    """Per pair and metric, the placebo test pooled over the pretrainings
    (placebo.pooled: S(a) averaged over the runs with the same assignment,
    the true one's rank; ``p_t`` its studentised ranking across runs), with
    the number of runs whose own S is positive."""
    cfg = runs[0].cfg
    table = placebo.pooled(
        [r.targets for r in runs], tables.trait_targets(cfg), relations=grid.relations(cfg), correction=None
    )
    own = pd.concat([r.placebo.assign(offset=r.offset) for r in runs], ignore_index=True)
    positive = (own["S_true"] > 0).groupby([own[k] for k in specificity.KEY]).sum()
    offsets = " ".join(f"{r.offset:+d}" for r in runs)
    rows = []
    for _, r in table.iterrows():
        key = tuple(r[k] for k in specificity.KEY)
        rows.append(
            dict(zip(specificity.KEY, key))
            | {"test": "placebo", "relation": r["relation"], "method": PERMUTATION, "primary": True}
            | {"estimate": r["S_true"], "p": r["p_perm"], "rank": r["rank"], "n_assignments": r["n_assignments"]}
            | {"p_t": r["p_perm_t"], "n_units": r["n_units"], "n_pretrainings": len(runs), "offsets": offsets}
            | {"n_positive": int(positive.get(key, 0)), "note": _blank(r["note"])}
        )
    return rows


def pooled(runs: list[Run], level: float = 0.95) -> pd.DataFrame:
    """pooled.csv: the pooled specificity of every pair and metric, the
    pooled interaction, the pooled placebo tests, each family corrected
    (see the module's docstring)."""
    a = runs[0].cfg["analysis"]
    alpha, power = a["alpha"], a["power"]
    correction = None if a["correction"] == "none" else a["correction"]
    units = pd.concat([r.units for r in runs], ignore_index=True)
    rows = []
    for test, u in (("specificity", units), ("interaction", interaction_units(units))):
        for key, g in u.groupby([*specificity.KEY, "relation"], sort=True):
            head = dict(zip([*specificity.KEY, "relation"], key)) | {"test": test}
            rows += [head | r for r in pool(g, level, alpha, power)]
    rows += pooled_placebo(runs)
    out = pd.DataFrame(rows, columns=POOLED_COLUMNS)
    out["primary"] = out["primary"].astype(bool)
    out["note"] = out["note"].fillna("")
    out["family"] = ""
    names = {"specificity": "the pairs", "interaction": "the interactions", "placebo": "the pairs' placebo tests"}
    for test, name in names.items():
        sel = out[(out["test"] == test) & out["primary"]]
        out.loc[sel.index, "p_adjusted"] = _adjust(sel, correction)
        out.loc[sel.index, "family"] = [f"{name} of metric {m} ({correction or 'uncorrected'})" for m in sel["metric"]]
    prereg = out[
        out["primary"] & (((out["test"] == "placebo") & (out["relation"] == MATCHED)) | (out["test"] == "interaction"))
    ]
    out.loc[prereg.index, "p_preregistered"] = _adjust(prereg, correction)
    out = out.assign(_t=out["test"].map({t: i for i, t in enumerate(TESTS)}), _m=(out["method"] != MIXED))
    out = out.sort_values(["metric", "_t", "modality", "recipe", "teacher_base", "student_base", "_m"])
    out = out.drop(columns=["_t", "_m"]).reset_index(drop=True)
    out.attrs.update(alpha=alpha, power=power, correction=correction, level=level)
    return out


# ----------------------------------------------------------------------------- the page


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)] + [
        "| " + " | ".join(r) + " |" for r in rows
    ]


def _pair_name(r) -> str:
    if r["relation"] == specificity.INTERACTION:
        return "matched minus mismatched"
    return f"`{r['teacher_base']} -> {r['student_base']}` ({r['relation'].replace('_', ' ')})"


def _pooled_lines(pool_df: pd.DataFrame) -> list[str]:
    rows = []
    for _, r in pool_df.iterrows():
        ci = (
            f"[{format_pp(r['ci_low'], digits=2)}, {format_pp(r['ci_high'], digits=2)}]"
            if np.isfinite(r["ci_low"])
            else ""
        )
        extra = (
            f"rank {int(r['rank'])} of {int(r['n_assignments'])}" if r["test"] == "placebo" and r["rank"] > 0 else ""
        )
        rows.append(
            [
                r["metric"],
                r["test"],
                _pair_name(r),
                r["method"] + (" *" if r["primary"] else ""),
                f"{format_pp(r['estimate'], digits=2)} {ci}".strip() + (f", {extra}" if extra else ""),
                format_pp(r["se"], signed=False, digits=2),
                format_p(r["p"]),
                format_p(r["p_adjusted"]),
                format_p(r["p_preregistered"]),
                f"{int(r['n_positive']) if r['n_positive'] >= 0 else 'n/a'} of {int(r['n_pretrainings'])}",
                format_pp(r["between_sd"], signed=False, digits=2),
                r["note"],
            ]
        )
    header = ["metric", "test", "pair", "method", "estimate [95% CI]", "SE", "p", "p_adj", "p_prereg"]
    return _md_table(header + ["positive in", "between-pretraining SD", "note"], rows)


def _per_lines(per: pd.DataFrame) -> list[str]:
    rows = []
    for _, r in per[per["test"].isin(["specificity", "interaction"])].iterrows():
        rows.append(
            [
                f"{int(r['offset']):+d}",
                r["metric"],
                _pair_name(r),
                f"{format_pp(r['estimate'], digits=2)} [{format_pp(r['ci_low'], digits=2)}, "
                f"{format_pp(r['ci_high'], digits=2)}]",
                format_p(r["p"]),
                format_p(r["p_adjusted"]),
                format_p(r["placebo_p"]) if r["test"] == "specificity" else "",
            ]
        )
    return _md_table(["offset", "metric", "pair", "effect [95% CI]", "p", "p_adj", "placebo p"], rows)


def _machine_lines(runs: list[Run]) -> list[str]:
    """Per pretraining and toy base: the machine, torch and threads that
    pretrained it (its build record), and the last ``run`` of the offset."""
    rows = []
    for run in runs:
        last = run.records[-1] if run.records else None
        made = f"exit {last['returncode']}, {last['seconds']} s on {last['cores']} cores" if last else "not by `run`"
        for name, spec in sorted(run.cfg["models"].items()):
            if "toy" not in spec:
                continue
            m = run.builds.get(name)
            where = (
                [
                    m.get("processor", ""),
                    m.get("platform", ""),
                    str(m.get("torch", "n/a")),
                    str(m.get("threads", "n/a")),
                ]
                if m
                else (["no build record (older code)", "", "", ""])
            )
            rows.append([f"{run.offset:+d}", f"`{name}` seed {spec['toy']['seed']}", *where, made])
    here = machine()
    rows.append(
        ["this page", "", here["processor"], here["uname"], str(here["torch"]), "", f"{here['cpu_count']} CPUs"]
    )
    return _md_table(["offset", "toy base", "processor", "platform", "torch", "threads", "run"], rows)


def _verdict(pool_df: pd.DataFrame, per: pd.DataFrame, offsets: list[int], alpha: float) -> list[str]:
    """The pre-registered success rule (docs/findings.md), applied as written."""
    lead = pool_df[(pool_df["metric"] == LEAD_METRIC) & pool_df["p_preregistered"].notna()]
    matched = per[(per["metric"] == LEAD_METRIC) & (per["test"] == "specificity") & (per["relation"] == MATCHED)]
    if lead.empty or matched.empty:
        return [f"The pre-registered rule cannot be applied: no pooled {LEAD_METRIC} tests of a matched pair."]
    reject = bool((lead["p_preregistered"] < alpha).all()) and len(lead) == 2
    positive = bool((matched["estimate"] > 0).all())
    met = reject and positive
    lines = [
        f"**Pre-registered rule** (`{LEAD_METRIC}`; docs/findings.md): both primary tests reject after "
        f"Holm at {alpha:g} ({'yes' if reject else 'no'}: p_prereg "
        + ", ".join(f"{r['test']} {format_p(r['p_preregistered'])}" for _, r in lead.iterrows())
        + f"), and the matched pair's specificity is positive in every pretraining ({'yes' if positive else 'no'}: "
        + f"{int((matched['estimate'] > 0).sum())} of {len(matched)}). "
        + ("**Met**: trait-specific transmission to the matched pair survives pretraining." if met else "**Not met**.")
    ]
    if tuple(offsets) != PREREGISTERED_OFFSETS:
        lines.append(
            f"(The pre-registered study is offsets {', '.join(map(str, PREREGISTERED_OFFSETS))}; this is not.)"
        )
    return lines


def page(runs: list[Run], per: pd.DataFrame, pool_df: pd.DataFrame, where: str | Path = ".") -> str:
    """pretrainings.md (in the folder ``where``): which pretrainings, on
    which machine, the pooled model, the pooled table, the figure and each
    pretraining's tests."""
    a = pool_df.attrs
    offsets = [r.offset for r in runs]
    lines = [
        "# Pretrainings as a replicated factor",
        "",
        f"{len(runs)} pretrainings of the toy bases: every toy seed shifted by "
        + ", ".join(f"{o:+d}" for o in offsets)
        + " (`python -m subliminal.pretrainings`); each a complete run: "
        + ", ".join(f"`{os.path.relpath(r.folder, where)}/`" for r in runs)
        + ".",
        "",
        "**Pooled model.** Per pair and metric, the per-unit specificity S[u] (units: each run's teacher-data "
        "replicates, recomputed from its targets.csv) in a linear mixed model with a random intercept per "
        "pretraining (statsmodels MixedLM, REML); the fixed intercept is the pooled specificity, tested with t "
        "on k - 1 df (k pretrainings). The pooled interaction: the same model on the matched pairs' S minus the "
        "mismatched pairs' mean S, unit by unit. Beside each, a DerSimonian-Laird random-effects meta-analysis of "
        "the per-pretraining means (t on k - 1 df too); it is the primary row (marked *) when MixedLM fails or "
        "puts the between-pretraining variance on the boundary. The pooled placebo test: S of every assignment "
        "of targets averaged over the pretrainings, the true one's rank (p = rank / N).",
        "",
        f"**Families** ({a['correction'] or 'no'} correction at alpha {a['alpha']:g}): the pairs' pooled "
        "specificity, per metric; the pooled interaction, its own family per metric; the pairs' pooled placebo "
        "tests, per metric. `p_prereg`: the pre-registration's family of two per metric (the matched pair's "
        "pooled placebo test and the pooled interaction).",
        "",
        *_verdict(pool_df, per, offsets, a["alpha"]),
        "",
        "## Pooled",
        "",
        *_pooled_lines(pool_df),
        "",
        f"![every pretraining's effect and the pooled one]({OUTPUTS['png']})",
        "",
        "## Each pretraining",
        "",
        *_per_lines(per),
        "",
        "## Machines",
        "",
        *_machine_lines(runs),
        "",
        f"All numbers are in `{OUTPUTS['per']}` and `{OUTPUTS['pooled']}`.",
    ]
    return "\n".join(lines) + "\n"


def analyse(
    out: str | Path, offsets: list[int] | None = None, into: str | Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every pretraining's run below ``out`` (or those of ``offsets``) read
    and pooled: writes pretrainings.csv, pooled.csv, the figure and the page
    into ``out`` (or ``into``: the confirmation offsets alone, beside the
    whole study)."""
    from . import plots

    out = Path(out)
    into = Path(into or out)
    offsets = sorted(offsets) if offsets else find_offsets(out)
    if not offsets:
        raise FileNotFoundError(f"{out}: no {RUN_FOLDER.format(offset='<K>')}/{RUN_CONFIG} (run the study first)")
    runs = [load_run(run_folder(out, o), o) for o in offsets]
    per = per_pretraining(runs)
    pool_df = pooled(runs)
    into.mkdir(parents=True, exist_ok=True)
    per.to_csv(into / OUTPUTS["per"], index=False, float_format="%.6g")
    pool_df.to_csv(into / OUTPUTS["pooled"], index=False, float_format="%.6g")
    plots.pretrainings_forest(per, pool_df, [into / OUTPUTS["png"], into / OUTPUTS["pdf"]])
    (into / OUTPUTS["page"]).write_text(page(runs, per, pool_df, into))
    return per, pool_df


# ----------------------------------------------------------------------------- the command


def main(argv: list[str] | None = None) -> int:
    """python -m subliminal.pretrainings {config,run,analyse}: see the module's docstring."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser(prog="python -m subliminal.pretrainings", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("config", help="one pretraining's stand-alone config, on stdout")
    c.add_argument("--offset", type=int, required=True, help="added to every toy base's toy.seed")
    c.add_argument("--results", required=True, help="the run's results folder")
    c.add_argument("--config", default=str(REPO / "config.yaml"), help="the config to shift (default: config.yaml)")
    r = sub.add_parser("run", help="run every offset's study, one after the other, then analyse (-- snakemake args)")
    r.add_argument("--offsets", type=int, nargs="+", required=True)
    r.add_argument("--out", required=True, help="the study's folder: offset<K>/ per pretraining")
    r.add_argument("--config", default=str(REPO / "config.yaml"))
    r.add_argument("--cores", type=int, default=2)
    a = sub.add_parser("analyse", help="pool the runs below --out")
    a.add_argument("--out", required=True)
    a.add_argument("--offsets", type=int, nargs="+", help="only these (default: every offset<K>/ below --out)")
    a.add_argument("--into", help="write the tables, figure and page here (default: --out)")
    args = ap.parse_args(argv)
    if extra and args.command != "run":
        ap.error("arguments after -- go to snakemake, with run only")
    try:
        if args.command == "config":
            sys.stdout.write(config_text(args.config, args.offset, args.results, name=_in_repo(Path(args.config))))
        elif args.command == "run":
            return run(args.offsets, args.out, args.config, args.cores, extra)
        else:
            analyse(args.out, args.offsets, args.into)
            print(f"wrote {', '.join(str(Path(args.into or args.out) / f) for f in OUTPUTS.values())}")
    except configuration.ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 1
    except (FileNotFoundError, ValueError) as err:  # a run not complete, a table not as written
        print(f"pretrainings: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
