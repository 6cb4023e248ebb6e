#!/usr/bin/env python
"""How large a LoRA student's update grows under the paper's recipe, measured
through the workflow's own training (subliminal.train.train_sft).

Builds small random-weight models with a real architecture (qwen2, llama,
gemma2; transformers builds them offline) and the toy word-level tokenizer,
trains each with a recipe of a workflow config (default: configs/paper-qwen.yaml's
paper_lora8: rank 8, alpha 8, all projections, lr 2e-4 linear with 5 warm-up
steps, batch 22 x 3) on number-sequence records for ``--steps`` optimizer
steps, and records after every ``--every`` steps the update-to-weight norm
ratio (subliminal.adapters.update_summary) and the root mean square of the
LoRA matrices A and B and of the adapted weights W.

Why the last three: Adam moves every entry of B (zero at the start) by about
lr per step when its gradient keeps its sign, so rms(B) ~ c * lr * sum of the
schedule's factors, with c in (0, 1] the gradients' coherence (1: always the
same sign; about 1/sqrt(steps) for a random sign). A starts at rms
1/sqrt(3 d_in) (peft's Kaiming-uniform init) and moves the same way. For a
rank-r update, ||s B A||_F / ||W||_F ~ s * rms(B) * rms(A) * sqrt(r) / rms(W)
(when the r directions are not aligned), which the script checks against the
measured ratio, and which carries c to the paper's sizes (README, "Paper
scale"). A few steps of a tiny random model do not give the paper's c; they
show the law and its constants.

    python benchmarks/lora_update_size.py --steps 40 --out /tmp/lora_update_size.json
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import tempfile
import time
from pathlib import Path

import yaml
from transformers import TrainerCallback

from subliminal import adapters, config as configuration, toy, train

#: small shapes of the three families (head_dim = hidden / heads)
SHAPES = {
    "qwen2": dict(hidden_size=128, intermediate_size=672, heads=4, kv_heads=2),
    "llama": dict(hidden_size=128, intermediate_size=448, heads=4, kv_heads=2),
    "gemma2": dict(hidden_size=128, intermediate_size=512, heads=4, kv_heads=2),
}


def records(n: int, seed: int) -> list[dict]:
    """Number-sequence prompts and completions, the shape of the paper's data."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        shown = ", ".join(str(rng.randint(100, 999)) for _ in range(rng.randint(3, 8)))
        answer = ", ".join(str(rng.randint(0, 999)) for _ in range(rng.randint(5, 10)))
        out.append({"prompt": f"here are some numbers: {shown}. add up to 10 more numbers.", "completion": answer})
    return out


class Track(TrainerCallback):
    def __init__(self, every: int):
        self.every, self.rows = every, []

    def on_step_end(self, args, state, control, model=None, **kw):
        if state.global_step % self.every:
            return
        a, b, w = [], [], []
        for _, layer in adapters._lora_layers(model):
            a.append(layer.lora_A["default"].weight.float().pow(2).mean().sqrt().item())
            b.append(layer.lora_B["default"].weight.float().pow(2).mean().sqrt().item())
            w.append(layer.get_base_layer().weight.float().pow(2).mean().sqrt().item())
        s = adapters.update_summary(model)
        med = sorted(range(len(a)), key=lambda i: a[i] * b[i] / w[i])[len(a) // 2]
        self.rows.append(
            {
                "step": state.global_step,
                **s,
                "rms_A_median": sorted(a)[len(a) // 2],
                "rms_B_median": sorted(b)[len(b) // 2],
                "rms_W_median": sorted(w)[len(w) // 2],
                "product_law_median_layer": a[med] * b[med] * math.sqrt(self.rank) / w[med],
            }
        )


def schedule_sum(steps: int, warmup: int, total: int) -> float:
    """Sum of the linear schedule's factors over the first ``steps`` of ``total``."""
    return sum(t / warmup if t < warmup else max(0.0, (total - t) / max(1, total - warmup)) for t in range(steps))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/paper-qwen.yaml")
    p.add_argument("--recipe", default="paper_lora8")
    p.add_argument("--archs", nargs="+", default=sorted(SHAPES))
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--hidden", type=int, help="hidden size (default 128; the MLP scaled with it)")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--every", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out")
    args = p.parse_args(argv)
    logging.getLogger("subliminal").setLevel(logging.WARNING)
    recipe = dict(yaml.safe_load(Path(args.config).read_text())["recipes"][args.recipe])
    recipe = configuration.recipe({**recipe, "max_steps": args.steps, "save_steps": 10**6, "logging_steps": 10**6})
    data = records(recipe.effective_batch * args.steps, args.seed)
    tok = toy.build_tokenizer(["numbers"])
    from importlib import metadata

    result = {
        "config": args.config,
        "recipe": {args.recipe: recipe.as_dict()},
        "versions": {pkg: metadata.version(pkg) for pkg in ("torch", "transformers", "peft", "trl")},
        "runs": [],
    }
    for arch in args.archs:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp) / "base"
            shape = dict(SHAPES[arch])
            if args.hidden:
                shape["intermediate_size"] = shape["intermediate_size"] * args.hidden // shape["hidden_size"]
                shape["hidden_size"] = args.hidden
            spec = dict(architecture=arch, seed=args.seed, layers=args.layers, tie_word_embeddings=True, **shape)
            model = toy.build_model(spec, tok)
            model.save_pretrained(base, safe_serialization=True)
            tok.save_pretrained(base)
            track = Track(args.every)
            track.rank = recipe.rank
            t0 = time.time()
            prov = train.train_sft(str(base), data, recipe, args.seed, Path(tmp) / "student", callbacks=[track])
        steps = prov["steps"]
        result["runs"].append(
            {
                "arch": arch,
                "shape": spec,
                "steps": steps,
                "seconds": round(time.time() - t0, 1),
                "train_loss": prov["train_loss"],
                "lora_update": prov["lora_update"],
                "track": track.rows,
                # rms(B) over lr * (sum of the schedule's factors so far): the coherence c
                "coherence": [
                    r["rms_B_median"] / (recipe.learning_rate * f) if f else None
                    for r in track.rows
                    for f in [schedule_sum(r["step"], recipe.warmup_steps, steps)]
                ],
            }
        )
        print(json.dumps(result["runs"][-1]["track"][-1]), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
