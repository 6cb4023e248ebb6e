"""The GPU benchmark of every job type: its arithmetic, the settings it takes
from a workflow config, and one run of the CLI on CPU at the tiny size that
times teacher sampling, an evaluation (load base + adapter, sampling, exact
scoring) and student training (about 20 s)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from conftest import REPO


SCRIPT = REPO / "benchmarks" / "gpu_throughput.py"


@pytest.fixture(scope="module")
def gt():
    spec = importlib.util.spec_from_file_location("gpu_throughput", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_qwen25_7b_parameter_counts_match_the_published_model(gt):
    """The embedded config is Qwen2.5-7B's: 7,615,616,512 parameters, and peft
    reports 20,185,088 trainable for LoRA rank 8 on all seven projections.
    Counted three ways: those figures, the hand formula, and a model built on
    the meta device (no memory) from the config."""
    from peft import LoraConfig, get_peft_model

    cfg = gt.QWEN25_7B
    counts = gt.param_counts(cfg)
    assert counts["total"] == 7_615_616_512
    assert gt.lora_param_count(cfg, 8) == 20_185_088
    model = gt.build_model(cfg, "meta", torch.bfloat16)
    assert model.num_parameters() == counts["total"]
    # N of the FLOP count: every weight matrix, i.e. all parameters but the
    # input embedding, the q/k/v biases and the norms
    norms_and_biases = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 1)
    assert counts["matmul"] == counts["total"] - counts["embedding"] - norms_and_biases
    peft_model = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=8, target_modules=list(gt.LORA_TARGETS), task_type="CAUSAL_LM")
    )
    assert sum(p.numel() for p in peft_model.parameters() if p.requires_grad) == 20_185_088


def test_training_flops_by_hand(gt):
    cfg = gt.TINY  # d 64, 4 heads of 16, 2 kv heads, MLP 128, vocab 512, 2 layers
    per_layer = 64 * 64 + 2 * 64 * 32 + 64 * 64 + 3 * 64 * 128
    n = 2 * per_layer + 512 * 64
    n_lora = 2 * 4 * (128 + 96 + 96 + 128 + 192 + 192 + 192)
    flops = gt.training_flops(cfg, [10, 20], rank=4)
    attention = 12 * 2 * 64 * (10**2 + 20**2)
    assert n == gt.param_counts(cfg)["matmul"]
    assert flops["lora"] == (4 * n + 6 * n_lora) * 30 + attention
    assert flops["six_n"] == 6 * n * 30 + attention


@pytest.mark.parametrize(
    "name,peak",
    [
        ("NVIDIA H100 80GB HBM3", 989.4),
        ("NVIDIA H100 PCIe", 756.0),
        ("NVIDIA H200", 989.4),
        ("NVIDIA A100-SXM4-80GB", 312.0),
        ("Some Other Card", None),
    ],
)
def test_peak_table(gt, name, peak):
    assert gt.peak_from_table(name) == peak


def test_bad_arguments_are_refused(gt, capsys):
    with pytest.raises(SystemExit):
        gt.parse_args(["--prompt-len", "80", "60"])
    assert "--prompt-len needs 1 <= MIN <= MAX" in capsys.readouterr().err


def test_cli_on_cpu_at_tiny_size(tmp_path):
    out = tmp_path / "bench.json"
    steps, accum, batch = 2, 2, 4
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--size",
        "tiny",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--steps",
        str(steps),
        "--warmup-steps",
        "1",
        "--batch-size",
        str(batch),
        "--grad-accum",
        str(accum),
        "--sample-batch-size",
        "4",
        "--sample-batches",
        "1",
        "--max-new-tokens",
        "8",
        "--peak-tflops",
        "0.5",
        "--matmul-size",
        "128",
        "--workdir",
        str(tmp_path / "w"),
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = {line.split(":")[0] for line in proc.stdout.splitlines()}
    assert {"teacher sampling", "evaluation", "student training", "MFU vs peak"} <= printed, proc.stdout
    for job in ("teacher sampling", "evaluation", "student training"):
        (line,) = [x for x in proc.stdout.splitlines() if x.startswith(job + ":")]
        assert "tokens/s" in line and "peak host" in line, line
    r = json.loads(out.read_text())

    assert r["device"]["type"] == "cpu" and r["versions"]["trl"] and r["versions"]["torch"]
    m = r["model"]
    assert m["params_total"] == m["params_by_formula"] == 139_840
    assert m["lora_params"] == m["lora_params_by_formula"] > 0

    t = r["training"]
    assert t["steps_timed"] == steps and t["sequences_per_step"] == batch * accum
    # every timed sequence is a prompt of 60-80 tokens and a completion of 30-40
    sequences = steps * batch * accum
    assert 90 * sequences <= t["tokens"] <= 120 * sequences
    assert t["padded_tokens"] >= t["tokens"]
    assert t["seconds"] > 0 and t["tokens_per_s"] == pytest.approx(t["tokens"] / t["seconds"])
    n = m["params_matmul"]
    attention_max = 12 * 2 * 64 * 120 * t["tokens"]  # T <= 120 per sequence
    lora_min = (4 * n + 6 * m["lora_params"]) * t["tokens"]
    assert lora_min < t["flops_lora"] <= lora_min + attention_max
    assert t["flops_6n"] - t["flops_lora"] == (2 * n - 6 * m["lora_params"]) * t["tokens"]
    assert r["mfu"]["lora_vs_peak"] == pytest.approx(t["achieved_tflops_lora"] / 0.5)
    assert 0 < r["mfu"]["lora_vs_matmul"] and 0 < r["mfu"]["six_n_vs_matmul"]

    [s] = r["sampling"]
    assert s["batch_size"] == 4 and 0 < s["generated_tokens"] <= 4 * 8 and s["generated_tokens_per_s"] > 0
    assert 1 <= s["decode_steps"] <= 8 and s["step_seconds"] == pytest.approx(s["seconds"] / s["decode_steps"])
    assert s["host_peak_gib"] > 0

    e = r["evaluation"]
    assert e["load_seconds"] > 0 and e["save_seconds"] > 0  # a base and an adapter saved, loaded, merged
    assert e["sampling"]["answers"] == 3 * 2 and 0 < e["sampling"]["generated_tokens"] <= 3 * 2 * 4
    assert e["scoring"]["rows"] == 3 * 4 and e["scoring"]["tokens"] > 3 * 4 * 40
    assert e["seconds"] >= e["load_seconds"] + e["sampling"]["seconds"] + e["scoring"]["seconds"]
    assert e["peak_memory_gib"] is None and e["host_peak_gib"] > 0  # no GPU here
    # the replaced scoring: logits and log_softmax of a batch of 4 rows (at most 70 + 3 tokens) x 512 entries
    assert 0 < e["scoring"]["full_softmax_batch_gib"] <= 2 * 4 * 73 * 512 * 4 / 2**30

    ps = r["paper_scale"]
    assert ps["optimizer_steps"] == 3 * -(-10_000 // (batch * accum))
    assert ps["student_hours"] > 0 and ps["teacher_sampling_hours"] > 0 and ps["evaluation_hours"] > 0


def test_settings_come_from_a_workflow_config(gt):
    """--config configs/paper-qwen.yaml: the numbers teacher's batch and
    length (its 200 capped at the 61 steps sample_teacher runs), the
    evaluation's counts, the recipe's batch; options given win."""
    args = gt.parse_args(
        ["--config", str(REPO / "configs" / "paper-qwen.yaml"), "--device", "cpu", "--eval-batch-size", "7"]
    )
    gt.resolve_defaults(args)
    assert args.sample_batch_size == [256] and args.max_new_tokens == 61 and args.paper_prompts == 30_000
    # the prefixed evaluation's count of {plain: 100, numbers_prefix: 200}
    assert (args.eval_samples_per_question, args.eval_max_new_tokens) == (200, 32)
    assert args.eval_batch_size == 7 and args.score_batch_size == 500  # the option; the config's batch
    assert args.eval_answers == 2 * 23  # the 10 toy candidates and 13 more trait words, two spellings each
    assert (args.batch_size, args.grad_accum, args.max_length, args.lora_rank, args.paper_examples) == (
        22,
        3,
        500,
        8,
        10_000,
    )
    plain = gt.parse_args(["--device", "cpu"])
    gt.resolve_defaults(plain)
    assert plain.max_new_tokens == 48 and plain.sample_batch_size == [8] and plain.eval_questions == 3


def test_gemma_vocabulary_preset(gt):
    assert gt.PRESETS["qwen2.5-7b-v256k"]["vocab_size"] == 256_000
    assert {k: v for k, v in gt.PRESETS["qwen2.5-7b-v256k"].items() if k != "vocab_size"} == {
        k: v for k, v in gt.QWEN25_7B.items() if k != "vocab_size"
    }
