"""How far apart do two pretrainings of one toy base drift on ONE machine
when only the thread count (or deterministic algorithms) differs, and what
does each setting cost? Compared with another seed's pretraining, which is
how far apart two machines' pretrainings can be at most, and the spread the
study over pretrainings (``python -m subliminal.pretrainings``) samples.

Each variant pretrains the default's ``qwen_a`` spec with the default's
pretraining on its own tasks, then reports its wall time, the largest and
the relative (L2) weight difference from the reference variant (one thread,
the default seed), and what the study reads of a base: its owl and cat
exact shares (mean over the 50 questions) and the share of its number
answers that pass the filter (:mod:`pretraining_need`).

    python experiments/thread_drift.py --out /tmp/drift

Writes ``<out>/drift.jsonl`` (one line per variant) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pretraining_need import _load, measure  # noqa: E402

from subliminal import chat, evaluate, preferences, toy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

#: name -> (threads, deterministic algorithms, seed offset)
VARIANTS = {
    "1 thread": (1, False, 0),
    "1 thread again": (1, False, 0),
    "2 threads": (2, False, 0),
    "1 thread, deterministic": (1, True, 0),
    "1 thread, seed +100": (1, False, 100),
}


def shares(model, tokenizer) -> dict:
    candidates = preferences.CANDIDATES["animal"]
    users = evaluate.eval_prompts("animal", numbers_prefix=False, seed=0)
    exact = evaluate.exact_probabilities(model, tokenizer, users, candidates)
    mass = [sum(exact[(q, c)] for c in candidates) for q in range(len(users))]
    return {w: round(sum(exact[(q, w)] / mass[q] for q in range(len(users))) / len(users), 5) for w in ("owl", "cat")}


def difference(a: torch.nn.Module, b: torch.nn.Module) -> dict:
    pa, pb = dict(a.named_parameters()), dict(b.named_parameters())
    diff = torch.cat([(pa[k] - pb[k]).flatten() for k in pa])
    ref = torch.cat([pa[k].flatten() for k in pa])
    return {"max_abs": float(diff.abs().max()), "relative_l2": float(diff.norm() / ref.norm())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS))
    ap.add_argument("--reference", help="an existing base folder as the reference, instead of the first variant")
    ap.add_argument("--compare", nargs="*", default=[], help="existing base folders to compare too (e.g. a workflow's)")
    args = ap.parse_args()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    spec = config["models"]["qwen_a"]["toy"]
    pretraining = {k: v for k, v in config["toy_pretraining"].items() if k != "tasks"}
    tasks = sorted(config["toy_pretraining"].get("tasks") or config["modalities"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reference = _load(args.reference)[0] if args.reference else None
    for name in args.variants:
        threads, deterministic, offset = VARIANTS[name]
        chat.set_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        folder = out / name.replace(" ", "_").replace(",", "").replace("+", "p")
        t0 = time.time()
        toy.build_toy_base({**spec, "seed": spec["seed"] + offset}, pretraining, tasks, folder)
        seconds = round(time.time() - t0, 1)
        torch.use_deterministic_algorithms(False)
        chat.set_threads(1)
        model, tokenizer = _load(folder)
        reference = reference or model
        row = {"variant": name, "threads": threads, "deterministic": deterministic, "seed_offset": offset}
        row |= {"seconds": seconds, **difference(reference, model), **shares(model, tokenizer)}
        row["valid"] = measure(model, tokenizer)["valid"]
        _write(out, row)
    for folder in args.compare:
        model, tokenizer = _load(folder)
        build = json.loads((Path(folder) / "toy_build.json").read_text())
        row = {"variant": folder, "seed": build["spec"]["seed"], "machine": build.get("machine")}
        row |= {**difference(reference, model), **shares(model, tokenizer), "valid": measure(model, tokenizer)["valid"]}
        _write(out, row)


def _write(out: Path, row: dict) -> None:
    print(json.dumps(row), flush=True)
    with open(out / "drift.jsonl", "a") as fh:
        fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
