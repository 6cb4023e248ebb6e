"""How long Snakemake takes to plan a paper-scale grid, and how many jobs it
plans: a dry run (``snakemake -n``) of each config, as written and grown
N-fold along one axis, timed end to end.

    .venv/bin/python benchmarks/dag_build.py                      # paper configs, x10 seeds
    .venv/bin/python benchmarks/dag_build.py --axis traits --repeats 5 --out dag.md

Each run gets an empty results folder, so every job is planned (a first run).
Two times per grid: the dry run, and ``snakemake --list-rules`` with the same
config (start-up, parsing the Snakefile, validating the config: everything
but the DAG), so their difference is the DAG build itself. Times are the
median over ``--repeats`` runs, on whatever machine runs this; the job count
is read from the dry run's job statistics.
"""

from __future__ import annotations

import argparse
import copy
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = ["configs/paper-qwen.yaml", "configs/paper-cross.yaml"]


def grow(cfg: dict, axis: str, factor: int) -> dict:
    """The grid ``factor`` times larger along ``axis``: more seeds, or more
    traits (copies of the existing ones under new names)."""
    cfg = copy.deepcopy(cfg)
    if factor == 1:
        return cfg
    if axis == "seeds":
        top = max(cfg["seeds"])
        cfg["seeds"] = cfg["seeds"] + [top + i for i in range(1, len(cfg["seeds"]) * (factor - 1) + 1)]
    elif axis == "traits":
        traits = dict(cfg["traits"])
        for k in range(1, factor):
            for name, spec in cfg["traits"].items():
                traits[f"{name}_{k}"] = copy.deepcopy(spec)
        cfg["traits"] = traits
    else:
        raise ValueError(f"unknown axis {axis!r} (seeds or traits)")
    return cfg


def snakemake(configfile: Path, *args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", str(configfile), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t0
    if run.returncode != 0:
        raise RuntimeError(f"snakemake {' '.join(args)} failed for {configfile}:\n{run.stderr[-3000:]}")
    return seconds, run.stdout


def job_count(dry_run_stdout: str) -> tuple[int, dict[str, int]]:
    stats = dry_run_stdout.split("Job stats:")[-1]
    per_rule = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    return per_rule.pop("total"), per_rule


def measure(cfg: dict, label: str, repeats: int, workdir: Path) -> dict:
    cfg = {**cfg, "results": str(workdir / label / "results")}  # empty: every job is planned
    path = workdir / f"{label}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    dry, rules = [], []
    out = ""
    for _ in range(repeats):
        seconds, out = snakemake(path, "-n")
        dry.append(seconds)
        rules.append(snakemake(path, "--list-rules")[0])
    total, per_rule = job_count(out)
    return {
        "grid": label,
        "jobs": total,
        "students": per_rule.get("train_student", 0),
        "dry_run_s": statistics.median(dry),
        "startup_s": statistics.median(rules),
        "dag_s": statistics.median(dry) - statistics.median(rules),
    }


def table(rows: list[dict]) -> str:
    head = "| grid | jobs | students | dry run (s) | start-up (s) | DAG build (s) |\n|---|---:|---:|---:|---:|---:|\n"
    return head + "".join(
        f"| {r['grid']} | {r['jobs']} | {r['students']} | {r['dry_run_s']:.2f} | "
        f"{r['startup_s']:.2f} | {r['dag_s']:.2f} |\n"
        for r in rows
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("configs", nargs="*", default=DEFAULT_CONFIGS, help="config files (default: the paper configs)")
    ap.add_argument("--axis", choices=["seeds", "traits"], default="seeds", help="the axis to grow")
    ap.add_argument("--factor", type=int, default=10, help="how much larger the grown grid is (default 10)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per grid; the median is reported")
    ap.add_argument("--out", type=Path, help="also write the table (markdown) here")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dag_build_") as tmp:
        for configfile in args.configs:
            cfg = yaml.safe_load((REPO / configfile).read_text())
            name = Path(configfile).stem
            for factor in (1, args.factor):
                label = name if factor == 1 else f"{name} x{factor} {args.axis}"
                row = measure(grow(cfg, args.axis, factor), label.replace(" ", "_"), args.repeats, Path(tmp))
                row["grid"] = label
                rows.append(row)
                print(
                    f"{label}: {row['jobs']} jobs, dry run {row['dry_run_s']:.2f} s "
                    f"(start-up {row['startup_s']:.2f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    text = table(rows)
    print(text, end="")
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
