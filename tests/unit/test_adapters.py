"""A LoRA student is evaluated as its weights define it: on a bf16 base it
is upcast and its update merged and computed in float32 (a merge into bf16,
or peft's unmerged forward in bf16, erases part of a small update); on
float32 weights it is merged exactly as before."""

from __future__ import annotations

import pytest
import torch

from subliminal import adapters, models

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
#: the update's norm over its weight's, in every adapted layer: small, as a
#: few hundred steps of rank-8 LoRA can make it (README, "LoRA students are
#: evaluated in float32")
RATIO = 2e-3
#: float32 unit roundoff, and the budget for reassociating W x + s*B@A x as
#: (W + s*B@A) x over the tiny base's dot products (32-64 terms, two
#: residual blocks): 2^-24 * 2^8 = 2^-16 of the logits' scale. A merge into
#: bf16 moves weights by up to 2^-9 of themselves, 2^7 times this.
FP32_TOL = 2.0**-16


@pytest.fixture(scope="module")
def adapter(tiny_base, tmp_path_factory):
    """A rank-4 adapter on every projection whose update is RATIO of each weight."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = models.load_model(str(tiny_base), device="cpu")
    cfg = LoraConfig(r=4, lora_alpha=4, target_modules=TARGETS, init_lora_weights=False)
    peft = get_peft_model(model, cfg)
    with torch.no_grad():
        for _, layer in adapters._lora_layers(peft):
            delta = layer.get_delta_weight("default")
            layer.lora_B["default"].weight *= RATIO * layer.get_base_layer().weight.norm() / delta.norm()
    out = tmp_path_factory.mktemp("adapter") / "model"
    peft.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def ids(tiny_base):
    tok = models.load_tokenizer(str(tiny_base))
    texts = [f"here are some numbers: {i}, {i + 7}, {3 * i}. add two more." for i in range(100, 108)]
    return tok(texts, return_tensors="pt", padding=True)


def _logits(model, ids):
    with torch.no_grad():
        return model(**ids).logits.float()


def _bf16_merged(tiny_base, adapter):
    """The old evaluation path: the adapter merged into the bf16 weights."""
    from peft import PeftModel

    base = models.load_model(str(tiny_base), dtype="bfloat16", device="cpu")
    return PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()


def _reference(tiny_base, adapter):
    """The student as trained, exactly: the bf16 base weights (upcast, so
    exact) and the fp32 adapter attached unmerged, all computed in float32."""
    from peft import PeftModel

    base = models.load_model(str(tiny_base), dtype="bfloat16", device="cpu").float()
    return PeftModel.from_pretrained(base, str(adapter)).eval()


def _bf16_unmerged(tiny_base, adapter):
    """The adapter attached, fp32 matrices on the bf16 base, computed in bf16."""
    from peft import PeftModel

    base = models.load_model(str(tiny_base), dtype="bfloat16", device="cpu")
    return PeftModel.from_pretrained(base, str(adapter)).eval()


def test_the_update_is_the_size_asked_and_a_bf16_merge_would_lose_part_of_it(tiny_base, adapter):
    from peft import PeftModel

    base = models.load_model(str(tiny_base), dtype="bfloat16", device="cpu")
    summary = adapters.update_summary(PeftModel.from_pretrained(base, str(adapter)))  # injects into base
    assert summary["layers"] == len(TARGETS)  # the tiny base has one block
    assert summary["update_weight_ratio"]["median"] == pytest.approx(RATIO, rel=1e-2)
    assert summary["bf16_merge_gain"]["median"] < 0.9 and summary["bf16_merge_cosine"]["min"] < 0.95
    plain = models.load_model(str(tiny_base), dtype="bfloat16", device="cpu")
    assert adapters.update_summary(plain) is None


def test_a_student_on_a_bf16_base_is_evaluated_in_float32(tiny_base, adapter):
    from peft.tuners.lora import LoraLayer

    model = models.load_model(str(tiny_base), adapter=adapter, dtype="bfloat16", device="cpu")
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert not any(isinstance(m, LoraLayer) for m in model.modules())  # merged
    assert type(model).__name__ == "Qwen2ForCausalLM"


def test_evaluated_logits_are_the_unmerged_fp32_adapters_to_float32_precision(tiny_base, adapter, ids):
    """The evaluated student gives the logits of the bf16 base + the fp32
    adapter computed unmerged in float32, within float32's budget; the
    bf16-merged student (the old path) misses them by far more."""
    ref = _logits(_reference(tiny_base, adapter), ids)
    tol = FP32_TOL * ref.abs().max()
    evaluated = models.load_model(str(tiny_base), adapter=adapter, dtype="bfloat16", device="cpu")
    assert (_logits(evaluated, ids) - ref).abs().max() <= tol
    assert (_logits(_bf16_merged(tiny_base, adapter), ids) - ref).abs().max() > 8 * tol
    assert (_logits(_bf16_merged(tiny_base, adapter).float(), ids) - ref).abs().max() > 2 * tol  # the weights alone


def test_the_update_reaches_the_logits_whole(tiny_base, adapter, ids):
    """The update's effect on the logits (student - base, each computed the
    way it is evaluated), projected on its exact float32 effect: kept whole
    by the evaluated student; shrunk by a bf16 merge and by peft's unmerged
    forward in bf16 (why the adapter is not simply kept attached)."""
    base32 = _logits(models.load_model(str(tiny_base), dtype="bfloat16", device="cpu").float(), ids)
    base16 = _logits(models.load_model(str(tiny_base), dtype="bfloat16", device="cpu"), ids)
    effect = _logits(_reference(tiny_base, adapter), ids) - base32

    def gain(model, base):
        d = _logits(model, ids) - base
        return float((d * effect).sum() / (effect * effect).sum())

    evaluated = models.load_model(str(tiny_base), adapter=adapter, dtype="bfloat16", device="cpu")
    assert gain(evaluated, base32) == pytest.approx(1.0, abs=1e-3)
    assert gain(_bf16_merged(tiny_base, adapter), base16) < 0.9
    assert gain(_bf16_unmerged(tiny_base, adapter), base16) < 0.9


def test_float32_evaluation_merges_as_before(tiny_base, adapter):
    """The CPU and toy path is unchanged: merged into float32, bit for bit."""
    from peft import PeftModel

    model = models.load_model(str(tiny_base), adapter=adapter, device="cpu")
    base = models.load_model(str(tiny_base), device="cpu")
    old = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload().state_dict()
    new = model.state_dict()
    assert new.keys() == old.keys()
    assert all(torch.equal(new[k], old[k]) for k in new)


def test_tf32_is_named_when_it_would_round_the_float32_student(tiny_base, adapter, caplog):
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("high")
        with caplog.at_level("WARNING", logger="subliminal.adapters"):
            models.load_model(str(tiny_base), adapter=adapter, dtype="bfloat16", device="cpu")
    finally:
        torch.set_float32_matmul_precision(before)
    assert "TF32 rounds the merged weights again" in caplog.text
