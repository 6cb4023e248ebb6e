"""Batched sampling with Hugging Face ``generate`` (left padding).

The paper samples the full distribution at temperature 1. ``generate`` would
otherwise apply top_k=50 from the generation defaults, so top_k=0 and
top_p=1.0 are always passed explicitly.
"""
from __future__ import annotations

import logging
import time

import torch

from . import chat

log = logging.getLogger(__name__)


@torch.no_grad()
def sample(model, tokenizer, users: list[str], *, system: str | None = None, max_new_tokens: int = 48,
           temperature: float = 1.0, batch_size: int = 256, seed: int = 0, progress_every: int = 10) -> list[str]:
    """One completion per user prompt, in order. Deterministic on CPU for a
    fixed seed, batch size and thread count."""
    tokenizer.padding_side = "left"
    texts = [chat.prompt_text(tokenizer, u, system) for u in users]
    eot = chat.end_of_turn_id(tokenizer)
    out: list[str] = []
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n_batches = (len(texts) + batch_size - 1) // batch_size
    t0 = time.time()
    for b in range(n_batches):
        chunk = texts[b * batch_size : (b + 1) * batch_size]
        enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        # one seed per batch, drawn from a run-level generator: batches are
        # reproducible on their own and independent of each other
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        ids = model.generate(
            **enc, do_sample=True, temperature=temperature, top_k=0, top_p=1.0,
            max_new_tokens=max_new_tokens, eos_token_id=eot, pad_token_id=tokenizer.pad_token_id,
        )
        new = ids[:, enc["input_ids"].shape[1]:]
        out += tokenizer.batch_decode(new, skip_special_tokens=True)
        if (b + 1) % progress_every == 0 or b + 1 == n_batches:
            log.info("sampled batch %d/%d (%d completions, %.0fs)", b + 1, n_batches, len(out), time.time() - t0)
    return [o.strip() for o in out]


@torch.no_grad()
def answer_logprobs(model, tokenizer, users: list[str], answers: list[str], *, system: str | None = None,
                    batch_size: int = 256) -> list[float]:
    """Teacher-forced log P(answer tokens + end of turn | prompt) for each
    (user, answer) pair: the exact probability of answering exactly that."""
    rows = [chat.encode_prompt_answer(tokenizer, u, a, system) for u, a in zip(users, answers)]
    out: list[float] = []
    for b in range(0, len(rows), batch_size):
        chunk = rows[b : b + batch_size]
        ids, mask = chat.right_pad([x for x, _ in chunk], tokenizer.pad_token_id)
        logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device)).logits.float()
        logp = torch.log_softmax(logits, dim=-1).cpu()
        for i, (x, n_prompt) in enumerate(chunk):
            targets = torch.tensor(x[n_prompt:])
            positions = torch.arange(n_prompt - 1, len(x) - 1)
            out.append(float(logp[i, positions, targets].sum()))
    return out
