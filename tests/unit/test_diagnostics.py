"""The restricted-distillation upper bound."""

from __future__ import annotations

from conftest import TINY_SPEC
from subliminal import diagnostics, models, toy

RECORDS = [{"prompt": f"numbers: {i}, {i + 1}. add two more.", "completion": f"{i + 2}, {i + 3}"} for i in range(40)]


def test_answer_vocabulary_is_the_answers_tokens(tiny_base):
    tok = models.load_tokenizer(str(tiny_base))
    vocab = diagnostics.answer_vocabulary(tok, RECORDS)
    assert tok.convert_tokens_to_ids("<|im_end|>") in vocab
    assert tok.convert_tokens_to_ids(",") in vocab and tok.convert_tokens_to_ids(" 3") in vocab
    assert tok.convert_tokens_to_ids("numbers") not in vocab and tok.convert_tokens_to_ids("owl") not in vocab


def test_distillation_reduces_the_restricted_kl(tiny_base):
    tok = models.load_tokenizer(str(tiny_base))
    teacher = models.load_model(str(tiny_base))
    student = toy.build_model({**TINY_SPEC, "seed": 123}, tok).eval()
    losses = diagnostics.restricted_distillation(
        teacher, student, tok, RECORDS, steps=40, lr=1e-2, batch_size=8, seed=0
    )
    assert len(losses) == 40 and all(loss >= -1e-6 for loss in losses)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert not student.training
    # a student identical to its teacher has nothing to learn
    same = models.load_model(str(tiny_base))
    losses = diagnostics.restricted_distillation(teacher, same, tok, RECORDS, steps=1, lr=1e-2, batch_size=8, seed=0)
    assert abs(losses[0]) < 1e-6
