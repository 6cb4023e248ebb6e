"""Batched sampling with Hugging Face ``generate`` (left padding), and exact
answer log-probabilities in bounded memory.

The paper samples the full distribution at temperature 1 and nothing else.
``generate`` fills every setting it is not given from the model folder's
generation_config.json (Qwen2.5-7B-Instruct's: repetition_penalty 1.05,
top_k 20, top_p 0.8, temperature 0.7), and what that file leaves unset from
transformers' own defaults (top_k 50). So every sample is drawn with
:func:`sampling_config`: a fresh ``GenerationConfig`` with every setting that
shapes the distribution at its neutral value (top_k 0, top_p 1, typical_p 1,
repetition_penalty 1, no n-gram ban, no minimum length, ...), and, while
``generate`` runs, the model's own generation config is a bare one
(:func:`_folder_defaults_off`), because transformers (5.x) fills even the
settings whose only neutral value is "unset" (min_p, suppress_tokens,
forced_bos_token_id, ...) from it. Nothing of the folder's reaches a sample
but its end-of-sequence ids: an answer ends at any of :func:`stop_ids`.

Speed (what a GPU run can turn on; the toy default uses none of it, so its
data stay byte-identical):

* ``sort_by_length``: prompts are batched by token length (longest first), so
  a batch carries little left padding; the output comes back in input order.
  It changes which random draw each prompt gets (batches are seeded, not
  rows), not the distribution; a fixed seed still gives the same samples.
* ``generate`` already stops a batch as soon as every row has ended (any of
  its stop ids): a batch costs as many decode steps as its longest
  answer, at most ``max_new_tokens``.
* :func:`auto_batch_size` picks the batch from free GPU memory and the model's
  KV-cache size per token (on CPU: the configured batch).

Exact scoring (:func:`answer_logprobs`) never forms the full-vocabulary
distribution of the whole batch: it runs the model body once per batch, takes
the hidden states at the answer positions only and applies the output head
and ``log_softmax`` to at most ``chunk_positions`` of them at a time. Peak
memory is the body's activations plus ``chunk_positions`` x vocabulary, not
batch x sequence x vocabulary (27 GB in float32 for Qwen2.5-7B at 500 rows of
90 tokens, 33 GB for Gemma-2's 256k vocabulary).
"""

from __future__ import annotations

import contextlib
import logging
import time

import torch
from transformers import GenerationConfig

from . import chat

log = logging.getLogger(__name__)


def left_pad(seqs: list[list[int]], pad_id: int):
    """A batch of token-id lists padded on the left, and its attention mask:
    what ``tokenizer(texts, padding=True)`` returns with left padding."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s) :] = torch.tensor(s)
            mask[i, width - len(s) :] = 1
    return ids, mask


def kv_bytes_per_token(config, dtype_bytes: int = 2) -> int:
    """Bytes of KV cache one token takes in every layer (keys and values)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    heads = text.num_attention_heads
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // heads
    return 2 * text.num_hidden_layers * kv_heads * head_dim * dtype_bytes


def row_bytes(config, tokens: int, prompt_tokens: int, dtype_bytes: int = 2) -> int:
    """Memory one sampled row needs at its peak, estimated: its KV cache at
    ``tokens`` tokens, the prefill activations of its ``prompt_tokens`` (the
    largest layer's, a few at a time) and the float32 logits of a decode step
    (logits, probabilities, the sampling copies)."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    inter = getattr(text, "intermediate_size", None) or 4 * text.hidden_size
    prefill = prompt_tokens * (4 * text.hidden_size + 3 * inter) * dtype_bytes
    return tokens * kv_bytes_per_token(text, dtype_bytes) + prefill + 4 * text.vocab_size * 4


def auto_batch_size(
    model,
    tokens: int,
    prompt_tokens: int,
    configured: int,
    *,
    limit: int | None = None,
    free_bytes: int | None = None,
    fraction: float = 0.8,
) -> int:
    """The sampling batch: on a GPU the largest number of rows whose KV cache
    (``tokens`` per row: prompt + new tokens), prefill activations and logits
    fit in ``fraction`` of the free memory, at most ``limit`` (default: the
    configured batch); on CPU the configured batch. ``free_bytes`` overrides
    the measurement (tests)."""
    limit = limit or configured
    if free_bytes is None:
        device = getattr(model, "device", torch.device("cpu"))
        if device.type != "cuda":
            return configured
        free_bytes = torch.cuda.mem_get_info(device)[0]
    dtype_bytes = torch.finfo(next(model.parameters()).dtype).bits // 8
    per_row = row_bytes(model.config, tokens, prompt_tokens, dtype_bytes)
    return max(1, min(limit, int(free_bytes * fraction) // per_row))


#: Every ``GenerationConfig`` setting that could change which tokens are
#: drawn, or how many, at the value that changes nothing: one plain sample
#: per row from the full distribution. (Settings whose only neutral value is
#: "unset", such as min_p, top_h, min_new_tokens, suppress_tokens,
#: bad_words_ids, sequence_bias, forced_bos/eos_token_id,
#: exponential_decay_length_penalty and watermarking, stay unset:
#: :func:`_folder_defaults_off`.)
NEUTRAL: dict = {
    "do_sample": True,
    "num_beams": 1,
    "num_beam_groups": 1,
    "num_return_sequences": 1,
    "diversity_penalty": 0.0,
    "length_penalty": 1.0,
    "early_stopping": False,
    "top_k": 0,
    "top_p": 1.0,
    "typical_p": 1.0,
    "epsilon_cutoff": 0.0,
    "eta_cutoff": 0.0,
    "guidance_scale": 1.0,
    "repetition_penalty": 1.0,
    "encoder_repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0,
    "encoder_no_repeat_ngram_size": 0,
    "renormalize_logits": False,
    "remove_invalid_values": False,
    "min_length": 0,
    "use_cache": True,
    "output_scores": False,
    "output_logits": False,
    "output_attentions": False,
    "output_hidden_states": False,
    "return_dict_in_generate": False,
}


def stop_ids(model, tokenizer) -> list[int]:
    """The tokens that end a sampled answer, each once: the chat template's
    end of turn (:func:`chat.end_of_turn_id`), every end-of-sequence id of
    the model folder's generation_config.json (Qwen2.5-Instruct's:
    <|im_end|> and <|endoftext|>; Llama-3.1-Instruct's: <|end_of_text|>,
    <|eom_id|>, <|eot_id|>), then the tokenizer's eos. The model was tuned
    to end an answer with any of them; a token after one is not part of it."""
    folder = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    folder = [folder] if isinstance(folder, int) else list(folder or [])
    out: list[int] = []
    for tid in [chat.end_of_turn_id(tokenizer), *folder, tokenizer.eos_token_id]:
        if isinstance(tid, int) and tid not in out:
            out.append(tid)
    return out


def sampling_config(
    *, temperature: float, max_new_tokens: int, eos_token_id: int | list[int], pad_token_id: int | None
) -> GenerationConfig:
    """The complete settings of one sample per row: a fresh GenerationConfig
    (not the model's) with :data:`NEUTRAL` values, the project's temperature
    and length, and the stop ids."""
    eos = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
    return GenerationConfig(
        **NEUTRAL,
        temperature=float(temperature),
        max_new_tokens=int(max_new_tokens),
        eos_token_id=eos,
        pad_token_id=pad_token_id,
    )


def settings(config: GenerationConfig) -> dict:
    """What a sampling job records of its generation config: every neutral
    setting, the temperature, the length and the stop and pad ids."""
    keys = [*NEUTRAL, "temperature", "max_new_tokens", "eos_token_id", "pad_token_id"]
    return {k: getattr(config, k) for k in sorted(keys)}


@contextlib.contextmanager
def _folder_defaults_off(model):
    """While ``generate`` runs, every generation config the model (or, for a
    PEFT wrapper, the model inside it) carries is a bare ``GenerationConfig()``:
    transformers 5 fills each setting a passed config leaves unset (None)
    from the model's, i.e. from the folder's generation_config.json, and
    some settings (min_p, suppress_tokens, ...) have no neutral value but
    unset. The model's own config is put back afterwards."""
    modules = model.modules() if hasattr(model, "modules") else [model]
    saved = [
        (m, m.__dict__["generation_config"])
        for m in modules
        if isinstance(m.__dict__.get("generation_config"), GenerationConfig)
    ]
    try:
        for m, _ in saved:
            m.generation_config = GenerationConfig()
        yield
    finally:
        for m, config in saved:
            m.generation_config = config


@torch.no_grad()
def sample_ids(
    model,
    prompts: list[list[int]],
    *,
    eos_token_id: int | list[int],
    pad_token_id: int,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    batch_size: int = 256,
    seed: int = 0,
    sort_by_length: bool = False,
    progress_every: int = 10,
    stats: dict | None = None,
) -> list[list[int]]:
    """The new tokens of one completion per tokenized prompt, in input order
    (each row as wide as its batch: after the end of turn, padding), drawn
    with :func:`sampling_config` (``eos_token_id``: the stop ids, one or a
    list). Deterministic on CPU for a fixed seed, batch size, order and
    thread count. ``stats``, when given, receives the number of batches,
    the batch size, each batch's decode steps, the generation ``settings``
    and, per row in input order, whether it ``ended`` (holds a stop id; a
    row that did not was cut at ``max_new_tokens``)."""
    config = sampling_config(
        temperature=temperature, max_new_tokens=max_new_tokens, eos_token_id=eos_token_id, pad_token_id=pad_token_id
    )
    stop = set(config.eos_token_id)
    order = list(range(len(prompts)))
    if sort_by_length:  # longest first: the first batch is the largest, so memory fails early if at all
        order.sort(key=lambda i: -len(prompts[i]))
    out: list[list[int] | None] = [None] * len(prompts)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n_batches = (len(order) + batch_size - 1) // batch_size
    steps = []
    t0 = time.time()
    for b in range(n_batches):
        rows = order[b * batch_size : (b + 1) * batch_size]
        ids, mask = left_pad([prompts[i] for i in rows], pad_token_id)
        # one seed per batch, drawn from a run-level generator: batches are
        # reproducible on their own and independent of each other
        torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=gen)))
        with _folder_defaults_off(model):
            seqs = model.generate(
                input_ids=ids.to(model.device), attention_mask=mask.to(model.device), generation_config=config
            )
        new = seqs[:, ids.shape[1] :].cpu()
        steps.append(new.shape[1])
        for i, row in zip(rows, new.tolist()):
            out[i] = row
        del seqs, new
        if (b + 1) % progress_every == 0 or b + 1 == n_batches:
            log.info(
                "sampled batch %d/%d (%d completions, %.0fs)",
                b + 1,
                n_batches,
                min(len(order), (b + 1) * batch_size),
                time.time() - t0,
            )
    if stats is not None:
        stats.update(
            batches=n_batches,
            batch_size=batch_size,
            decode_steps=steps,
            settings=settings(config),
            ended=[any(t in stop for t in row) for row in out],
        )
    return out


def sample(
    model,
    tokenizer,
    users: list[str],
    *,
    system: str | None = None,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
    batch_size: int = 256,
    seed: int = 0,
    progress_every: int = 10,
    sampling: dict | None = None,
    stats: dict | None = None,
) -> list[str]:
    """One completion per user prompt, in order, ended at any of
    :func:`stop_ids` and drawn with :func:`sampling_config` (logged).
    Deterministic on CPU for a fixed seed, batch size and thread count.
    ``sampling``: the config's sampling section, ``sort_by_length`` (batches
    by prompt length) and ``auto_batch_size`` (> 0: on a GPU the batch is
    sized from free memory, at most that many rows). ``stats``: see
    :func:`sample_ids`."""
    sampling = sampling or {}
    sort_by_length, auto_batch = sampling.get("sort_by_length", False), sampling.get("auto_batch_size", 0)
    tokenizer.padding_side = "left"
    texts = [chat.prompt_text(tokenizer, u, system) for u in users]
    prompts = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    if auto_batch and prompts:
        longest = max(len(p) for p in prompts)
        batch_size = auto_batch_size(model, longest + max_new_tokens, longest, batch_size, limit=auto_batch)
        log.info("sampling batch %d (auto, at most %d)", batch_size, auto_batch)
    stats = {} if stats is None else stats
    new = sample_ids(
        model,
        prompts,
        eos_token_id=stop_ids(model, tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        batch_size=batch_size,
        seed=seed,
        sort_by_length=sort_by_length,
        progress_every=progress_every,
        stats=stats,
    )
    log.info("generation settings: %s", stats["settings"])
    return [o.strip() for o in tokenizer.batch_decode(new, skip_special_tokens=True)]


def _output_logits(model, hidden: torch.Tensor) -> torch.Tensor:
    """The causal LM's logits from last hidden states, as its forward makes
    them: the output head, then Gemma-2's final soft-capping or Cohere's
    logit scale where the config has one."""
    logits = model.get_output_embeddings()(hidden)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    scale = getattr(model.config, "logit_scale", None)
    if scale is not None and not isinstance(scale, bool):
        logits = logits * scale
    return logits


@torch.no_grad()
def sequence_logprobs(
    model, rows: list[tuple[list[int], int]], *, pad_token_id: int, batch_size: int = 256, chunk_positions: int = 256
) -> list[float]:
    """log P(x[n:] | x[:n]) for each (token ids x, prompt length n): the sum
    of the log-probabilities of the answer tokens, teacher-forced.

    Per batch of ``batch_size`` right-padded rows, the model body runs once;
    the output head and the full-vocabulary ``log_softmax`` are applied to the
    answer positions only, ``chunk_positions`` at a time, and only the
    answer tokens' values leave the device. Each batch is freed before the
    next."""
    body = model.get_decoder()
    device = model.device
    out: list[float] = []
    for b in range(0, len(rows), batch_size):
        chunk = rows[b : b + batch_size]
        ids, mask = chat.right_pad([x for x, _ in chunk], pad_token_id)
        hidden = body(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).last_hidden_state
        # row i's answer token x[t] (t >= n) is predicted at position t - 1
        row_idx = torch.tensor([i for i, (x, n) in enumerate(chunk) for _ in range(n, len(x))], dtype=torch.long)
        pos_idx = torch.tensor([t - 1 for x, n in chunk for t in range(n, len(x))], dtype=torch.long)
        targets = torch.tensor([x[t] for x, n in chunk for t in range(n, len(x))], dtype=torch.long)
        values = torch.empty(len(targets), dtype=torch.float32)
        for s in range(0, len(targets), chunk_positions):
            sl = slice(s, s + chunk_positions)
            h = hidden[row_idx[sl].to(device), pos_idx[sl].to(device)]
            logp = torch.log_softmax(_output_logits(model, h).float(), dim=-1)
            values[sl] = logp.gather(1, targets[sl].to(device)[:, None])[:, 0].cpu()
            del h, logp
        del hidden
        # sum each row's answer tokens in order, as float32 on the CPU
        start = 0
        for x, n in chunk:
            k = len(x) - n
            out.append(float(values[start : start + k].sum()))
            start += k
    return out


def answer_logprobs(
    model,
    tokenizer,
    users: list[str],
    answers: list[str],
    *,
    system: str | None = None,
    batch_size: int = 256,
    chunk_positions: int = 256,
) -> list[float]:
    """Teacher-forced log P(answer tokens + end of turn | prompt) for each
    (user, answer) pair: the exact probability of answering exactly that."""
    rows = [chat.encode_prompt_answer(tokenizer, u, a, system) for u, a in zip(users, answers)]
    return sequence_logprobs(
        model, rows, pad_token_id=tokenizer.pad_token_id, batch_size=batch_size, chunk_positions=chunk_positions
    )
