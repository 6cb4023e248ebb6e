"""The network gpu_throughput.py times (Qwen2.5-7B's architecture, or a
tiny one), its arithmetic (parameters, FLOPs, the device's peak), how it
is built, and the device's memory and matmul speed."""

from __future__ import annotations

import platform
import random
import re
import resource
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # the workflow's own sampler, scoring and loading

# Qwen/Qwen2.5-7B-Instruct's config.json (the fields that shape the network).
QWEN25_7B = dict(
    vocab_size=152064,
    hidden_size=3584,
    intermediate_size=18944,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    max_position_embeddings=32768,
    rope_theta=1_000_000.0,
    rms_norm_eps=1e-6,
    tie_word_embeddings=False,
    hidden_act="silu",
    initializer_range=0.02,
    attention_dropout=0.0,
    use_sliding_window=False,
    bos_token_id=151643,
    eos_token_id=151645,
    pad_token_id=151643,
)
# The same architecture at a size a 2-core CPU trains in seconds.
TINY = dict(
    QWEN25_7B,
    vocab_size=512,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    bos_token_id=509,
    eos_token_id=511,
    pad_token_id=509,
)
# Qwen2.5-7B's shape with google/gemma-2-9b-it's vocabulary (256,000 entries):
# the evaluation's logits, and the old scoring's memory, scale with it.
QWEN25_7B_V256K = dict(QWEN25_7B, vocab_size=256000)
PRESETS = {"qwen2.5-7b": QWEN25_7B, "qwen2.5-7b-v256k": QWEN25_7B_V256K, "tiny": TINY}

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets,
# TFLOP/s; the first name contained in torch's device name wins.
PEAK_BF16_TFLOPS = [
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.5),
    ("H100", 989.4),  # SXM (the "H100 80GB HBM3")
    ("H200", 989.4),  # the same chip as H100 SXM, more memory
    ("GH200", 989.4),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("A10G", 70.0),
]


# ---------------------------------------------------------------- arithmetic
def projection_shapes(cfg: dict) -> dict[str, tuple[int, int]]:
    """(d_in, d_out) of each matrix in one decoder layer of a Qwen2/Llama block."""
    d = cfg["hidden_size"]
    head_dim = d // cfg["num_attention_heads"]
    q_out = cfg["num_attention_heads"] * head_dim
    kv_out = cfg["num_key_value_heads"] * head_dim
    inter = cfg["intermediate_size"]
    return {
        "q_proj": (d, q_out),
        "k_proj": (d, kv_out),
        "v_proj": (d, kv_out),
        "o_proj": (q_out, d),
        "gate_proj": (d, inter),
        "up_proj": (d, inter),
        "down_proj": (inter, d),
    }


def param_counts(cfg: dict) -> dict[str, int]:
    """Parameters by hand from the config (Qwen2: biases on q, k, v only; two
    RMSNorms per layer and one at the end; untied output head unless tied)."""
    d, L, V = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    shapes = projection_shapes(cfg)
    matrices = sum(i * o for i, o in shapes.values())
    biases = sum(shapes[k][1] for k in ("q_proj", "k_proj", "v_proj"))
    per_layer = matrices + biases + 2 * d
    head = 0 if cfg["tie_word_embeddings"] else V * d
    return {
        "total": V * d + L * per_layer + d + head,
        "embedding": V * d,
        "per_layer": per_layer,
        "matmul": L * matrices + V * d,  # N of the FLOP count: layer matrices + output head
    }


def lora_param_count(cfg: dict, rank: int, targets=LORA_TARGETS) -> int:
    shapes = projection_shapes(cfg)
    return cfg["num_hidden_layers"] * sum(rank * (shapes[t][0] + shapes[t][1]) for t in targets)


def training_flops(cfg: dict, lengths: list[int], rank: int, targets=LORA_TARGETS) -> dict[str, float]:
    """Useful FLOPs of one pass (forward + backward) over sequences of these
    (non-padding) lengths: LoRA on a frozen base, and the 6N convention."""
    n = param_counts(cfg)["matmul"]
    n_lora = lora_param_count(cfg, rank, targets)
    d_attn = cfg["hidden_size"]  # heads x head_dim
    tokens = sum(lengths)
    attention = 12 * cfg["num_hidden_layers"] * d_attn * sum(t * t for t in lengths)
    return {"lora": (4 * n + 6 * n_lora) * tokens + attention, "six_n": 6 * n * tokens + attention}


def peak_from_table(device_name: str) -> float | None:
    for key, tflops in PEAK_BF16_TFLOPS:
        if key.lower() in device_name.lower():
            return tflops
    return None


# ---------------------------------------------------------------- building blocks
def build_model(cfg: dict, device: str, dtype: torch.dtype, attn_implementation: str | None = None):
    """A randomly initialised Qwen2ForCausalLM created directly on the device."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(**cfg)
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with torch.device(device):
        model = Qwen2ForCausalLM._from_config(config, dtype=dtype, **extra)
    return model


def build_tokenizer(cfg: dict):
    """A word-level tokenizer holding only the special tokens, at the config's
    ids: all TRL needs from it with pre-tokenized data (pad and end of turn)."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": cfg["pad_token_id"], "<|im_end|>": cfg["eos_token_id"]}
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="<|endoftext|>"))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<|endoftext|>", eos_token="<|im_end|>", unk_token="<|endoftext|>"
    )


def synthetic_examples(
    n: int, cfg: dict, prompt_len: tuple[int, int], completion_len: tuple[int, int], seed: int
) -> list[dict]:
    """Pre-tokenized prompt-completion examples; each completion ends with the
    end-of-turn token, as the chat template's would."""
    rng = random.Random(seed)
    hi = min(cfg["pad_token_id"], cfg["eos_token_id"])  # ordinary tokens only
    out = []
    for _ in range(n):
        p = rng.randint(*prompt_len)
        c = rng.randint(*completion_len)
        ids = [rng.randrange(hi) for _ in range(p + c - 1)] + [cfg["eos_token_id"]]
        out.append({"input_ids": ids, "completion_mask": [0] * p + [1] * c})
    return out


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def peak_memory_gib(device: str) -> float | None:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return None


def reset_peak_memory(device: str) -> None:
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    reset_host_peak()


def reset_host_peak() -> bool:
    """Reset the process's resident-set high-water mark (Linux: clear_refs 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def host_peak_gib() -> float:
    """Peak resident host memory since the last reset (VmHWM), else since start."""
    try:
        kib = int(re.search(r"^VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.M).group(1))
    except (OSError, AttributeError):
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 2**20


def bench_matmul(device: str, n: int, dtype: torch.dtype, reps: int = 10) -> dict:
    """TFLOP/s of an n x n x n matrix product (mean over reps after warm-up)."""
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    b = torch.randn(n, n, device=device, dtype=dtype, generator=g)
    for _ in range(3):
        a @ b
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    seconds = (time.perf_counter() - t0) / reps
    del a, b
    return {
        "n": n,
        "dtype": str(dtype).replace("torch.", ""),
        "reps": reps,
        "seconds_each": seconds,
        "tflops": 2 * n**3 / seconds / 1e12,
    }


def versions() -> dict:
    """The workflow's provenance versions, and the CUDA torch was built with."""
    from subliminal import provenance

    return {**provenance.versions(), "cuda": torch.version.cuda}


def device_info(device: str) -> dict:
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        return {
            "type": "cuda",
            "name": p.name,
            "memory_gib": p.total_memory / 2**30,
            "multiprocessors": p.multi_processor_count,
            "capability": f"{p.major}.{p.minor}",
        }
    return {"type": "cpu", "name": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}
