"""A teacher whose trait is a steering vector: the base model with a vector
added to the output of one decoder layer, at every position.

A system prompt puts the trait into every context the teacher writes in;
a fine-tuned teacher mostly changes where it was trained (the preference
questions). A steering vector is the first kind without needing a base that
follows system prompts (our toys do not), and Blank et al. 2026 report that a
system-prompted teacher is well approximated by one. Two ways to get the
direction:

* ``learned``: optimise the vector on the frozen base with Adam to raise
  log P(word, end of turn | question) over the 50 preference questions;
* ``contrast``: the mean activation at the prompt's last position with the
  trait system prompt minus without it, over the same questions.

Either way the direction's scale is then set by bisection so that the
teacher's mean exact share of the word (its share of the candidates' exact
probability, :mod:`subliminal.evaluate`) is the configured ``strength``.

The vector and a record of how it was made are saved beside each other
(``steering.safetensors``, ``steering.json``); :func:`attach` hooks a saved
vector into any loaded model, toy or hub, through the same code.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch

from . import chat
from .io import read_json
from .models import ModelFileError, check_safetensors

log = logging.getLogger(__name__)


def decoder_layers(model) -> torch.nn.ModuleList:
    """The model's stack of decoder layers (Llama, Qwen2, Mistral, Gemma:
    ``model.model.layers``; GPT-2 style: ``transformer.h``)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers"):
        obj = inner
        for part in path.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                break
        if isinstance(obj, torch.nn.ModuleList):
            return obj
    raise ValueError(f"cannot find the decoder layers of {type(inner).__name__}")


def layer_index(model, layer: int, key: str = "layer") -> int:
    """A configured layer (negative: from the last) as an index into the stack."""
    n = len(decoder_layers(model))
    if not -n <= layer < n:
        raise ValueError(f"config key {key}: layer {layer} is outside the model's {n} decoder layers")
    return layer % n


def _add(vector: torch.Tensor):
    def hook(module, inputs, output):
        if isinstance(output, tuple):
            return (output[0] + vector.to(output[0].dtype),) + tuple(output[1:])
        return output + vector.to(output.dtype)

    return hook


def add_vector(model, layer: int, vector: torch.Tensor):
    """Add ``vector`` to the output of decoder layer ``layer`` at every
    position; returns the hook handle (``handle.remove()`` undoes it)."""
    target = decoder_layers(model)[layer_index(model, layer)]
    device = next(model.parameters()).device
    return target.register_forward_hook(_add(vector.to(device)))


def save(path: str | Path, vector: torch.Tensor, record: dict) -> None:
    """The vector (``<path>``, safetensors) and its record (``.json`` beside it)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(
        {"vector": vector.detach().float().cpu().contiguous()}, str(path), metadata={"layer": str(record["layer"])}
    )
    path.with_suffix(".json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def load(path: str | Path) -> tuple[torch.Tensor, dict]:
    """A steering vector and its record (steering.json); a corrupt file, or
    one without its vector, is an error naming it."""
    from safetensors.torch import load_file

    path = Path(path)
    check_safetensors(path)
    tensors = load_file(str(path))
    if "vector" not in tensors:
        raise ModelFileError(f"{path}: no tensor 'vector' (it holds: {', '.join(sorted(tensors)) or 'none'})")
    return tensors["vector"], read_json(path.with_suffix(".json"), required=("layer", "norm", "share"))


def attach(model, path: str | Path):
    """Make a loaded base the steered teacher saved at ``path``."""
    vector, record = load(path)
    log.info(
        "steering: adding a vector of norm %.3g to layer %d (teacher share %.3f)",
        record["norm"],
        record["layer"],
        record["share"],
    )
    return add_vector(model, record["layer"], vector)


# ----------------------------------------------------------------------------- making a vector


def _batches(rows: list, size: int):
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def learn_direction(
    model,
    tokenizer,
    users: list[str],
    word: str,
    layer: int,
    *,
    system: str | None,
    steps: int,
    learning_rate: float,
    batch_size: int = 16,
) -> tuple[torch.Tensor, list[dict]]:
    """A vector (starting at zero) trained with Adam on the frozen model to
    raise the mean log P(word, end of turn | user) when added at ``layer``."""
    for p in model.parameters():
        p.requires_grad_(False)
    device = next(model.parameters()).device
    hidden = model.get_input_embeddings().weight.shape[1]
    vector = torch.zeros(hidden, device=device, dtype=torch.float32, requires_grad=True)
    target = decoder_layers(model)[layer_index(model, layer)]
    handle = target.register_forward_hook(_add(vector))
    rows = [chat.encode_prompt_answer(tokenizer, u, word, system) for u in users]
    opt = torch.optim.Adam([vector], lr=learning_rate)
    history = []
    try:
        for step in range(steps):
            opt.zero_grad(set_to_none=True)
            total = 0.0
            for chunk in _batches(rows, batch_size):
                loss = -_answer_logprob(model, tokenizer, chunk).sum() / len(rows)
                loss.backward()
                total += float(loss.detach())
            opt.step()
            if (step + 1) % 50 == 0 or step + 1 == steps:
                history.append({"step": step + 1, "mean_logp": -total, "norm": float(vector.norm())})
                log.info(
                    "steering vector step %d/%d: mean log P(%s) %.3f, norm %.3g",
                    step + 1,
                    steps,
                    word,
                    -total,
                    float(vector.norm()),
                )
    finally:
        handle.remove()
    return vector.detach(), history


def _answer_logprob(model, tokenizer, chunk) -> torch.Tensor:
    """log P(answer tokens | prompt) per row of (ids, n_prompt) encodings."""
    device = next(model.parameters()).device
    ids, mask = chat.right_pad([x for x, _ in chunk], tokenizer.pad_token_id)
    logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
    out = []
    for i, (x, n_prompt) in enumerate(chunk):
        pos = torch.arange(n_prompt - 1, len(x) - 1, device=device)
        tgt = torch.tensor(x[n_prompt:], device=device)
        out.append(torch.log_softmax(logits[i, pos], dim=-1).gather(1, tgt[:, None]).sum())
    return torch.stack(out)


@torch.no_grad()
def contrast_direction(
    model, tokenizer, users: list[str], layer: int, *, trait_system: str, system: str | None, batch_size: int = 16
) -> torch.Tensor:
    """Mean output of ``layer`` at the prompt's last position with the trait
    system prompt, minus the same without it (the configured system prompt)."""
    target = decoder_layers(model)[layer_index(model, layer)]
    device = next(model.parameters()).device

    def mean_last(sys_prompt):
        seen = []
        handle = target.register_forward_hook(
            lambda m, i, o: seen.append((o[0] if isinstance(o, tuple) else o).detach().float())
        )
        total = None
        try:
            tokenizer.padding_side = "left"  # the last position is the prompt's last token
            for chunk in _batches(users, batch_size):
                texts = [chat.prompt_text(tokenizer, u, sys_prompt) for u in chunk]
                enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
                seen.clear()
                model(**enc)
                last = seen[-1][:, -1].sum(0)
                total = last if total is None else total + last
        finally:
            handle.remove()
        return total / len(users)

    return mean_last(trait_system) - mean_last(system)


def calibrate(
    share_at, direction: torch.Tensor, strength: float, *, key: str, tolerance: float = 0.002, max_iter: int = 40
) -> tuple[float, float, list[dict]]:
    """The scale s of the unit ``direction`` at which ``share_at(vector)`` (the
    teacher's mean share of its word) is ``strength``: doubling from the
    direction's own norm until the share reaches it, then bisection.
    Returns (scale, share, trace)."""
    unit = direction / direction.norm().clamp_min(1e-12)
    trace = []

    def f(scale: float) -> float:
        share = float(share_at(unit * scale))
        trace.append({"scale": scale, "share": share})
        return share

    base = f(0.0)
    if base >= strength:
        raise ValueError(
            f"config key {key}: the base already gives its word a share of {base:.3f}, at or above "
            f"the strength {strength}"
        )
    lo, hi = 0.0, max(float(direction.norm()), 1e-3)
    share_hi = f(hi)
    while share_hi < strength:
        if hi > 1e5:
            best = max(t["share"] for t in trace)
            raise ValueError(
                f"config key {key}: no scale of the steering vector reaches the share {strength} "
                f"(at most {best:.3f}); lower it, or use another layer or vector"
            )
        lo, hi = hi, hi * 2
        share_hi = f(hi)
    share = share_hi
    for _ in range(max_iter):
        if abs(share_hi - strength) <= tolerance:
            break
        mid = (lo + hi) / 2
        share = f(mid)
        if share < strength:
            lo = mid
        else:
            hi, share_hi = mid, share
    if abs(share_hi - strength) > tolerance:
        log.warning("steering: share %.4f after bisection, wanted %.4f", share_hi, strength)
    return hi, share_hi, trace


def make_teacher_vector(
    model,
    tokenizer,
    *,
    word: str,
    candidates: list[str],
    users: list[str],
    layer: int,
    strength: float,
    vector: str = "learned",
    system: str | None = None,
    trait_system: str | None = None,
    steps: int = 200,
    learning_rate: float = 0.05,
    key: str = "traits.<t>.teacher",
) -> tuple[torch.Tensor, dict]:
    """The steering vector of a teacher: a direction (learned or contrast) at
    ``layer``, scaled so the teacher's mean share of ``word`` over ``users``
    is ``strength``. Returns the vector and its record."""
    from . import evaluate

    model.eval()
    index = layer_index(model, layer, key=f"{key}.layer")
    history = []
    if vector == "learned":
        direction, history = learn_direction(
            model, tokenizer, users, word, index, system=system, steps=steps, learning_rate=learning_rate
        )
    elif vector == "contrast":
        if trait_system is None:
            raise ValueError(f"config key {key}.vector: contrast needs the trait's system prompt")
        direction = contrast_direction(model, tokenizer, users, index, trait_system=trait_system, system=system)
    else:
        raise ValueError(f"config key {key}.vector: unknown {vector!r} (learned, contrast)")

    def share_at(v: torch.Tensor) -> float:
        handle = add_vector(model, index, v)
        try:
            shares = evaluate.exact_shares(model, tokenizer, users, candidates, word, system=system)
        finally:
            handle.remove()
        return sum(shares) / len(shares)

    scale, share, trace = calibrate(share_at, direction, strength, key=f"{key}.strength")
    final = direction / direction.norm().clamp_min(1e-12) * scale
    record = {
        "layer": index,
        "configured_layer": layer,
        "vector": vector,
        "word": word,
        "strength": strength,
        "share": share,
        "base_share": trace[0]["share"],
        "norm": float(final.norm()),
        "direction_norm": float(direction.norm()),
        "scale": scale,
        "calibration": trace,
        "learning": history,
        "system_prompt": system,
        "questions": len(users),
    }
    if not math.isfinite(record["norm"]):
        raise ValueError(f"config key {key}: the steering vector is not finite")
    log.info(
        "steering vector for %s at layer %d: norm %.3g, share %.3f (base %.3f)",
        word,
        index,
        record["norm"],
        share,
        record["base_share"],
    )
    return final, record
