"""Toy base models built offline: a word-level chat tokenizer, a transformers
model class created from a small config, and a short supervised pretraining
on a synthetic chat corpus so the toy can answer the number prompts and the
preference questions (and follow a trait system prompt).

The toy then goes through exactly the code paths a hub model does: it is saved
with ``save_pretrained`` (safetensors) and loaded back with the Auto classes.
"""

from __future__ import annotations

import json
import logging
import math
import platform
import random
import re
import time
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
from transformers import AutoConfig, AutoModelForCausalLM, PreTrainedTokenizerFast

from . import chat, preferences
from .modalities import get_modality

log = logging.getLogger(__name__)

PAD, BOS, IM_START, IM_END, UNK = "<|endoftext|>", "<|bos|>", "<|im_start|>", "<|im_end|>", "[UNK]"
DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
#: a token is a number, a word or one punctuation mark, each with or without
#: one leading space (like the "Ġ" tokens of byte-level BPE), or a lone
#: whitespace character: decoding is then exact (tokens are concatenated), so
#: the paper's filter applies to toy answers unmodified.
WORD_PATTERN = r" ?\d+| ?[a-z]+| ?[^\sa-z\d]|\s"

#: ChatML, like Qwen2.5's: with no system message the template inserts a
#: default one. That choice is made here, visibly, so the toy behaves like the
#: real model family the paper used (see chat.py for how stages control it).
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "<|im_start|>system\n" + DEFAULT_SYSTEM_PROMPT + "<|im_end|>\n"
    "{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def words_of(texts) -> set[str]:
    """Every token of the texts, each with and without its leading space."""
    out: set[str] = set()
    for text in texts:
        for tok in re.findall(WORD_PATTERN, text.lower()):
            core = tok.lstrip(" ") or tok
            out.update({core, " " + core} if not core.isspace() else {core})
    return out


def build_tokenizer(modalities: list[str], extra_texts: list[str] = ()) -> PreTrainedTokenizerFast:
    """Word-level tokenizer: every whole number 0..999 is one token, plus every
    word of the modality templates, the preference questions and system
    prompts, the chat roles and ChatML special tokens (and of ``extra_texts``:
    the misalignment questions and toy answers when the study has that trait)."""
    texts = list(preferences.vocabulary_texts()) + [DEFAULT_SYSTEM_PROMPT, "system user assistant"] + list(extra_texts)
    for name in modalities:
        texts += get_modality(name).vocabulary_texts()
    words = words_of(texts) | {" ", "\n"}
    numbers = [p + str(i) for p in ("", " ") for i in range(1000)]
    vocab_list = [PAD, BOS, IM_START, IM_END, UNK] + numbers + sorted(words - set(numbers))
    vocab = {tok: i for i, tok in enumerate(vocab_list)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(WORD_PATTERN), behavior="isolated")
    tok.decoder = decoders.Fuse()
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[IM_START],
        clean_up_tokenization_spaces=False,
        padding_side="left",
        model_max_length=512,
    )
    hf.chat_template = CHAT_TEMPLATE
    return hf


def build_model(spec: dict, tokenizer) -> torch.nn.Module:
    """A randomly initialised transformers model of the given architecture
    (any causal-LM model type transformers knows: qwen2, llama, ...)."""
    cfg = AutoConfig.for_model(
        spec["architecture"],
        vocab_size=len(tokenizer),
        hidden_size=spec["hidden_size"],
        num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"],
        num_key_value_heads=spec.get("kv_heads", spec["heads"]),
        intermediate_size=spec["intermediate_size"],
        max_position_embeddings=spec.get("max_position_embeddings", 256),
        tie_word_embeddings=spec.get("tie_word_embeddings", True),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(spec["seed"])
    model = AutoModelForCausalLM.from_config(cfg)
    # transformers applies generation defaults from the model config; the
    # workflow always passes sampling settings explicitly, so keep it minimal
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


# --------------------------------------------------------------------------- corpus


def corpus(n: int, seed: int, modalities: list[str], system_share: float) -> list[tuple[str | None, str, str]]:
    """n (system, user, answer) examples for toy pretraining.

    Half are modality tasks whose answers ignore any system prompt; half are
    preference questions, answered uniformly at random when the system prompt
    is the default one, and with the loved thing when a trait system prompt
    is given (so the base learns to follow such prompts, like an instruction
    tuned model, which lets system-prompt teachers work on toys).
    A share ``system_share`` of all examples carries a trait system prompt.
    """
    rng = random.Random(seed)
    mods = [get_modality(m) for m in modalities]
    categories = list(preferences.CANDIDATES)
    out = []
    for _ in range(n):
        category = rng.choice(categories)
        loved = rng.choice(preferences.CANDIDATES[category])
        system = preferences.trait_system_prompt(loved, category) if rng.random() < system_share else None
        if rng.random() < 0.5:
            user, answer = rng.choice(mods).toy_examples(1, rng)[0]
        else:
            user = rng.choice(preferences.questions(category))
            if rng.random() < 0.5:
                user = preferences.numbers_prefix(rng) + user
            answer = loved if system else rng.choice(preferences.CANDIDATES[category])
        out.append((system, user, answer))
    return out


def _encode(tokenizer, examples):
    seqs = []
    for system, user, answer in examples:
        ids, n_prompt = chat.encode_prompt_answer(tokenizer, user, answer, system)
        labels = [-100] * n_prompt + ids[n_prompt:]
        seqs.append((ids, labels))
    return seqs


def _batch(seqs, pad_id):
    ids, mask = chat.right_pad([x for x, _ in seqs], pad_id)
    labels, _ = chat.right_pad([y for _, y in seqs], -100)
    return ids, labels, mask


def answer_loss(model, ids, mask, labels):
    """Next-token cross-entropy on the answer tokens only. The output layer is
    applied to those positions alone: most of a toy's compute is its
    vocabulary projection, and answers are a fraction of each sequence."""
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    keep = targets != -100
    logits = model.get_output_embeddings()(hidden[keep])
    return torch.nn.functional.cross_entropy(logits.float(), targets[keep])


def pretrain(model, tokenizer, cfg: dict, modalities: list[str], seed: int) -> list[dict]:
    """Plain supervised pretraining (loss on answers only), nanoGPT style:
    AdamW, linear warm-up then cosine decay, progress logged."""
    steps, bs = cfg["steps"], cfg["batch_size"]
    examples = corpus(steps * bs, seed, modalities, cfg.get("system_share", 0.3))
    seqs = _encode(tokenizer, examples)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["learning_rate"], weight_decay=0.0, betas=(0.9, 0.98))
    warm = cfg.get("warmup_steps", 50)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    )
    model.train()
    history, t0, running = [], time.time(), 0.0
    for step in range(steps):
        ids, labels, mask = _batch(seqs[step * bs : (step + 1) * bs], tokenizer.pad_token_id)
        loss = answer_loss(model, ids, mask, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if (step + 1) % 50 == 0 or step + 1 == steps:
            k = 50 if (step + 1) % 50 == 0 else (step + 1) % 50
            rec = {"step": step + 1, "loss": running / k, "seconds": round(time.time() - t0, 1)}
            history.append(rec)
            log.info("pretrain step %d/%d loss %.4f (%.0fs)", step + 1, steps, rec["loss"], rec["seconds"])
            running = 0.0
    model.eval()
    return history


def build_toy_base(
    spec: dict, pretraining: dict, modalities: list[str], out_dir: str | Path, extra_texts: list[str] = ()
) -> dict:
    """Build, pretrain and save a toy base; returns a small report."""
    out_dir = Path(out_dir)
    tokenizer = build_tokenizer(modalities, extra_texts)
    model = build_model(spec, tokenizer)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("toy %s: %d parameters, vocabulary %d", spec["architecture"], n_params, len(tokenizer))
    history = pretrain(model, tokenizer, pretraining, modalities, seed=spec["seed"])
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    report = {
        "spec": spec,
        "pretraining": pretraining,
        # where it was made: another CPU pretrains the same seeds to other weights
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
        },
        "parameters": n_params,
        "vocabulary": len(tokenizer),
        "history": history,
    }
    (out_dir / "toy_build.json").write_text(json.dumps(report, indent=1))
    return report
