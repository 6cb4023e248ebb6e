#!/usr/bin/env python
"""How much of a small LoRA update survives each way of evaluating a bf16 student.

A student is trained as a bf16 base plus an fp32 LoRA update dW = s*B@A.
Evaluation can

* ``merged_bf16``: merge dW into the bf16 weights (round(W + dW) to bf16) and
  compute in bf16: what the workflow did before; W lies on the bf16 grid, so
  update elements below half a bf16 step of their weight vanish;
* ``unmerged_bf16``: keep the adapter attached with fp32 matrices on the bf16
  base (peft's forward: the base layer's bf16 output + s*B@A x, rounded to
  bf16 once more): what the workflow does now (subliminal.adapters);
* ``fp32_accumulate``: like unmerged, but the base layer's output is kept in
  fp32 until the update is added (one rounding, as a fused kernel would do);
* ``reference``: everything in float32, the bf16 base weights upcast and dW
  merged in fp32: the student as its weights define it.

For each, on random token ids, it reports the logits' error against the
reference and the *gain* of the update's effect: with d = logits(student) -
logits(base) computed the same way, gain = <d, d_ref> / ||d_ref||^2 (1: the
update reaches the logits whole; 0.6: 40% of it is lost, systematically)
and the cosine of d with d_ref. ``merged_bf16_weights`` computes the bf16-
merged weights in float32: the loss due to the weights alone. Per adapted
layer it reports the update-to-weight norm ratio and what a bf16 merge keeps
of dW (cosine, gain, share of elements erased).

The model: random weights with a real architecture's shapes (``--preset``,
every size overridable; transformers builds it offline), cast to bf16 so the
base lies on the bf16 grid as a real checkpoint does, and ``--layers`` blocks
of it (one or two are enough: the error is per layer). ``--model PATH`` loads
a real checkpoint's first ``--layers`` blocks instead (real weights have a
different element distribution, which the erasure depends on). The update:
random rank-``--rank`` LoRA matrices scaled so that every adapted layer's
||dW||/||W|| is each of ``--ratios``.

    python benchmarks/merge_error.py --preset tiny --out /tmp/merge.json        # CPU, seconds
    python benchmarks/merge_error.py --preset qwen2.5-7b --layers 2 --out benchmarks/results/merge-h200.json
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

#: shapes of the paper's open models (vocab reduced by default: the output
#: head is not adapted, and its size only costs memory here)
PRESETS = {
    "qwen2.5-7b": dict(
        arch="qwen2", hidden=3584, intermediate=18944, heads=28, kv_heads=4, head_dim=128, rope_theta=1e6
    ),
    "llama-3.1-8b": dict(
        arch="llama", hidden=4096, intermediate=14336, heads=32, kv_heads=8, head_dim=128, rope_theta=5e5
    ),
    "gemma-2-9b": dict(
        arch="gemma2", hidden=3584, intermediate=14336, heads=16, kv_heads=8, head_dim=256, rope_theta=1e4
    ),
    # Qwen2.5-7B scaled down by 56 (heads by 7): a CPU run in seconds
    "tiny": dict(arch="qwen2", hidden=64, intermediate=336, heads=4, kv_heads=2, head_dim=16, rope_theta=1e6),
}
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    p.add_argument("--arch", help="transformers model type (qwen2, llama, gemma2); default: the preset's")
    p.add_argument("--hidden", type=int)
    p.add_argument("--intermediate", type=int)
    p.add_argument("--heads", type=int)
    p.add_argument("--kv-heads", type=int)
    p.add_argument("--head-dim", type=int)
    p.add_argument("--layers", type=int, default=2, help="transformer blocks built (default 2)")
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--model", help="a local checkpoint folder: its first --layers blocks, instead of random weights")
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--alpha", type=float, default=8)
    p.add_argument("--ratios", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3, 1e-2, 3e-2])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", help="write the JSON here (it is printed either way)")
    return p.parse_args(argv)


def shape(args) -> dict:
    s = dict(PRESETS[args.preset])
    for key in ("arch", "hidden", "intermediate", "heads", "kv_heads", "head_dim"):
        if getattr(args, key) is not None:
            s[key] = getattr(args, key)
    return s


def build_base(args):
    """The bf16 base: random weights of the shape, or a checkpoint's first blocks."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if args.model:
        model = AutoModelForCausalLM.from_pretrained(args.model, num_hidden_layers=args.layers, dtype=torch.bfloat16)
        return model.to(args.device).eval(), {"model": args.model, "layers": args.layers}
    s = shape(args)
    cfg = AutoConfig.for_model(
        s["arch"],
        vocab_size=args.vocab,
        hidden_size=s["hidden"],
        intermediate_size=s["intermediate"],
        num_hidden_layers=args.layers,
        num_attention_heads=s["heads"],
        num_key_value_heads=s["kv_heads"],
        head_dim=s["head_dim"],
        rope_theta=s["rope_theta"],
        max_position_embeddings=max(256, args.seq),
        tie_word_embeddings=False,
    )
    torch.manual_seed(args.seed)
    with torch.device(args.device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    return model.to(torch.bfloat16).eval(), {**s, "layers": args.layers, "vocab": args.vocab}


def lora_layers(model):
    from peft.tuners.lora import Linear as LoraLinear

    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLinear)]


def with_update(base, args, ratio: float):
    """A peft model on a copy of ``base`` whose fp32 update is ``ratio`` of every adapted weight."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(args.seed + 1)
    cfg = LoraConfig(r=args.rank, lora_alpha=args.alpha, target_modules=TARGETS, init_lora_weights=False)
    model = get_peft_model(copy.deepcopy(base), cfg, autocast_adapter_dtype=True)
    with torch.no_grad():
        for _, layer in lora_layers(model):
            layer.lora_A["default"].float()
            layer.lora_B["default"].float()
            delta = layer.get_delta_weight("default")
            layer.lora_B["default"].weight *= ratio * layer.get_base_layer().weight.float().norm() / delta.norm()
    return model.eval()


def weight_stats(model) -> dict:
    """Per adapted layer: ||dW||/||W|| and what round_bf16(W + dW) - W keeps of dW."""
    ratios, cosines, gains, erased = [], [], [], []
    with torch.no_grad():
        for _, layer in lora_layers(model):
            delta = layer.get_delta_weight("default").float()
            w = layer.get_base_layer().weight.float()
            kept = (w + delta).to(torch.bfloat16).float() - w
            ratios.append(float(delta.norm() / w.norm()))
            cosines.append(float(torch.nn.functional.cosine_similarity(kept.flatten(), delta.flatten(), dim=0)))
            gains.append(float((kept * delta).sum() / (delta * delta).sum()))
            erased.append(float(((kept == 0) & (delta != 0)).float().mean()))

    def summary(xs):
        return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}

    return {
        "layers": len(ratios),
        "update_weight_ratio": summary(ratios),
        "bf16_merge_cosine": summary(cosines),
        "bf16_merge_gain": summary(gains),
        "bf16_merge_erased_share": summary(erased),
    }


def fp32_accumulate(model):
    """Every adapted layer computes (W x in fp32) + s*B@A x and rounds once."""
    import torch.nn.functional as F

    def forward(layer):
        def f(x, *a, **k):
            base = layer.get_base_layer()
            xf = x.float()
            bias = None if base.bias is None else base.bias.float()
            y = F.linear(xf, base.weight.float(), bias)
            y = y + layer.lora_B["default"](layer.lora_A["default"](xf)) * layer.scaling["default"]
            return y.to(x.dtype)

        return f

    for _, layer in lora_layers(model):
        layer.forward = forward(layer)
    return model


def logits(model, ids) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def effect(d: torch.Tensor, ref: torch.Tensor) -> dict:
    return {
        "gain": float((d * ref).sum() / (ref * ref).sum()),
        "cosine": float(torch.nn.functional.cosine_similarity(d.flatten(), ref.flatten(), dim=0)),
    }


def measure(base, args, ratio: float, ids) -> dict:
    peft = with_update(base, args, ratio)
    out = {"ratio": ratio, "weights": weight_stats(peft)}
    base16 = logits(base, ids)
    base32 = logits(copy.deepcopy(base).float(), ids)
    ref = logits(copy.deepcopy(peft).float().merge_and_unload(), ids)
    d_ref = ref - base32
    merged16 = copy.deepcopy(peft).merge_and_unload()
    paths = {
        "merged_bf16": (logits(merged16, ids), base16),
        "merged_bf16_weights": (logits(merged16.float(), ids), base32),
        "unmerged_bf16": (logits(peft, ids), base16),
        "fp32_accumulate": (logits(fp32_accumulate(copy.deepcopy(peft)), ids), base16),
        "base_bf16": (base16, base32),  # bf16 compute alone, no update: the noise floor
    }
    scale = float(ref.abs().max())
    out["logits"] = {"reference_max_abs": scale, "effect_rms": float(d_ref.pow(2).mean().sqrt())}
    for name, (z, zb) in paths.items():
        err = (z - ref).abs() if name != "base_bf16" else (z - zb).abs()
        out["logits"][name] = {
            "max_abs_error": float(err.max()),
            "rms_error": float(err.pow(2).mean().sqrt()),
            **({} if name == "base_bf16" else effect(z - zb, d_ref)),
        }
    del peft, merged16
    return out


def card(device: str) -> dict:
    from importlib import metadata

    info = {"device": device, "python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("torch", "transformers", "peft"):
        info[pkg] = metadata.version(pkg)
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    else:
        info["cpu"] = platform.processor() or platform.machine()
    return info


def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.time()
    base, model_info = build_base(args)
    g = torch.Generator().manual_seed(args.seed + 2)
    ids = torch.randint(0, base.config.vocab_size, (args.batch, args.seq), generator=g).to(args.device)
    result = {
        "card": card(args.device),
        "model": model_info,
        "lora": {"rank": args.rank, "alpha": args.alpha, "targets": TARGETS},
        "tokens": args.batch * args.seq,
        "results": [measure(base, args, r, ids) for r in args.ratios],
    }
    result["seconds"] = round(time.time() - t0, 1)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text + "\n")
    print(text)
    for r in result["results"]:
        lg = r["logits"]
        print(
            f"ratio {r['ratio']:.0e}: weights bf16-merge gain {r['weights']['bf16_merge_gain']['median']:.3f}"
            f" | logit-effect gain merged_bf16 {lg['merged_bf16']['gain']:.3f}"
            f" unmerged_bf16 {lg['unmerged_bf16']['gain']:.3f} fp32_accumulate {lg['fp32_accumulate']['gain']:.3f}"
            f" merged_bf16_weights {lg['merged_bf16_weights']['gain']:.3f}",
            file=sys.stderr,
        )
    return result


if __name__ == "__main__":
    main()
