"""The steering teacher: the hook against a hand computation on a toy, the
learned vector and its calibration to a strength, saving and loading."""

from __future__ import annotations

import torch
import pytest

from subliminal import evaluate, generation, preferences, steering
from subliminal.models import load_model, load_tokenizer


@pytest.fixture(scope="module")
def toy(tiny_base):
    return load_model(str(tiny_base)), load_tokenizer(str(tiny_base))


def test_the_hook_adds_the_vector_to_the_layer_output_at_every_position(toy):
    model, tok = toy
    ids = tok(
        "<|im_start|>user\nname your favorite animal using only one word.<|im_end|>",
        return_tensors="pt",
        add_special_tokens=False,
    )["input_ids"]
    layers = steering.decoder_layers(model)
    v = torch.randn(model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        plain = model(ids, output_hidden_states=True)
        handle = steering.add_vector(model, -1, v)
        steered = model(ids).logits
        handle.remove()
        after = model(ids).logits
    # by hand: the last layer's output plus v, then the final norm and the output layer
    last = layers[-1]
    seen = []
    h = last.register_forward_hook(lambda m, i, o: seen.append(o[0] if isinstance(o, tuple) else o))
    with torch.no_grad():
        model(ids)
    h.remove()
    by_hand = model.lm_head(model.model.norm(seen[0] + v))
    assert torch.allclose(steered, by_hand, atol=1e-5)
    assert not torch.allclose(steered, plain.logits, atol=1e-3)
    assert torch.equal(after, plain.logits)  # removing the hook restores the base


def test_an_earlier_layer_feeds_the_rest_of_the_stack(toy):
    """A vector at layer 0 of a 1-layer toy is the last layer too; check the
    index arithmetic: -1 and 0 name the same layer, 1 is out of range."""
    model, _ = toy
    n = len(steering.decoder_layers(model))
    assert steering.layer_index(model, -1) == n - 1
    with pytest.raises(ValueError, match="config key layer"):
        steering.layer_index(model, n)


def test_a_learned_vector_is_calibrated_to_the_strength_and_saved(toy, tmp_path):
    model, tok = toy
    users = preferences.questions("animal")[:10]
    cands = preferences.CANDIDATES["animal"]
    base = sum(evaluate.exact_shares(model, tok, users, cands, "owl")) / len(users)
    # the tiny toy barely knows its animals (a vector saturates near 0.09 on
    # it); the default's toys reach 0.6 (README)
    target = base + 0.01
    v, rec = steering.make_teacher_vector(
        model, tok, word="owl", candidates=cands, users=users, layer=-1, strength=target, steps=10, learning_rate=0.1
    )
    # learning raised the word's mean log-probability above the base's (-9.7 was
    # this base's own value on one CPU, a threshold that another pretraining moves)
    before = generation.answer_logprobs(model, tok, users, ["owl"] * len(users))
    assert rec["learning"][-1]["mean_logp"] > sum(before) / len(before)
    assert rec["share"] == pytest.approx(target, abs=0.003)
    assert rec["base_share"] == pytest.approx(base, abs=1e-9)
    steering.save(tmp_path / "steering.safetensors", v, rec)
    handle = steering.attach(model, tmp_path / "steering.safetensors")
    share = sum(evaluate.exact_shares(model, tok, users, cands, "owl")) / len(users)
    handle.remove()
    assert share == pytest.approx(rec["share"], abs=1e-6)
    # the hook is gone: the base is the base again
    assert sum(evaluate.exact_shares(model, tok, users, cands, "owl")) / len(users) == pytest.approx(base, abs=1e-9)


def test_a_contrast_vector_and_an_unreachable_strength(toy):
    model, tok = toy
    users = preferences.questions("animal")[:5]
    d = steering.contrast_direction(
        model, tok, users, -1, trait_system=preferences.trait_system_prompt("owl", "animal"), system=None
    )
    assert d.shape == (model.config.hidden_size,) and torch.isfinite(d).all() and d.norm() > 0
    # a share the vector can never reach is an error naming the key
    with pytest.raises(ValueError, match="config key traits.owl.teacher.strength"):
        steering.calibrate(lambda v: 0.1 + 0.0 * float(v.norm()), d, 0.5, key="traits.owl.teacher.strength")


@pytest.mark.parametrize("architecture", ["llama", "mistral", "qwen3"])
def test_the_same_hook_serves_other_architectures_loaded_from_a_folder(architecture, tiny_base, tmp_path):
    """A hub or path model is loaded from a folder with the Auto classes, as
    this randomly initialised one is: the hook finds its decoder layers and
    adds the vector to the chosen layer's output."""
    from subliminal import toy

    tok = load_tokenizer(str(tiny_base))
    spec = dict(architecture=architecture, seed=1, hidden_size=32, layers=3, heads=2, kv_heads=2, intermediate_size=64)
    toy.build_model(spec, tok).save_pretrained(tmp_path, safe_serialization=True)
    model = load_model(str(tmp_path))
    assert len(steering.decoder_layers(model)) == 3
    ids = tok("name your favorite animal using only one word.", return_tensors="pt")["input_ids"]
    seen = []
    layer = steering.decoder_layers(model)[1]
    h = layer.register_forward_hook(lambda m, i, o: seen.append((o[0] if isinstance(o, tuple) else o).clone()))
    v = torch.ones(32)
    with torch.no_grad():
        plain = model(ids).logits
        handle = steering.add_vector(model, 1, v)
        steered = model(ids).logits
        handle.remove()
    h.remove()
    # the hook registered first saw the layer's own output; the steering hook added v after it
    assert not torch.allclose(plain, steered)
    assert torch.allclose(seen[0], seen[1])
