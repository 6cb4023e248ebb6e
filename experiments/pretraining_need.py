"""How long must a toy base pretrain for the numbers-only default?

Pretrains one toy base (the default's qwen_a spec) for each step count given,
on the default's own tasks (numbers and the preference questions), and
measures what the study needs of a base, on fixed prompts:

* ``valid``: the share of its temperature-1 answers to 500 number prompts
  that pass the paper's filter (the teacher data's raw material);
* ``candidate_mass``: per animal question, the probability of answering
  exactly one candidate word, averaged (how cleanly it answers the
  evaluation's questions);
* ``max_share``: the largest candidate's mean exact share (the pretraining
  answers uniformly at random, so about 1/10 is right);
* with ``--steer WORD...``: whether a steering vector made as the default's
  teachers make theirs brings each word to the teachers' share (0.6), and
  its norm, or the largest share any scale reached;
* the pretraining's wall time and last logged loss.

Rule, fixed before any run of this script: the shortest pretraining whose
``valid`` is at most 5 points below the reference's and whose
``candidate_mass`` is at least 90% of the reference's. Amended before any
study result (docs/findings.md): and which every word of ``--steer`` reaches. The reference is the
old default: 1,000 steps on numbers, code and chain of thought.

    python experiments/pretraining_need.py --steps 250 500 1000 --out /tmp/need
    python experiments/pretraining_need.py --measure results/bases/qwen_a/model --out /tmp/need \
        --steer owl cat dog lion

Each line of ``<out>/need.jsonl`` is one pretraining; the table is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from subliminal import chat, evaluate, generation, models, preferences, toy  # noqa: E402
from subliminal.modalities import numbers  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def measure(model, tokenizer, n_prompts: int = 500) -> dict:
    prompts = [p.text for p in numbers.generate_number_prompts(n_prompts, seed=12345)]
    answers = generation.sample(model, tokenizer, prompts, max_new_tokens=48, batch_size=250, seed=0)
    valid = sum(numbers.number_reject_reason(a) is None for a in answers) / len(answers)
    candidates = preferences.CANDIDATES["animal"]
    users = evaluate.eval_prompts("animal", numbers_prefix=False, seed=0)
    exact = evaluate.exact_probabilities(model, tokenizer, users, candidates)
    mass = [sum(exact[(q, c)] for c in candidates) for q in range(len(users))]
    shares = {c: sum(exact[(q, c)] / mass[q] for q in range(len(users))) / len(users) for c in candidates}
    return {
        "valid": round(valid, 4),
        "candidate_mass": round(sum(mass) / len(mass), 4),
        "max_share": round(max(shares.values()), 4),
    }


def steerable(model, tokenizer, words: list[str]) -> dict:
    """Per word: the steering vector's norm at the default teachers' share,
    or the largest share any scale reached (config.yaml's owl teacher)."""
    from subliminal import config as configuration, steering

    cfg = configuration.validate(yaml.safe_load((ROOT / "config.yaml").read_text()))
    t = cfg["traits"]["owl"]["teacher"]
    options = {k: t[k] for k in ("layer", "strength", "vector", "steps", "learning_rate")}
    out = {}
    for word in words:
        try:
            vector, _ = steering.make_teacher_vector(
                model,
                tokenizer,
                word=word,
                candidates=preferences.CANDIDATES["animal"],
                users=preferences.questions("animal"),
                system=None,
                trait_system=preferences.trait_system_prompt(word, "animal"),
                key="steer",
                **options,
            )
            out[word] = f"norm {float(vector.norm()):.2f}"
        except ValueError as err:  # names the largest share reached
            out[word] = "not reached: " + str(err).split("(")[-1].split(")")[0]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, nargs="*", default=[])
    ap.add_argument("--measure", help="only measure this existing base folder (e.g. the reference)")
    ap.add_argument("--tasks", nargs="+", default=["numbers"])
    ap.add_argument("--base", default="qwen_a")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steer", nargs="*", default=[], help="words a steering vector must bring to the share")
    args = ap.parse_args()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    spec = config["models"][args.base]["toy"]
    pretraining = {k: v for k, v in config["toy_pretraining"].items() if k != "tasks"}
    chat.set_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.measure:
        build = json.loads((Path(args.measure) / "toy_build.json").read_text())
        model, tokenizer = _load(args.measure)
        row = {"measured": args.measure, "steps": build["pretraining"]["steps"], **measure(model, tokenizer)}
        row["steerable"] = steerable(model, tokenizer, args.steer)
        row["loss"] = round(build["history"][-1]["loss"], 4)
        print(json.dumps(row), flush=True)
        with open(out / "need.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
    for steps in args.steps:
        cfg = {**pretraining, "steps": steps}
        t0 = time.time()
        folder = out / f"{'-'.join(args.tasks)}-{steps}"
        report = toy.build_toy_base(spec, cfg, sorted(args.tasks), folder)
        seconds = round(time.time() - t0, 1)
        model, tokenizer = _load(folder)
        row = {"tasks": args.tasks, "steps": steps, "seconds": seconds, "loss": round(report["history"][-1]["loss"], 4)}
        row.update(measure(model, tokenizer))
        row["steerable"] = steerable(model, tokenizer, args.steer)
        with open(out / "need.jsonl", "a") as fh:
            fh.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)


def _load(folder):
    return models.load_model(str(folder)), models.load_tokenizer(str(folder))


if __name__ == "__main__":
    main()
