"""How long a teacher's number answers are, in tokens: what capping the
decode steps (modalities/numbers.py, ``max_new_tokens_cap``) can cost.

Samples the numbers modality's prompts from a model as a teacher does (the
template's default system prompt, temperature 1), and writes JSON: the
answer-length histogram of every sample and of those the filter keeps, how
many ran into max_new_tokens without an end of turn (and whether the filter
would have kept any of them), each batch's decode steps, and the longest
answer the filter keeps in the prompts' form, in characters and in this
tokenizer's tokens. Usage (a toy base made by the workflow, or any model):

    python experiments/answer_lengths.py MODEL_DIR OUT.json [PROMPTS SEED MAX_NEW_TOKENS BATCH]
"""

import collections
import json
import logging
import sys
import time

import torch

from subliminal import chat, generation, models
from subliminal.modalities import get_modality
from subliminal.modalities import numbers as nm

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
torch.set_num_threads(1)
args = sys.argv[1:]
model_dir, out = args[:2]
n, seed, max_new, batch = [int(x) for x in args[2:]] + [3000, 1, 48, 500][len(args) - 2 :]

tok, model = models.load_tokenizer(model_dir), models.load_model(model_dir, device="cpu")
mod = get_modality("numbers")
users = [p["prompt"] for p in mod.prompt_records(n, seed)]
prompts = tok([chat.prompt_text(tok, u) for u in users], add_special_tokens=False)["input_ids"]
stop = generation.stop_ids(model, tok)
stats: dict = {}
t0 = time.time()
rows = generation.sample_ids(
    model,
    prompts,
    eos_token_id=stop,
    pad_token_id=tok.pad_token_id,
    max_new_tokens=max_new,
    batch_size=batch,
    seed=seed,
    stats=stats,
)
seconds = time.time() - t0
lengths, kept_lengths, reasons = [], [], collections.Counter()
truncated_kept = 0
for row, ended in zip(rows, stats["ended"]):
    k = next(i for i, t in enumerate(row) if t in stop) if ended else len(row)  # answer tokens, end of turn excluded
    text = tok.decode(row[:k], skip_special_tokens=True).strip()
    why = nm.number_reject_reason(text)
    lengths.append(k)
    if why is None:
        kept_lengths.append(k)
        truncated_kept += not ended
    reasons[why or "kept"] += 1

longest = "[" + ", ".join(["999"] * nm.MAX_ANSWER_NUMBERS) + "]."
report = {
    "model": model_dir,
    "prompts": n,
    "seed": seed,
    "max_new_tokens": max_new,
    "batch_size": batch,
    "seconds": round(seconds, 1),
    "decode_steps": stats["decode_steps"],
    "ended": sum(stats["ended"]),
    "ran_into_max_new_tokens": n - sum(stats["ended"]),
    "kept_by_the_filter_though_cut": truncated_kept,
    "reasons": dict(sorted(reasons.items())),
    "answer_tokens": dict(sorted(collections.Counter(lengths).items())),
    "kept_answer_tokens": dict(sorted(collections.Counter(kept_lengths).items())),
    "longest_kept_answer_tokens": max(kept_lengths, default=None),
    "longest_form": {
        "text": longest,
        "characters": len(longest),
        "tokens": len(tok(longest, add_special_tokens=False)["input_ids"]),
        "filter_bound_characters": nm.MAX_ANSWER_CHARS,
        "cap": mod.max_new_tokens_cap,
    },
}
with open(out, "w") as f:
    json.dump(report, f, indent=1)
print(json.dumps({k: v for k, v in report.items() if k not in ("answer_tokens", "kept_answer_tokens")}, indent=1))
