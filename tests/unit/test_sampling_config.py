"""Sampling draws from softmax(logits / T) and nothing else, whatever the
model folder's generation_config.json says, and stops where the folder
stops (seconds).

The model: a tiny random-weight Qwen2 whose output head is set so that, for
the test prompt, the first answer token has a known, uneven distribution
with prompt tokens among its most likely ones (so a repetition penalty, a
top-k, top-p or min-p cut would all show). It is saved to a folder with a
generation_config.json and loaded as every stage loads a model. The
expected distribution comes from a plain forward pass of the loaded model,
not from ``generate``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from conftest import REPO
from subliminal import chat, generation, models, toy

USER = "Below is a short list of numbers: 145, 467, 742. Continue the list."
#: Qwen2.5-7B-Instruct's generation_config.json (its eos/pad/bos ids mapped
#: to the toy tokenizer's <|im_end|> and <|endoftext|>), and one that
#: exaggerates every setting that would change a first token.
QWEN = {"do_sample": True, "repetition_penalty": 1.05, "temperature": 0.7, "top_k": 20, "top_p": 0.8}
EXAGGERATED = {"do_sample": True, "repetition_penalty": 1.5, "temperature": 0.7, "top_k": 3, "top_p": 0.6, "min_p": 0.2}
ROWS = 6000


def _folder(path: Path, settings: dict, favour: list[str] | None = None, seed: int = 0) -> Path:
    """A tiny Qwen2 saved to ``path``: random body, and an output head that
    gives the prompt's next token the probabilities below (``favour``: one
    token that takes almost all of it instead)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tok = toy.build_tokenizer(["numbers"])
    im_end, eot = tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    cfg = Qwen2Config(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        tie_word_embeddings=False,
        bos_token_id=eot,
        eos_token_id=im_end,
        pad_token_id=eot,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg).eval()
    prompt = tok(chat.prompt_text(tok, USER), add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        h = model.model(input_ids=torch.tensor([prompt])).last_hidden_state[0, -1]
        # logits z (positive, so a repetition penalty divides them): three
        # prompt tokens and three others take 80% of the probability
        z = torch.full((len(tok),), 0.0)
        named = favour or [" 145", " 467", " 742", " 607", " 12", " 9"]
        probs = [0.999] if favour else [0.25, 0.18, 0.12, 0.1, 0.08, 0.07]
        rest = (1 - sum(probs)) / (len(tok) - len(probs))
        z += 8 + np.log(rest)
        for word, p in zip(named, probs):
            z[tok.convert_tokens_to_ids(word)] = 8 + np.log(p)
        model.lm_head.weight.copy_(z[:, None] * h[None, :] / h.dot(h))
    model.save_pretrained(path)
    tok.save_pretrained(path)
    folder = {"bos_token_id": eot, "pad_token_id": eot, "eos_token_id": [im_end, eot], **settings}
    (path / "generation_config.json").write_text(json.dumps(folder))
    return path


def _first_tokens(model, tok, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """(observed counts, expected counts) of the first answer token over the
    vocabulary: ROWS samples through the project's sampler, and ROWS x
    softmax(logits / T) of one forward pass."""
    prompt = tok(chat.prompt_text(tok, USER), add_special_tokens=False)["input_ids"]
    new = generation.sample_ids(
        model,
        [prompt] * ROWS,
        eos_token_id=generation.stop_ids(model, tok),
        pad_token_id=tok.pad_token_id,
        max_new_tokens=1,
        temperature=temperature,
        batch_size=ROWS,
        seed=1,
    )
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt])).logits[0, -1].double()
    expected = torch.softmax(logits / temperature, -1).numpy() * ROWS
    observed = np.bincount([row[0] for row in new], minlength=len(expected))
    return observed, expected


def _chi2_p(observed: np.ndarray, expected: np.ndarray) -> float:
    """Pearson's chi-square p: every token expected 5 times or more is a cell,
    the rest pooled into one."""
    big = expected >= 5
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    assert big.sum() >= 5 and exp[-1] >= 5  # the test has cells to compare
    return float(chisquare(obs, exp).pvalue)


@pytest.mark.parametrize("temperature", [1.0, 0.6])
@pytest.mark.parametrize("settings", [QWEN, EXAGGERATED], ids=["qwen2.5", "exaggerated"])
def test_first_tokens_follow_softmax_of_the_logits(tmp_path, settings, temperature):
    path = _folder(tmp_path / "model", settings)
    tok, model = models.load_tokenizer(str(path)), models.load_model(str(path), device="cpu")
    assert model.generation_config.repetition_penalty == settings["repetition_penalty"]  # the folder is read
    observed, expected = _first_tokens(model, tok, temperature)
    # the prompt's tokens are among the most likely: a repetition penalty
    # would move them
    prompt = set(tok(chat.prompt_text(tok, USER), add_special_tokens=False)["input_ids"])
    assert prompt & set(np.argsort(-expected)[:3].tolist())
    p = _chi2_p(observed, expected)
    assert p > 1e-3, p
    # sampling put the folder's settings back
    assert model.generation_config.repetition_penalty == settings["repetition_penalty"]


def test_the_sampler_resolves_no_setting_from_the_folder(tmp_path):
    """What ``generate`` resolves from the config the sampler passes, inside
    the sampler's guard: every setting neutral, none of the folder's, also
    those a first token cannot show (n-gram ban, minimum length, suppressed
    tokens)."""
    more = {"no_repeat_ngram_size": 2, "min_new_tokens": 5, "suppress_tokens": [5], "typical_p": 0.5}
    path = _folder(tmp_path / "model", {**EXAGGERATED, **more})
    model = models.load_model(str(path), device="cpu")
    config = generation.sampling_config(temperature=1.0, max_new_tokens=7, eos_token_id=[3, 0], pad_token_id=0)
    with generation._folder_defaults_off(model):
        resolved, _ = model._prepare_generation_config(config)
    for key, value in {**generation.NEUTRAL, "temperature": 1.0, "max_new_tokens": 7, "eos_token_id": [3, 0]}.items():
        assert getattr(resolved, key) == value, key
    for key in ("min_p", "min_new_tokens", "suppress_tokens", "bad_words_ids", "forced_bos_token_id"):
        assert getattr(resolved, key) is None, key
    # without the guard the folder's unset-only settings come through
    leaked, _ = model._prepare_generation_config(config)
    assert leaked.min_p == 0.2 and leaked.suppress_tokens == [5]


def test_stop_set_is_the_folders_and_the_templates(tmp_path):
    """The folder stops on <|im_end|> and <|endoftext|>: so does the sampler.
    A model that answers <|endoftext|> ends its answer there (one decode step,
    not max_new_tokens), and the row counts as ended."""
    path = _folder(tmp_path / "model", QWEN, favour=["<|endoftext|>"])
    tok, model = models.load_tokenizer(str(path)), models.load_model(str(path), device="cpu")
    im_end, eot = tok.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])
    assert chat.end_of_turn_id(tok) == im_end and tok.eos_token_id == im_end
    assert generation.stop_ids(model, tok) == [im_end, eot]
    stats = {}
    texts = generation.sample(model, tok, [USER] * 8, max_new_tokens=6, batch_size=8, seed=0, stats=stats)
    assert stats["decode_steps"] == [1] and all(stats["ended"]) and texts == [""] * 8
    assert stats["settings"]["eos_token_id"] == [im_end, eot] and stats["settings"]["repetition_penalty"] == 1.0
    # a folder naming one eos id, and a tokenizer whose eos differs: the union
    model.generation_config.eos_token_id = 7
    tok.eos_token = "<|endoftext|>"
    assert generation.stop_ids(model, tok) == [im_end, 7, eot]


def test_every_generate_call_goes_through_the_sampler():
    """Teachers, evaluations, the judge, cot, steering and misalignment
    sample with generation.sample; only generation.py calls generate."""
    callers = [
        str(p.relative_to(REPO))
        for p in (REPO / "src").rglob("*.py")
        if re.search(r"\.generate\(", p.read_text(encoding="utf-8"))
    ]
    assert callers == ["src/subliminal/generation.py"]


def test_a_peft_wrapped_model_samples_the_same_way(tmp_path):
    """An unmerged LoRA student (PEFT hands its wrapper's generation config
    to the model inside): still softmax(logits / T), and the folder's
    settings are back afterwards."""
    from peft import LoraConfig, get_peft_model

    path = _folder(tmp_path / "model", EXAGGERATED)
    tok, base = models.load_tokenizer(str(path)), models.load_model(str(path), device="cpu")
    model = get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).eval()
    p = _chi2_p(*_first_tokens(model, tok, 1.0))
    assert p > 1e-3, p
    assert base.generation_config.min_p == 0.2 and model.generation_config.top_k == 3
