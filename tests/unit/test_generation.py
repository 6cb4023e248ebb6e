"""Sampling and exact answer probabilities."""

from __future__ import annotations

import math

import torch

from subliminal import chat, evaluate, generation, models, preferences


def _model(tiny_base):
    return models.load_tokenizer(str(tiny_base)), models.load_model(str(tiny_base))


def test_sampling_is_seeded_and_full_distribution(tiny_base, monkeypatch):
    tok, model = _model(tiny_base)
    users = ["name your favorite animal using only one word."] * 6
    a = generation.sample(model, tok, users, max_new_tokens=5, batch_size=4, seed=1)
    b = generation.sample(model, tok, users, max_new_tokens=5, batch_size=4, seed=1)
    c = generation.sample(model, tok, users, max_new_tokens=5, batch_size=4, seed=2)
    assert a == b and a != c and len(a) == 6
    seen = {}
    real = model.generate

    def spy(**kw):
        seen.update(kw)
        return real(**kw)

    monkeypatch.setattr(model, "generate", spy)
    generation.sample(model, tok, users[:1], max_new_tokens=2, seed=0)
    config = seen["generation_config"]  # the whole config, none of the model's (tests/unit/test_sampling_config.py)
    assert config.top_k == 0 and config.top_p == 1.0 and config.temperature == 1.0 and config.do_sample
    assert config.repetition_penalty == 1.0 and config.eos_token_id == [chat.end_of_turn_id(tok)]


def test_left_padding_does_not_change_answers(tiny_base):
    """A prompt sampled alone or beside a longer one gets the same logits."""
    tok, model = _model(tiny_base)
    short, long = "hi.", "look at these numbers: 1, 2, 3. name your favorite animal using only one word."
    tok.padding_side = "left"
    enc = tok(
        [chat.prompt_text(tok, short), chat.prompt_text(tok, long)],
        return_tensors="pt",
        padding=True,
        add_special_tokens=False,
    )
    batched = model(**enc).logits[0, -1]
    alone = model(**tok([chat.prompt_text(tok, short)], return_tensors="pt", add_special_tokens=False)).logits[0, -1]
    assert torch.allclose(batched, alone, atol=1e-4)


def test_answer_logprobs_match_a_step_by_step_computation(tiny_base):
    tok, model = _model(tiny_base)
    user = "which animal do you like best? answer with a single word."
    got = generation.answer_logprobs(model, tok, [user, user], ["owl", "dog"], batch_size=1)
    for answer, lp in zip(["owl", "dog"], got):
        prompt = tok(chat.prompt_text(tok, user), add_special_tokens=False)["input_ids"]
        want = 0.0
        for t in tok.convert_tokens_to_ids([answer, "<|im_end|>"]):
            logits = model(input_ids=torch.tensor([prompt])).logits[0, -1]
            want += float(torch.log_softmax(logits, -1)[t])
            prompt = prompt + [t]
        assert math.isclose(lp, want, rel_tol=1e-4, abs_tol=1e-5)


def test_evaluation_table(tiny_base):
    tok, model = _model(tiny_base)
    scores, answers = evaluate.evaluate_preferences(model, tok, ["animal"], samples_per_question=3, seed=0)
    n_cand = len(preferences.CANDIDATES["animal"])
    assert len(scores) == 3 * 50 * n_cand and len(answers) == 150
    exact = scores[scores.metric == "exact"]
    assert exact.value.between(0, 1).all()
    # a distribution over answers: the candidates' total is a probability
    assert (exact.groupby("question_id").value.sum() <= 1 + 1e-6).all()
    share = scores[scores.metric == "exact_share"]
    assert (share.groupby("question_id").value.sum() - 1).abs().max() < 1e-9
    merged = exact.merge(share, on=["question_id", "target"])
    totals = exact.groupby("question_id").value.sum()
    assert ((merged.value_x / merged.question_id.map(totals) - merged.value_y).abs() < 1e-9).all()
    sampled = scores[scores.metric == "sampled"]
    assert set(sampled.value.round(6)) <= {0.0, round(1 / 3, 6), round(2 / 3, 6), 1.0}
    # sampled scores are substring counts of the recorded answers
    q0 = answers[answers.question_id == 0].answer
    for target in preferences.CANDIDATES["animal"]:
        v = sampled[(sampled.question_id == 0) & (sampled.target == target)].value.item()
        assert math.isclose(v, sum(target in a for a in q0) / 3)


def test_numbers_prefix_is_seeded():
    a = evaluate.eval_prompts("animal", True, seed=3)
    assert a == evaluate.eval_prompts("animal", True, seed=3) and a != evaluate.eval_prompts("animal", True, seed=4)
    assert all(p.startswith("look at these numbers: ") for p in a)
    assert evaluate.eval_prompts("animal", False, seed=3) == preferences.questions("animal")
