"""Diagnostics for toy designs.

``restricted_distillation`` is the upper bound the toy measurements
recommend checking before any sampled-text experiment: the student matches
the teacher's full next-token distribution on the teacher's (filtered) number
answers, restricted to the tokens such answers are made of (renormalised), so
no probability the teacher puts on the trait word itself can leak. If even
this exact signal does not move the student's preference, sampled text
(a noisy estimate of the same signal) will not.
"""

from __future__ import annotations

import logging
import random

import torch

from . import chat

log = logging.getLogger(__name__)


def _sequences(tokenizer, records, system):
    return [chat.encode_prompt_answer(tokenizer, r["prompt"], r["completion"], system) for r in records]


def answer_vocabulary(tokenizer, records, system=None) -> list[int]:
    """Every token id that occurs in the answers (end of turn included)."""
    ids = set()
    for seq, n_prompt in _sequences(tokenizer, records, system):
        ids.update(seq[n_prompt:])
    return sorted(ids)


def restricted_distillation(
    teacher,
    student,
    tokenizer,
    records: list[dict],
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    system: str | None = None,
    allowed: list[int] | None = None,
) -> list[float]:
    """Train ``student`` in place to minimise KL(teacher || student) over the
    answer positions of ``records``, both distributions restricted to
    ``allowed`` token ids. Returns the loss per step."""
    allowed = torch.tensor(allowed if allowed is not None else answer_vocabulary(tokenizer, records, system))
    seqs = _sequences(tokenizer, records, system)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.Adam([p for p in student.parameters() if p.requires_grad], lr=lr)
    teacher.eval()
    student.train()
    losses = []
    for step in range(steps):
        batch = rng.sample(seqs, min(batch_size, len(seqs)))
        ids, mask = chat.right_pad([s for s, _ in batch], tokenizer.pad_token_id)
        answer = torch.zeros_like(ids, dtype=torch.bool)
        for i, (s, n_prompt) in enumerate(batch):
            answer[i, n_prompt - 1 : len(s) - 1] = True  # positions that predict answer tokens
        with torch.no_grad():
            t_logits = teacher(input_ids=ids, attention_mask=mask).logits[answer][:, allowed]
        s_logits = student(input_ids=ids, attention_mask=mask).logits[answer][:, allowed]
        t_logp = torch.log_softmax(t_logits.float(), -1)
        s_logp = torch.log_softmax(s_logits.float(), -1)
        loss = (t_logp.exp() * (t_logp - s_logp)).sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % 25 == 0:
            log.info("distill step %d/%d KL %.5f", step + 1, steps, sum(losses[-25:]) / 25)
    student.eval()
    return losses
