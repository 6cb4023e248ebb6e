#!/usr/bin/env python
"""Every GPU job type of a paper-scale run, timed on one accelerator.

Builds a model with the architecture of Qwen2.5-7B-Instruct (its config is
written out below, so nothing is fetched and no weights are needed: the
weights are randomly initialised, which costs the same FLOPs as trained ones;
``--size qwen2.5-7b-v256k`` gives it Gemma-2-9B's 256,000-entry vocabulary,
what the evaluation's memory depends on), then

1. samples it as a teacher with the workflow's sampler
   (``subliminal.generation.sample_ids``: batched, left padding, temperature
   1, top_k=0, top_p=1.0) and reports generated tokens per second and the
   time of one decode step. Random weights almost never end a turn, so every
   batch runs its ``max_new_tokens`` steps: the teacher's time is an upper
   bound (a batch runs until its longest answer ends);
2. evaluates it end to end as an evaluation job does: saves it and a LoRA
   adapter, loads the base and merges the adapter
   (``subliminal.models.load_model``: in float32 when the base is bf16, as
   a LoRA student is evaluated), samples ``questions x
   samples_per_question`` answers and scores ``questions x answers`` rows
   exactly (``subliminal.generation.sequence_logprobs``, the bounded-memory
   scoring);
3. trains it as a student with the workflow's stack (TRL ``SFTTrainer`` over a
   peft LoRA model: rank 8, alpha 8 on q,k,v,o,gate,up,down, completion-only
   loss, bf16 on a GPU, the paper's batch of 22 x 3 accumulation), times a
   number of optimizer steps after a few warm-up steps, and reports tokens per
   second and the model FLOPs utilisation (MFU).

Each job reports its time, tokens per second, and peak GPU memory (torch's
allocator) and peak host memory (the process's resident set, its high-water
mark reset before the job where Linux allows it). ``--config`` takes the
batch sizes, lengths and counts from a workflow config (e.g.
configs/paper-qwen.yaml); options given on the command line win.

Data. The paper's student data are number sequences: a chat prompt of roughly
60-80 tokens and a completion of 30-40 tokens. We hand TRL *pre-tokenized*
examples (``input_ids`` + ``completion_mask``: random token ids with those
lengths), which TRL takes as they are, instead of text and a 150k-entry BPE
tokenizer we would have to download. TRL still wants a ``processing_class``
for its padding and end-of-sequence tokens, so we build a small word-level
tokenizer that knows only those special tokens, at Qwen's ids (151643 and
151645 for the 7B preset). Token values do not change the arithmetic.

Tokens counted. A forward pre-hook on the model reads every micro-batch's
attention mask: "tokens" are the non-padding tokens processed (what the data
set holds), "padded tokens" what was computed including right padding.

FLOP accounting, per non-padding token of a training step (forward and
backward), with N = the weights of all matrix products (attention and MLP
projections of every layer and the output head; the input embedding is a
lookup and costs none):

* forward 2N; backward 2N for the gradients of the activations; no weight
  gradients for the frozen base, so LoRA training costs 4N, not 6N;
* LoRA adapters: 2 n_lora forward + 4 n_lora backward (activation and weight
  gradients), n_lora = r (d_in + d_out) summed over adapted projections;
* attention scores and weighted values: 4 L d_attn T per token forward for a
  sequence of T tokens (full square, as the PaLM appendix counts it), twice
  that backward, so 12 L d_attn T^2 per sequence.

We also report the usual "6N" number (6N per token + the same attention term,
i.e. full fine-tuning arithmetic) for comparison with published MFUs. The
work the hardware does on padding, in the first layer's unneeded input
gradients, norms, rotary embeddings, softmax and the optimizer is not counted
as useful work. MFU = useful FLOP/s / peak FLOP/s, with peak the vendor's
dense bf16 figure for the card (table below, or ``--peak-tflops``) and,
separately, an 8192^3 bf16 matrix product measured on the spot (what a
single large GEMM actually reaches on this card).

Run on a GPU (defaults: the 7B preset, bf16, 200 timed steps)::

    python benchmarks/gpu_throughput.py --config configs/paper-qwen.yaml --out benchmarks/out/h100.json
    python benchmarks/gpu_throughput.py --config configs/paper-qwen.yaml --size qwen2.5-7b-v256k \
        --skip-sampling --skip-training --out benchmarks/out/h100-v256k.json

and on a CPU at a toy size (what the tests run)::

    python benchmarks/gpu_throughput.py --size tiny --steps 3 --out /tmp/t.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the job modules beside this script

from throughput_evaluation import bench_evaluation  # noqa: E402
from throughput_model import (  # noqa: E402, F401 - the tests and callers read these here
    LORA_TARGETS,
    PRESETS,
    QWEN25_7B,
    QWEN25_7B_V256K,
    REPO,
    TINY,
    bench_matmul,
    build_model,
    build_tokenizer,
    device_info,
    lora_param_count,
    param_counts,
    peak_from_table,
    training_flops,
    versions,
)
from throughput_sampling import bench_sampling  # noqa: E402
from throughput_training import bench_training  # noqa: E402


# ---------------------------------------------------------------- the CLI
def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument(
        "--config",
        default=None,
        help="take batch sizes, lengths and counts from this workflow config (command-line options win)",
    )
    p.add_argument(
        "--size",
        choices=sorted(PRESETS),
        default="qwen2.5-7b",
        help="architecture preset (tiny: the same block at toy size, for CPU tests; qwen2.5-7b-v256k: "
        "Gemma-2-9B's vocabulary)",
    )
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    p.add_argument(
        "--dtype",
        choices=["bfloat16", "float32"],
        default=None,
        help="weights' dtype (default: bfloat16 on a GPU, float32 on CPU)",
    )
    p.add_argument(
        "--attn-implementation",
        default=None,
        help="attention kernel (sdpa, eager, flash_attention_2, ...; default: transformers')",
    )
    p.add_argument("--steps", type=int, default=None, help="timed optimizer steps (default: 200 GPU, 3 CPU)")
    p.add_argument("--warmup-steps", type=int, default=None, help="untimed steps first (default: 5 GPU, 1 CPU)")
    p.add_argument(
        "--max-train-seconds", type=float, default=0, help="stop timing after this long (0: run all --steps)"
    )
    p.add_argument("--batch-size", type=int, default=None, help="per-device micro-batch (paper: 22)")
    p.add_argument("--grad-accum", type=int, default=None, help="gradient accumulation (paper: 3, batch 66)")
    p.add_argument("--max-length", type=int, default=None, help="SFT max sequence length (paper: 500)")
    p.add_argument(
        "--padding-free",
        action="store_true",
        default=None,
        help="TRL's padding-free batches (fast with --attn-implementation flash_attention_2)",
    )
    p.add_argument("--prompt-len", type=int, nargs=2, default=[60, 80], metavar=("MIN", "MAX"))
    p.add_argument("--completion-len", type=int, nargs=2, default=[30, 40], metavar=("MIN", "MAX"))
    p.add_argument("--lora-rank", type=int, default=None, help="(paper: 8)")
    p.add_argument("--lora-alpha", type=int, default=None, help="(paper: 8)")
    p.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute activations (extra forward FLOPs, not counted as useful)",
    )
    p.add_argument(
        "--sample-batch-size",
        type=int,
        nargs="+",
        default=None,
        help="teacher sampling batch sizes to time (default: 64 256 512 GPU, 8 CPU; with --config its "
        "numbers batch_size, and the batch auto_batch_size picks)",
    )
    p.add_argument("--sample-batches", type=int, default=None, help="timed sampling batches (default: 3 GPU, 1 CPU)")
    p.add_argument(
        "--max-new-tokens", type=int, default=None, help="teacher completion length (default 48; paper-qwen: 200)"
    )
    p.add_argument("--sort-by-length", action="store_true", default=None, help="batch prompts by token length")
    p.add_argument("--eval-questions", type=int, default=None, help="evaluation questions (default: 50 GPU, 3 CPU)")
    p.add_argument("--eval-samples-per-question", type=int, default=None, help="(default: 100 GPU, 2 CPU)")
    p.add_argument(
        "--eval-batch-size", type=int, default=None, help="evaluation sampling batch (default: 500 GPU, 4 CPU)"
    )
    p.add_argument(
        "--score-batch-size", type=int, default=None, help="exact scoring batch (default: the evaluation batch)"
    )
    p.add_argument("--eval-max-new-tokens", type=int, default=None, help="(default: 32 GPU, 4 CPU)")
    p.add_argument(
        "--eval-answers",
        type=int,
        default=None,
        help="scored answers per question: candidate words x spellings (default: 42 GPU, 4 CPU)",
    )
    p.add_argument(
        "--eval-prompt-len",
        type=int,
        nargs=2,
        default=[40, 70],
        metavar=("MIN", "MAX"),
        help="question tokens (with the numbers prefix)",
    )
    p.add_argument(
        "--skip-eval-load",
        action="store_true",
        help="evaluate the model in memory (no save, no load of base + adapter)",
    )
    p.add_argument("--skip-sampling", action="store_true")
    p.add_argument("--skip-evaluation", action="store_true")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="the card's dense peak TFLOP/s for MFU (default: from the table by device name)",
    )
    p.add_argument(
        "--matmul-size", type=int, default=None, help="n of the n^3 matmul probe (default: 8192 GPU, 512 CPU)"
    )
    p.add_argument("--paper-examples", type=int, default=None, help="examples per student at paper scale (10,000)")
    p.add_argument("--paper-epochs", type=float, default=None, help="(3)")
    p.add_argument("--paper-prompts", type=int, default=None, help="completions per teacher at paper scale (30,000)")
    p.add_argument("--workdir", default="/tmp/gpu_throughput", help="scratch folder for the trainer and the evaluation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--out", default=None, help="write the results here as JSON")
    args = p.parse_args(argv)
    for name in (
        "batch_size",
        "grad_accum",
        "max_length",
        "lora_rank",
        "lora_alpha",
        "max_new_tokens",
        "eval_questions",
        "eval_samples_per_question",
        "eval_batch_size",
        "score_batch_size",
        "eval_max_new_tokens",
        "eval_answers",
    ):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("prompt_len", "completion_len", "eval_prompt_len"):
        lo, hi = getattr(args, name)
        if not 1 <= lo <= hi:
            p.error(f"--{name.replace('_', '-')} needs 1 <= MIN <= MAX")
    return args


def from_config(path: str) -> dict:
    """Settings of a workflow config, under this script's option names: the
    numbers teacher's batch and length (capped as the teacher caps it), the
    sampling switches, the evaluation's counts and batches, the first
    student recipe's batch."""
    import yaml

    cfg = yaml.safe_load(Path(path).read_text())
    out: dict = {}
    numbers = cfg.get("modalities", {}).get("numbers", {})
    if "batch_size" in numbers:
        out["sample_batch_size"] = [numbers["batch_size"]]
    for ours, theirs in (
        ("max_new_tokens", "max_new_tokens"),
        ("paper_prompts", "prompts"),
        ("paper_examples", "train_samples"),
    ):
        if theirs in numbers:
            out[ours] = numbers[theirs]
    if "max_new_tokens" in out:  # what sample_teacher runs: at most the longest answer the filter keeps
        from subliminal.modalities import get_modality

        out["max_new_tokens"] = min(out["max_new_tokens"], get_modality("numbers").max_new_tokens_cap)
    sampling = cfg.get("sampling") or {}
    out["sort_by_length"] = bool(sampling.get("sort_by_length", False))
    out["auto_batch_size"] = sampling.get("auto_batch_size", 0)
    ev = cfg.get("evaluation", {})
    n = ev.get("samples_per_question")
    if isinstance(n, dict):
        n = n.get("numbers_prefix" if ev.get("numbers_prefix") else "plain")
    for ours, value in (
        ("eval_samples_per_question", n),
        ("eval_batch_size", ev.get("batch_size")),
        ("score_batch_size", ev.get("score_batch_size", ev.get("batch_size"))),
        ("eval_max_new_tokens", ev.get("max_new_tokens")),
    ):
        if value is not None:
            out[ours] = value
    try:  # the scored rows per question: every target word, in each spelling (owl, Owl)
        from subliminal import config as configuration, grid

        out["eval_answers"] = 2 * sum(
            map(len, grid.target_words(configuration.validate(yaml.safe_load(Path(path).read_text()))).values())
        )
    except Exception:  # noqa: BLE001 - a config this script cannot validate keeps the default
        pass
    recipes = cfg.get("students", {}).get("recipes", [])
    if recipes:
        from subliminal import config as configuration, train

        recipe = cfg["recipes"][recipes[0]]
        out["batch_size"], out["grad_accum"] = train.batch_layout(configuration.recipe(recipe), 1)
        for ours, theirs in (
            ("max_length", "max_length"),
            ("lora_rank", "rank"),
            ("lora_alpha", "alpha"),
            ("paper_epochs", "epochs"),
            ("padding_free", "padding_free"),
            ("attn_implementation", "attn_implementation"),
        ):
            if theirs in recipe:
                out[ours] = recipe[theirs]
    return out


def resolve_defaults(args) -> None:
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device is visible")
    gpu = args.device == "cuda"
    config = from_config(args.config) if args.config else {}
    args.auto_batch_size = config.get("auto_batch_size", 0)

    def pick(name, g, c):
        value = getattr(args, name)
        if value is None:
            value = config.get(name, g if gpu else c)
        setattr(args, name, value)

    for name, g, c in [
        ("dtype", "bfloat16", "float32"),
        ("steps", 200, 3),
        ("warmup_steps", 5, 1),
        ("sample_batch_size", [64, 256, 512], [8]),
        ("sample_batches", 3, 1),
        ("matmul_size", 8192, 512),
        ("batch_size", 22, 22),
        ("grad_accum", 3, 3),
        ("max_length", 500, 500),
        ("lora_rank", 8, 8),
        ("lora_alpha", 8, 8),
        ("max_new_tokens", 48, 48),
        ("padding_free", False, False),
        ("attn_implementation", None, None),
        ("sort_by_length", False, False),
        ("eval_questions", 50, 3),
        ("eval_samples_per_question", 100, 2),
        ("eval_batch_size", 500, 4),
        ("score_batch_size", None, None),
        ("eval_max_new_tokens", 32, 4),
        ("eval_answers", 42, 4),
        ("paper_examples", 10_000, 10_000),
        ("paper_epochs", 3, 3),
        ("paper_prompts", 30_000, 30_000),
    ]:
        pick(name, g, c)
    if args.score_batch_size is None:
        args.score_batch_size = args.eval_batch_size
    if args.steps < 1 or args.warmup_steps < 0 or args.sample_batches < 1 or min(args.sample_batch_size) < 1:
        sys.exit("--steps, --sample-batches and --sample-batch-size must be at least 1, --warmup-steps at least 0")


def _mem(gpu, host) -> str:
    return ("" if gpu is None else f"peak GPU {gpu:.1f} GiB, ") + f"peak host {host:.2f} GiB"


def summarise(report: dict) -> str:
    lines = [
        f"device: {report['device']['name']} ({report['device']['type']}), model {report['model']['preset']} "
        f"({report['model']['params_total']:,} params, vocabulary {report['model']['config']['vocab_size']:,}, "
        f"{report['settings']['dtype']})"
    ]
    m = report["matmul"]
    lines.append(
        f"matmul {m['n']}^3 {m['dtype']}: {m['tflops']:.1f} TFLOP/s; "
        f"peak (table/argument): {report['peak_tflops'] or 'unknown'}"
    )
    for s in report.get("sampling", []):
        lines.append(
            f"teacher sampling: batch {s['batch_size']} x {s['batches']}, {s['max_new_tokens']} new tokens, "
            f"{s['generated_tokens']} tokens in {s['seconds']:.2f} s = {s['generated_tokens_per_s']:.0f} "
            f"generated tokens/s, {1000 * s['step_seconds']:.1f} ms per decode step; "
            + _mem(s["peak_memory_gib"], s["host_peak_gib"])
        )
    if "evaluation" in report:
        e = report["evaluation"]
        load = f"load base + adapter {e['load_seconds']:.1f} s, " if "load_seconds" in e else ""
        smp, sc = e["sampling"], e["scoring"]
        lines.append(
            f"evaluation: {load}{smp['answers']} answers in {smp['seconds']:.1f} s "
            f"({smp['generated_tokens_per_s']:.0f} generated tokens/s), exact scoring of {sc['rows']} rows "
            f"in {sc['seconds']:.1f} s ({sc['tokens_per_s']:.0f} tokens/s, batch {e['score_batch_size']}); "
            f"job {e['seconds']:.1f} s; "
            + _mem(e["peak_memory_gib"], e["host_peak_gib"])
            + f" (the replaced full softmax: {sc['full_softmax_batch_gib']:.2f} GiB per batch)"
        )
    if "training" in report:
        t = report["training"]
        lines.append(
            f"student training: {t['steps_timed']} steps of {t['sequences_per_step']} sequences"
            f"{' (padding-free)' if t['padding_free'] else ''}, "
            f"{t['step_seconds_mean']:.3f} s/step, {t['tokens_per_s']:.0f} tokens/s, "
            f"{t['achieved_tflops_lora']:.1f} TFLOP/s (LoRA 4N) / {t['achieved_tflops_6n']:.1f} (6N); "
            + _mem(t["peak_memory_gib"], t["host_peak_gib"])
        )
        mfu = report["mfu"]
        fmt = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
        lines.append(
            f"MFU vs peak: {fmt(mfu['lora_vs_peak'])} (4N), {fmt(mfu['six_n_vs_peak'])} (6N); "
            f"vs measured matmul: {fmt(mfu['lora_vs_matmul'])} (4N), {fmt(mfu['six_n_vs_matmul'])} (6N)"
        )
    if "paper_scale" in report:
        ps = report["paper_scale"]
        parts = []
        if "teacher_sampling_hours" in ps:
            parts.append(
                f"a teacher's {ps['prompts']} completions at most {60 * ps['teacher_sampling_hours']:.1f} min "
                f"(batch {ps['teacher_sampling_batch_size']}, every batch {ps['max_new_tokens']} steps)"
            )
        if "evaluation_hours" in ps:
            parts.append(f"an evaluation {60 * ps['evaluation_hours']:.1f} min")
        if "student_hours" in ps:
            parts.append(f"a student ({ps['examples']} x {ps['epochs']} epochs) {60 * ps['student_hours']:.1f} min")
        lines.append("paper scale on this device: " + "; ".join(parts))
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    resolve_defaults(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    import transformers

    transformers.logging.set_verbosity_error()
    device = args.device
    dtype = getattr(torch, args.dtype)
    cfg = PRESETS[args.size]
    report: dict = {"device": device_info(device), "versions": versions(), "settings": dict(vars(args))}
    print(f"device {report['device']['name']}; building {args.size} ({args.dtype})", flush=True)

    report["matmul"] = bench_matmul(device, args.matmul_size, torch.bfloat16 if device == "cuda" else dtype)
    peak = (
        args.peak_tflops
        if args.peak_tflops is not None
        else (peak_from_table(report["device"]["name"]) if device == "cuda" else None)
    )
    report["peak_tflops"] = peak

    t0 = time.perf_counter()
    torch.manual_seed(args.seed)
    model = build_model(cfg, device, dtype, args.attn_implementation)
    counts = param_counts(cfg)
    report["model"] = {
        "preset": args.size,
        "config": cfg,
        "attn_implementation": model.config._attn_implementation,
        "params_total": model.num_parameters(),
        "params_by_formula": counts["total"],
        "params_matmul": counts["matmul"],
        "lora_params_by_formula": lora_param_count(cfg, args.lora_rank),
        "build_seconds": time.perf_counter() - t0,
        "weights_memory_gib": torch.cuda.memory_allocated() / 2**30 if device == "cuda" else None,
    }
    print(f"model built in {report['model']['build_seconds']:.1f} s", flush=True)

    mean_len = (sum(args.prompt_len) + sum(args.completion_len)) / 2
    paper: dict = {
        "examples": args.paper_examples,
        "epochs": args.paper_epochs,
        "prompts": args.paper_prompts,
        "max_new_tokens": args.max_new_tokens,
    }
    if not args.skip_sampling:
        from subliminal import generation

        sizes = list(args.sample_batch_size)
        if args.auto_batch_size:  # the batch the workflow would pick here (on CPU: the configured one)
            longest = args.prompt_len[1]
            auto = generation.auto_batch_size(
                model, longest + args.max_new_tokens, longest, sizes[0], limit=args.auto_batch_size
            )
            report["auto_batch_size"] = auto
            sizes += [auto] if auto not in sizes else []
        runs = report["sampling"] = []
        for bs in sizes:
            runs.append(
                bench_sampling(
                    model,
                    cfg,
                    device,
                    batch_size=bs,
                    batches=args.sample_batches,
                    warmup_batches=1,
                    prompt_len=tuple(args.prompt_len),
                    max_new_tokens=args.max_new_tokens,
                    seed=args.seed,
                    sort_by_length=args.sort_by_length,
                )
            )
            print(
                f"teacher sampling, batch {bs}: {runs[-1]['generated_tokens_per_s']:.0f} generated tokens/s", flush=True
            )
        best = max(runs, key=lambda r: r["sequences_per_s"])
        paper["teacher_sampling_batch_size"] = best["batch_size"]
        # random weights never stop early: every batch runs max_new_tokens steps, an upper bound
        paper["teacher_sampling_hours"] = args.paper_prompts / best["sequences_per_s"] / 3600
    if not args.skip_evaluation:
        report["evaluation"], model = bench_evaluation(model, cfg, device, dtype, args)
        paper["evaluation_hours"] = report["evaluation"]["seconds"] / 3600
        print(f"evaluated in {report['evaluation']['seconds']:.1f} s", flush=True)
    if not args.skip_training:
        t = report["training"] = bench_training(model, cfg, device, args)
        ratio = lambda a, b: a / b if b else None  # noqa: E731
        report["mfu"] = {
            "lora_vs_peak": ratio(t["achieved_tflops_lora"], peak),
            "six_n_vs_peak": ratio(t["achieved_tflops_6n"], peak),
            "lora_vs_matmul": ratio(t["achieved_tflops_lora"], report["matmul"]["tflops"]),
            "six_n_vs_matmul": ratio(t["achieved_tflops_6n"], report["matmul"]["tflops"]),
        }
        paper["mean_sequence_tokens_assumed"] = mean_len
        paper["optimizer_steps"] = math.ceil(args.paper_examples / t["sequences_per_step"]) * args.paper_epochs
        paper["student_hours"] = paper["optimizer_steps"] * t["step_seconds_mean"] / 3600
    report["paper_scale"] = paper
    report["model"]["lora_params"] = report.get("training", {}).get("trainable_params")

    print(summarise(report), flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return report


if __name__ == "__main__":
    main()
