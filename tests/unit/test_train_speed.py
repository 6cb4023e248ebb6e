"""Student training's speed switches change neither the effective batch nor
the loss: padding-free batches against padded ones, a larger per-device
batch against accumulation, the attention kernel as asked, Liger only where
it can run (a few seconds: 3 LoRA steps each on a tiny base)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from transformers import TrainerCallback

from conftest import TINY_LORA_KEYS
from subliminal import train
from subliminal.config import recipe as make_recipe

LORA = make_recipe(TINY_LORA_KEYS)
# prompts of different lengths, so padded batches carry padding
RECORDS = [
    {
        "prompt": "here are some numbers: " + ", ".join(str(i + k) for k in range(1 + i % 7)) + ". add two more.",
        "completion": f"{i + 2}, {i + 3}",
    }
    for i in range(100, 124)
]


class Losses(TrainerCallback):
    """The logged losses, and what each forward pass was given."""

    def __init__(self):
        self.losses, self.inputs = [], []

    def on_train_begin(self, args, state, control, model=None, **kw):
        def look(module, a, kwargs):
            self.inputs.append(
                (
                    tuple(kwargs["input_ids"].shape),
                    kwargs.get("attention_mask") is not None,
                    kwargs.get("position_ids") is not None,
                )
            )

        model.register_forward_pre_hook(look, with_kwargs=True)

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.losses.append(logs["loss"])


def _train(tiny_base, tmp_path, name, **recipe):
    cb = Losses()
    prov = train.train_sft(str(tiny_base), RECORDS, LORA.replace(**recipe), 1, tmp_path / name, callbacks=[cb])
    weights = load_file(str(tmp_path / name / "model" / "adapter_model.safetensors"))
    return prov, cb.losses, weights, cb.inputs


@pytest.fixture(scope="module")
def padded(tiny_base, tmp_path_factory):
    return _train(tiny_base, tmp_path_factory.mktemp("padded"), "padded")


def _close(a, b, rtol, atol):
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], rtol=rtol, atol=atol) for k in a)


# Padded and padding-free batches, or one micro-batch and two accumulated, are two
# orders of float32 operations: equal to rounding, not bit for bit, and not by the
# same amount on every CPU. A loss rounds by about log2(n) u (u = 2**-24) per
# reduction of n terms it passes through: attention over at most 96 positions (7),
# the hidden and intermediate sizes 32 and 64 (5, 6), the vocabulary's log_softmax
# (2,587 terms: 12): 30 u, so 32 u = 2e-6 relative (measured: 8e-8).
LOSS_RTOL = 32 * 2**-24
# Adam moves a weight by at most about the learning rate (1e-2) per step whatever
# the gradient's size, so rounding in a near-zero gradient can move it by a whole
# step; no rounding bound holds for the adapters. 1e-5 is a thousandth of one
# step: far below what a wrong batch (other rows, other labels) moves (measured
# between the two paths: 1.5e-6).
WEIGHT_ATOL = 1e-5


def test_padding_free_batches_give_the_padded_loss(tiny_base, tmp_path, padded):
    """TRL's padding-free collator on CPU (sdpa: transformers masks the
    flattened sequences block by block): the same per-step losses and the
    same adapter as padded batches, to float32 rounding."""
    prov0, losses0, w0, inputs0 = padded
    prov, losses, w, inputs = _train(tiny_base, tmp_path, "free", padding_free=True)
    assert prov["padding_free"] and not prov0["padding_free"]
    # padded: 8 rows with a mask; padding-free: one row of all their tokens, position ids, no mask
    assert all(shape[0] == 8 and mask and not pos for shape, mask, pos in inputs0)
    assert all(shape[0] == 1 and not mask and pos for shape, mask, pos in inputs)
    assert sum(s[1] for s, _, _ in inputs) < sum(s[0] * s[1] for s, _, _ in inputs0)  # no padding computed
    assert prov["steps"] == prov0["steps"] == 3 and len(losses) == len(losses0) == 3
    assert losses == pytest.approx(losses0, rel=LOSS_RTOL, abs=0)
    assert _close(w, w0, rtol=0, atol=WEIGHT_ATOL)


def test_padding_free_keeps_the_max_length(tiny_base, tmp_path):
    """TRL does not truncate padding-free data; the trainer does, as TRL would."""
    from datasets import Dataset

    ds = Dataset.from_list(
        [
            {"input_ids": list(range(10)), "labels": [-100] * 6 + [1] * 4},
            {"input_ids": list(range(10)), "labels": [-100] * 9 + [1]},
        ]
    )
    out = train.truncate_like_trl(ds, 8)
    assert out["input_ids"] == [list(range(8))] and out["labels"] == [[-100] * 6 + [1, 1]]


def test_a_larger_device_batch_keeps_the_effective_batch_and_the_loss(tiny_base, tmp_path, padded):
    """4 x 2 accumulated and 8 x 1 in one micro-batch: one effective batch of
    8, the same loss (TRL normalises by the tokens of the whole step)."""

    def layout(replicas, **recipe):  # 22 x 3 per step, as the paper config
        return train.batch_layout(
            make_recipe({**TINY_LORA_KEYS, "batch_size": 22, "grad_accum": 3, **recipe}), replicas
        )

    assert layout(1, max_device_batch=66) == (66, 1)
    assert layout(1, max_device_batch=40) == (33, 2)
    assert layout(2, max_device_batch=66) == (33, 1)
    assert layout(1) == (22, 3)  # as before
    prov0, losses0, w0, _ = padded
    prov, losses, w, _ = _train(tiny_base, tmp_path, "accum", batch_size=4, grad_accum=2)
    assert (prov["per_device_batch"], prov["grad_accum"], prov["effective_batch"]) == (4, 2, 8)
    assert (prov0["per_device_batch"], prov0["grad_accum"], prov0["effective_batch"]) == (8, 1, 8)
    assert losses == pytest.approx(losses0, rel=LOSS_RTOL, abs=0)
    assert _close(w, w0, rtol=0, atol=WEIGHT_ATOL)
    prov, _, _, _ = _train(tiny_base, tmp_path, "wide", batch_size=4, grad_accum=2, max_device_batch=8, max_steps=1)
    assert (prov["per_device_batch"], prov["grad_accum"], prov["effective_batch"]) == (8, 1, 8)


def test_attention_kernel_is_the_recipes(tiny_base, tmp_path):
    prov, _, _, _ = _train(tiny_base, tmp_path, "eager", attn_implementation="eager", max_steps=1)
    assert prov["attn_implementation"] == "eager"


def test_liger_only_where_it_can_run(monkeypatch):
    import importlib.util

    assert train.liger_kernel(LORA, cuda=True) is False
    assert (
        train.liger_kernel(make_recipe({**TINY_LORA_KEYS, "use_liger_kernel": True}), cuda=False) is False
    )  # CPU: ignored, with a warning
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "liger_kernel" else real(name, *a)
    )
    with pytest.raises(RuntimeError, match=r"^recipe key use_liger_kernel: the liger-kernel package is not installed"):
        train.liger_kernel(make_recipe({**TINY_LORA_KEYS, "use_liger_kernel": True}), cuda=True)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    assert train.liger_kernel(make_recipe({**TINY_LORA_KEYS, "use_liger_kernel": True}), cuda=True) is True
