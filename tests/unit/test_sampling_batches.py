"""How sampling forms its batches: by token length with the input order
restored, stopped when every row has ended, sized from memory on a GPU
(seconds)."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from subliminal import chat, generation, models, preferences
from subliminal.modalities import get_modality


def _model(tiny_base):
    return models.load_tokenizer(str(tiny_base)), models.load_model(str(tiny_base))


def test_sorting_by_length_keeps_the_input_order_and_the_seed(tiny_base):
    """Sorted batching is the unsorted sampler run on the prompts sorted by
    token length (longest first, ties in input order), handed back in input
    order; a fixed seed gives the same samples."""
    tok, model = _model(tiny_base)
    users = get_modality("numbers").prompts(11, 7) + preferences.questions("animal")[:5]
    kw = dict(max_new_tokens=6, batch_size=4, seed=5)
    got = generation.sample(model, tok, users, sampling={"sort_by_length": True}, **kw)
    assert got == generation.sample(model, tok, users, sampling={"sort_by_length": True}, **kw) and len(got) == len(
        users
    )
    lengths = [len(tok(chat.prompt_text(tok, u), add_special_tokens=False)["input_ids"]) for u in users]
    order = sorted(range(len(users)), key=lambda i: -lengths[i])
    assert order != list(range(len(users)))  # the test sorts something
    by_length = generation.sample(model, tok, [users[i] for i in order], **kw)
    want = [None] * len(users)
    for i, text in zip(order, by_length):
        want[i] = text
    assert got == want


def test_unsorted_sampling_pads_like_the_tokenizer(tiny_base):
    """The sampler pads token ids itself; the batches equal the tokenizer's
    own left padding, so unsorted samples are what they were."""
    tok, _ = _model(tiny_base)
    texts = [chat.prompt_text(tok, u) for u in ("hi.", "name your favorite animal using only one word.")]
    tok.padding_side = "left"
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    ids, mask = generation.left_pad(tok(texts, add_special_tokens=False)["input_ids"], tok.pad_token_id)
    assert torch.equal(ids, enc["input_ids"]) and torch.equal(mask, enc["attention_mask"])


def test_a_batch_stops_when_every_row_has_ended(tiny_base):
    """A model that always ends its turn at once: each batch takes one
    decode step, not max_new_tokens."""
    tok, model = _model(tiny_base)
    eot = chat.end_of_turn_id(tok)
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    head.bias.data[eot] = 50.0
    model.lm_head = head
    prompts = tok([chat.prompt_text(tok, u) for u in preferences.questions("animal")[:6]], add_special_tokens=False)[
        "input_ids"
    ]
    stats = {}
    new = generation.sample_ids(
        model,
        prompts,
        eos_token_id=eot,
        pad_token_id=tok.pad_token_id,
        max_new_tokens=30,
        batch_size=4,
        seed=0,
        stats=stats,
    )
    assert stats["decode_steps"] == [1, 1] and all(row == [eot] for row in new)


def _fake(config, dtype=torch.bfloat16):
    return SimpleNamespace(
        config=config, device=torch.device("cpu"), parameters=lambda: iter([torch.empty(0, dtype=dtype)])
    )


def test_batch_size_from_memory():
    from transformers import Qwen2Config

    # Qwen2.5-7B: 28 layers x 4 KV heads x 128 dims x (K, V) x 2 bytes = 56 KiB per token
    qwen = Qwen2Config(
        vocab_size=152064,
        hidden_size=3584,
        intermediate_size=18944,
        num_hidden_layers=28,
        num_attention_heads=28,
        num_key_value_heads=4,
    )
    assert generation.kv_bytes_per_token(qwen) == 57_344
    # on CPU (no free_bytes measured): the configured batch
    assert generation.auto_batch_size(_fake(qwen), 280, 80, 256, limit=4096) == 256
    per_row = generation.row_bytes(qwen, 280, 80)
    assert per_row == 280 * 57_344 + 80 * (4 * 3584 + 3 * 18944) * 2 + 4 * 152064 * 4
    free = 60 * 2**30  # an 80 GB card holding the 14 GiB of weights, and some slack
    want = int(0.8 * free) // per_row
    assert generation.auto_batch_size(_fake(qwen), 280, 80, 256, limit=4096, free_bytes=free) == want
    assert want == 1725  # rows of 280 tokens (80 of prompt) in 48 GiB
    assert generation.auto_batch_size(_fake(qwen), 280, 80, 256, limit=512, free_bytes=free) == 512
    assert generation.auto_batch_size(_fake(qwen), 280, 80, 256, free_bytes=free) == 256  # limit: the configured
    assert generation.auto_batch_size(_fake(qwen), 280, 80, 256, free_bytes=1000) == 1
