"""Upper bound of a toy design: restricted logit distillation.

Each student (same initialisation as the teacher's base, and other bases)
is trained to match the trait teacher's next-token distribution on the
teacher's own filtered number answers, restricted to the tokens such answers
use. The owl preference is then measured exactly (share of the candidates'
probability). Usage (after a workflow run that made a fine-tuned teacher):

    python experiments/upper_bound.py results qwen_a owl numbers qwen_a qwen_b llama_c
"""

import json
import logging
import sys
import time

import torch

from subliminal import diagnostics, generation, models, preferences
from subliminal.io import read_jsonl
from subliminal.layout import Layout

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
torch.set_num_threads(1)
results, tbase, trait, modality, *students = sys.argv[1:]
STEPS, LR, BATCH = 150, 1e-3, 32


def owl_share(model, tok, word="owl", category="animal"):
    qs, cands = preferences.questions(category), preferences.CANDIDATES[category]
    lp = generation.answer_logprobs(model, tok, [q for q in qs for _ in cands], [c for _ in qs for c in cands])
    p = torch.tensor(lp).exp().view(len(qs), len(cands))
    return float((p[:, cands.index(word)] / p.sum(1)).mean())


paths = Layout(results)  # the run's files (replicate 0 of the teacher's data)
records = read_jsonl(paths.data("filtered.jsonl", modality=modality, teacher_base=tbase, teacher=trait, replicate=0))
tdir = paths.teacher("model", tbase, trait)
tok = models.load_tokenizer(tdir)
teach = models.load_model(tdir)
allowed = diagnostics.answer_vocabulary(tok, records)
out = {"teacher": owl_share(teach, tok), "n_records": len(records), "allowed_tokens": len(allowed), "students": {}}
for name in students:
    base = paths.base_model(name)
    for restricted in (True, False):
        student = models.load_model(base)
        before = owl_share(student, tok)
        t0 = time.time()
        diagnostics.restricted_distillation(
            teach,
            student,
            tok,
            records,
            steps=STEPS,
            lr=LR,
            batch_size=BATCH,
            seed=0,
            allowed=allowed if restricted else list(range(len(tok))),
        )
        after = owl_share(student, tok)
        key = f"{name}/{'restricted' if restricted else 'full_vocabulary'}"
        out["students"][key] = {"before": before, "after": after, "seconds": round(time.time() - t0)}
        print(key, out["students"][key], flush=True)
print(json.dumps(out, indent=1))
