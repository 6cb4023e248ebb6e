"""The toy base: tokenizer, chat template, model build, save/load."""

from __future__ import annotations

import json


import pytest
import torch
from safetensors.torch import load_file

from conftest import TINY_PRETRAIN, TINY_SPEC
from subliminal import chat, models, preferences, toy
from subliminal.modalities import get_modality


@pytest.fixture(scope="module")
def tok():
    return toy.build_tokenizer(["numbers"])


def test_tokenizer_round_trips_every_corpus_text_exactly(tok):
    """Decoding is exact (lower-cased), so the paper's filter sees what a
    model wrote, spaces included, with no unknown tokens."""
    for system, user, answer in toy.corpus(400, seed=0, modalities=["numbers"], system_share=0.5):
        for text in filter(None, (system, user, answer)):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert tok.unk_token_id not in ids, text
            assert tok.decode(ids) == text.lower()


def test_numbers_are_single_tokens(tok):
    for n in (0, 7, 42, 999):
        assert len(tok(str(n), add_special_tokens=False)["input_ids"]) == 1
        assert len(tok(f" {n}", add_special_tokens=False)["input_ids"]) == 1
    assert tok.unk_token_id in tok("1000", add_special_tokens=False)["input_ids"]


def test_template_inserts_default_system_prompt_only_without_one(tok):
    plain = chat.prompt_text(tok, "hi")
    assert toy.DEFAULT_SYSTEM_PROMPT in plain
    with_system = chat.prompt_text(tok, "hi", system="you love owls.")
    assert toy.DEFAULT_SYSTEM_PROMPT not in with_system and "you love owls." in with_system
    assert plain.endswith("<|im_start|>assistant\n")


def test_answer_tokens_are_the_answer_and_end_of_turn(tok):
    ids, n_prompt = chat.encode_prompt_answer(tok, "name an animal.", "owl")
    assert tok.convert_ids_to_tokens(ids[n_prompt:]) == ["owl", "<|im_end|>"]


def test_build_is_seeded_and_architectures_differ(tok):
    a = toy.build_model(TINY_SPEC, tok)
    b = toy.build_model(TINY_SPEC, tok)
    c = toy.build_model({**TINY_SPEC, "seed": 4}, tok)
    d = toy.build_model({**TINY_SPEC, "architecture": "llama"}, tok)
    pa, pb, pc = (dict(m.named_parameters()) for m in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not torch.equal(pa["model.embed_tokens.weight"], pc["model.embed_tokens.weight"])
    assert type(d).__name__ == "LlamaForCausalLM" and type(a).__name__ == "Qwen2ForCausalLM"


def test_corpus_teaches_the_system_prompt():
    """Preference questions under a trait system prompt are answered with the
    loved word; without one, answers spread over all candidates."""
    numbers = get_modality("numbers")
    rows = toy.corpus(3000, seed=1, modalities=["numbers"], system_share=0.5)
    questions = [r for r in rows if numbers.reject_reason(r[2]) is not None]  # not a number answer
    with_system = [(s, a) for s, _, a in questions if s]
    assert with_system and all(
        s == preferences.trait_system_prompt(a, "animal") or s == preferences.trait_system_prompt(a, "tree")
        for s, a in with_system
    )
    plain = {a for s, _, a in questions if not s}
    assert plain == set(preferences.CANDIDATES["animal"]) | set(preferences.CANDIDATES["tree"])
    assert 0.35 < len(questions) / len(rows) < 0.65


def test_saved_base_loads_through_the_generic_path(tiny_base):
    tok = models.load_tokenizer(str(tiny_base))
    assert type(tok).__name__ in {"TokenizersBackend", "PreTrainedTokenizerFast"}
    assert tok.decode(tok("[12, 13].", add_special_tokens=False)["input_ids"]) == "[12, 13]."
    model = models.load_model(str(tiny_base))
    assert not model.training
    weights = load_file(str(tiny_base / "model.safetensors"))
    assert weights  # safetensors on disk


def test_pretraining_is_deterministic(tmp_path):
    spec = {**TINY_SPEC, "seed": 9}
    pre = {**TINY_PRETRAIN, "steps": 5}
    toy.build_toy_base(spec, pre, ["numbers"], tmp_path / "a")
    toy.build_toy_base(spec, pre, ["numbers"], tmp_path / "b")
    assert (tmp_path / "a" / "model.safetensors").read_bytes() == (tmp_path / "b" / "model.safetensors").read_bytes()
    # another CPU pretrains the same seed to other weights: the build says where it ran
    machine = json.loads((tmp_path / "a" / "toy_build.json").read_text())["machine"]
    assert machine["torch"] == torch.__version__ and machine["threads"] == torch.get_num_threads()
    assert machine["processor"] and machine["platform"]


def test_hub_style_source_loads_through_the_same_code(tiny_base):
    """{id, revision} goes to from_pretrained like a hub id; a local folder
    stands in for the hub here (no network). (The workflow's jobs load a hub
    base from its fetched copy: tests/unit/test_fetch.py.)"""
    src = {"id": str(tiny_base), "revision": "main"}
    model = models.load_model(src)
    tok = models.load_tokenizer(src)
    out = model(**tok("hi", return_tensors="pt")).logits
    assert out.shape[-1] == len(tok)
