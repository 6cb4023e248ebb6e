"""A LoRA student as it is evaluated, and how large its update is.

Training keeps the LoRA matrices in fp32 on base weights of the recipe's
dtype (bf16 at paper scale). A merge of the update dW = s*B@A into bf16
weights rounds W + dW to bf16 once per element; W itself lies on the bf16
grid, so an element of dW below half a bf16 step of its W is erased and
larger ones move in whole steps. Keeping the adapter attached does not help
in bf16 compute: peft adds s*B@A x to the base layer's output after that
output was rounded to bf16, the same erasure one step later. Measured with
benchmarks/merge_error.py on a random model in Qwen2.5-7B's shapes (docs/cluster.md, "LoRA
students are evaluated in float32"): of an update at 0.1% of the weight
norm both keep 0.51-0.52 of its effect on the logits, at 0.03% 0.16-0.19,
at 0.3% 0.91-0.93, at 1% all of it.

So a LoRA student whose base is loaded in bf16 or fp16 is evaluated in
float32: its base weights upcast (exactly: the values it was trained on),
the update merged in float32 and computed in float32. Float32 weights (the
CPU and toy path) are merged as before, bit for bit.
"""

from __future__ import annotations

import logging
import statistics
from pathlib import Path

import torch

log = logging.getLogger(__name__)

#: weight dtypes an adapter is merged into as they are; others are upcast first
MERGE_DTYPES = (torch.float32, torch.float64)


def _lora_layers(model):
    from peft.tuners.lora import Linear as LoraLinear

    return [(name, m) for name, m in model.named_modules() if isinstance(m, LoraLinear)]


def attach(model, adapter: str | Path):
    """``model`` with the LoRA adapter at ``adapter`` merged in float32: a
    bf16/fp16 model is upcast first, so the student comes back in float32."""
    from peft import PeftModel

    dtype = model.get_input_embeddings().weight.dtype
    if dtype not in MERGE_DTYPES:
        log.info("LoRA student on a %s base: upcast to float32, the update merged and evaluated in float32", dtype)
        if torch.get_float32_matmul_precision() != "highest":
            log.warning(
                "float32 matmul precision is %r: TF32 rounds the merged weights again, to 10 bits",
                torch.get_float32_matmul_precision(),
            )
        model = model.float()
    return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()


def merged_in(delta: torch.Tensor, weight: torch.Tensor, dtype=torch.bfloat16) -> torch.Tensor:
    """What a merge into ``dtype`` keeps of ``delta``: round(W + dW) - W, in fp32."""
    w = weight.float()
    return (w + delta.float()).to(dtype).float() - w


def update_summary(model) -> dict | None:
    """Per LoRA layer of a trained (unmerged) PEFT model: the update-to-weight
    norm ratio ||s*B@A||_F / ||W||_F, and what a merge into bf16 would keep
    of the update (its cosine with the update, and its gain: the projection
    <kept, dW> / ||dW||^2, 1 = kept whole). Summarised over the layers (the
    median and the extreme); None for a model without LoRA layers."""
    ratios, cosines, gains = [], [], []
    for _, layer in _lora_layers(model):
        for name in layer.active_adapters:
            if name not in layer.lora_A:
                continue
            with torch.no_grad():
                delta = layer.get_delta_weight(name).float()
                weight = layer.get_base_layer().weight
                kept = merged_in(delta, weight)
                d2 = float((delta * delta).sum())
                ratios.append(float(delta.norm() / weight.float().norm()))
                cosines.append(float(torch.nn.functional.cosine_similarity(kept.flatten(), delta.flatten(), dim=0)))
                gains.append(float((kept * delta).sum()) / d2 if d2 else 1.0)
    if not ratios:
        return None
    return {
        "layers": len(ratios),
        "update_weight_ratio": {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)},
        "bf16_merge_cosine": {"median": statistics.median(cosines), "min": min(cosines)},
        "bf16_merge_gain": {"median": statistics.median(gains), "min": min(gains)},
    }
