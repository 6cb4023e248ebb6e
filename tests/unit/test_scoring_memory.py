"""Exact scoring in bounded memory: the answer log-probabilities equal the
full-vocabulary computation they replace, and what scoring allocates does
not grow with batch x vocabulary (a few seconds)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from conftest import SCORE_RTOL
from subliminal import chat, generation, models, preferences

VOCAB = 100_000  # large next to the model (hidden size 8): the head dominates every allocation


@torch.no_grad()
def full_softmax_logprobs(model, tokenizer, users, answers, *, system=None, batch_size=256):
    """The computation scoring used before (commit 999c27f): the whole batch's
    logits, a float32 log_softmax over the full vocabulary, copied to the CPU."""
    rows = [chat.encode_prompt_answer(tokenizer, u, a, system) for u, a in zip(users, answers)]
    out = []
    for b in range(0, len(rows), batch_size):
        chunk = rows[b : b + batch_size]
        ids, mask = chat.right_pad([x for x, _ in chunk], tokenizer.pad_token_id)
        logits = model(input_ids=ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits, dim=-1).cpu()
        for i, (x, n_prompt) in enumerate(chunk):
            targets = torch.tensor(x[n_prompt:])
            positions = torch.arange(n_prompt - 1, len(x) - 1)
            out.append(float(logp[i, positions, targets].sum()))
    return out


def random_model(architecture: str, vocab: int = VOCAB, **extra):
    """A randomly initialised causal LM of an architecture, tiny but for its vocabulary."""
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    cfg = AutoConfig.for_model(
        architecture,
        vocab_size=vocab,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=4,
        max_position_embeddings=256,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        **extra,
    )
    return AutoModelForCausalLM.from_config(cfg).eval()


def random_rows(n: int, vocab: int, seed: int = 0) -> list[tuple[list[int], int]]:
    """(ids, prompt length): prompts of 30-40 tokens, answers of 1-3 (as the
    evaluation's one-word answers and end of turn)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p, a = rng.randint(30, 40), rng.randint(1, 3)
        out.append(([rng.randrange(3, vocab) for _ in range(p + a)], p))
    return out


@torch.no_grad()
def full_rows_logprobs(model, rows):
    ids, mask = chat.right_pad([x for x, _ in rows], 0)
    logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)
    return [float(logp[i, torch.arange(n - 1, len(x) - 1), torch.tensor(x[n:])].sum()) for i, (x, n) in enumerate(rows)]


class LargestTensor(TorchDispatchMode):
    """The largest storage any aten op creates (or returns) while active."""

    def __init__(self):
        super().__init__()
        self.nbytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.nbytes = max(self.nbytes, t.untyped_storage().nbytes())
        return out


def _status_kib(field: str) -> int:
    return int(re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))


def test_scores_equal_the_full_softmax_on_the_toy_to_float32_rounding(tiny_base):
    """The computation it replaces, on a toy base, with batches that split
    the rows unevenly, and on the evaluation's own prompts with the numbers
    prefix: equal to float32 rounding (SCORE_RTOL, conftest: two orders of
    operations). A wrong token, a shifted position or a dropped end of turn
    moves every value here by more than that (checked by hand when this was
    written: every value failed)."""
    from subliminal import evaluate

    tok, model = models.load_tokenizer(str(tiny_base)), models.load_model(str(tiny_base))
    users = evaluate.eval_prompts("animal", True, 0)[:12]
    words = preferences.CANDIDATES["animal"] + ["Owl"]
    us, ans = [u for u in users for _ in words], [w for _ in users for w in words]
    for batch in (7, 64):
        new = generation.answer_logprobs(model, tok, us, ans, batch_size=batch, chunk_positions=5)
        assert new == pytest.approx(full_softmax_logprobs(model, tok, us, ans, batch_size=batch), rel=SCORE_RTOL, abs=0)


@pytest.mark.parametrize(
    "architecture,extra",
    [
        ("qwen2", {}),
        ("llama", {}),
        # Gemma-2: its forward soft-caps the final logits; the gathered path must too
        (
            "gemma2",
            {
                "final_logit_softcapping": 3.0,
                "attn_logit_softcapping": 50.0,
                "query_pre_attn_scalar": 4,
                "sliding_window": 64,
            },
        ),
    ],
)
def test_gathered_positions_equal_the_models_own_logits(architecture, extra):
    model = random_model(architecture, vocab=5000, **extra)
    rows = random_rows(6, 5000)
    got = generation.sequence_logprobs(model, rows, pad_token_id=0, batch_size=6, chunk_positions=4)
    want = full_rows_logprobs(model, rows)
    assert got == pytest.approx(want, rel=SCORE_RTOL, abs=0)


def test_scoring_memory_does_not_grow_with_batch_times_vocabulary():
    """A tiny model with a 100k vocabulary: one full-vocabulary float32
    log_softmax of 64 rows of about 40 tokens is about 1 GB. The largest
    tensor scoring makes is one chunk of positions x vocabulary, whatever the
    batch; the process's peak resident memory grows by far less than one
    full-batch logits tensor."""
    try:  # glibc: map every allocation of 1 MiB or more on its own, so that freeing returns it (RSS = live memory)
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD; also stops its dynamic growth
    except (OSError, AttributeError):
        pass
    model = random_model("qwen2")
    rows = random_rows(64, VOCAB)
    chunk = 16
    largest, peak_mib = {}, {}
    for batch in (8, 64):
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set (VmHWM)
        before = _status_kib("VmRSS")
        with LargestTensor() as probe:
            generation.sequence_logprobs(model, rows, pad_token_id=0, batch_size=batch, chunk_positions=chunk)
        largest[batch] = probe.nbytes
        peak_mib[batch] = (_status_kib("VmHWM") - before) / 1024
    head_chunk = chunk * VOCAB * 4  # float32 logits of one chunk of answer positions
    assert largest[8] == largest[64] == head_chunk
    full_batch = 64 * 40 * VOCAB * 4 / 2**20  # MiB of the old path's logits alone, at batch 64
    assert peak_mib[64] < 0.1 * full_batch, (peak_mib, full_batch)
    assert peak_mib[64] < peak_mib[8] + 4 * head_chunk / 2**20, peak_mib

    # the probe sees what the old path allocated: the whole batch x sequence x vocabulary
    small = rows[:4]
    with LargestTensor() as probe:
        full_rows_logprobs(model, small)
    assert probe.nbytes == 4 * max(len(x) for x, _ in small) * VOCAB * 4


def test_score_batch_size_is_the_scoring_batch_only(tiny_base, monkeypatch):
    """evaluation.score_batch_size sets the exact scoring's batch, not the
    sampling's; the scores do not depend on it."""
    from subliminal import evaluate

    tok, model = models.load_tokenizer(str(tiny_base)), models.load_model(str(tiny_base))
    seen, logps = [], []
    real = generation.sequence_logprobs

    def spy(*a, **kw):
        seen.append(kw["batch_size"])
        logps.extend(real(*a, **kw))
        return logps[-len(a[1]) :]

    monkeypatch.setattr(generation, "sequence_logprobs", spy)
    kw = dict(samples_per_question=2, seed=0, batch_size=64, max_new_tokens=3)
    a, _ = evaluate.evaluate_preferences(model, tok, ["animal"], **kw)
    b, _ = evaluate.evaluate_preferences(model, tok, ["animal"], score_batch_size=9, **kw)
    assert seen == [64, 9]
    exact = lambda s: s[s.metric != "sampled"].value.tolist()  # noqa: E731
    assert a[a.metric == "sampled"].equals(b[b.metric == "sampled"])
    # other batches, other padded widths: each log-probability lp agrees to float32
    # rounding (conftest.SCORE_RTOL), a probability exp(lp) (and a sum of them) to
    # SCORE_RTOL * |lp| relative, a share of the candidates' total to twice that
    rel = 2 * SCORE_RTOL * max(map(abs, logps))
    assert exact(a) == pytest.approx(exact(b), rel=rel, abs=0)
