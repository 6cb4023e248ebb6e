"""A teacher's number answers get at most the decode steps the filter could
keep (the longest kept answer and its end of turn), a sample cut there is
rejected as "truncated", and the teacher's log says each batch's decode
steps (seconds)."""

from __future__ import annotations

import logging

import torch

from subliminal import chat, models, teacher
from subliminal.modalities import get_modality


def _always(tiny_base, token: str):
    """The tiny base with an output head that always says ``token``."""
    tok, model = models.load_tokenizer(str(tiny_base)), models.load_model(str(tiny_base))
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    head.bias.data[tok.convert_tokens_to_ids(token)] = 50.0
    model.lm_head = head
    return tok, model


def _records(tok, model):
    return teacher.generate_records(
        model, tok, "numbers", 6, 0, system=None, max_new_tokens=200, batch_size=4, options={}
    )


def test_a_sample_that_never_ends_is_cut_at_the_cap_and_rejected(tiny_base, caplog):
    tok, model = _always(tiny_base, " 7")
    cap = get_modality("numbers").max_new_tokens_cap
    with caplog.at_level(logging.INFO, logger="subliminal.teacher"):
        records = _records(tok, model)
    assert all(r["truncated"] for r in records) and len(records) == 6
    # cut at the cap: cap tokens of " 7", no end of turn
    assert all(r["completion"] == " ".join(["7"] * cap) for r in records)
    assert f"max_new_tokens 200 lowered to {cap}" in caplog.text
    assert f"decode steps per batch (at most {cap}): [{cap}, {cap}]; 6 of 6 samples ran into" in caplog.text
    kept, report = teacher.filter_records(records, "numbers")
    assert kept == [] and report["reasons"] == {"truncated": 6}


def test_an_ended_sample_carries_no_mark(tiny_base, caplog):
    """Rows that end (here at once) are written as before: no new key, one
    decode step per batch."""
    tok, model = _always(tiny_base, "<|im_end|>")
    assert tok.convert_tokens_to_ids("<|im_end|>") == chat.end_of_turn_id(tok)
    with caplog.at_level(logging.INFO, logger="subliminal.teacher"):
        records = _records(tok, model)
    assert all(set(r) == {"prompt", "id", "completion"} for r in records)
    assert "decode steps per batch (at most 61): [1, 1]; 0 of 6 samples" in caplog.text
