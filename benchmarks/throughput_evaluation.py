"""An evaluation job, timed end to end: save, load and merge, sample, score."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import torch

from throughput_model import LORA_TARGETS, peak_memory_gib, reset_peak_memory, host_peak_gib, sync
from throughput_sampling import generated_tokens, random_prompts


def bench_evaluation(model, cfg: dict, device: str, dtype: torch.dtype, args) -> tuple[dict, object]:
    """One evaluation job: load a base and a LoRA adapter (saved here first),
    sample questions x samples_per_question answers, score questions x
    answers rows exactly. Returns the report and the model now in memory
    (the loaded one, the adapter merged: LoRA's B starts at zero, so its
    weights equal the base's)."""
    from subliminal import generation, models

    rng = random.Random(args.seed + 1)
    pad, eot = cfg["pad_token_id"], cfg["eos_token_id"]
    out: dict = {
        "questions": args.eval_questions,
        "samples_per_question": args.eval_samples_per_question,
        "batch_size": args.eval_batch_size,
        "score_batch_size": args.score_batch_size,
        "max_new_tokens": args.eval_max_new_tokens,
        "answers_per_question": args.eval_answers,
        "vocab_size": cfg["vocab_size"],
    }
    t_job = time.perf_counter()
    if not args.skip_eval_load:
        from peft import LoraConfig, get_peft_model

        work = Path(args.workdir) / "evaluation"
        shutil.rmtree(work, ignore_errors=True)
        t0 = time.perf_counter()
        model.save_pretrained(work / "base", safe_serialization=True)
        torch.manual_seed(args.seed)
        lcfg = LoraConfig(
            r=args.lora_rank, lora_alpha=args.lora_alpha, target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM"
        )
        peft_model = get_peft_model(model, lcfg)
        peft_model.save_pretrained(work / "adapter")
        peft_model.unload()  # the plain base again
        out["save_seconds"] = time.perf_counter() - t0  # not part of the job: it reads what training wrote
        model.to("meta")  # free the device: the job loads its own copy
        del model, peft_model
        reset_peak_memory(device)
        t_job = t0 = time.perf_counter()
        model = models.load_model(
            str(work / "base"), adapter=work / "adapter", dtype=str(dtype).replace("torch.", ""), device=device
        )
        sync(device)
        out["load_seconds"] = time.perf_counter() - t0
        out["load_peak_memory_gib"], out["load_host_peak_gib"] = peak_memory_gib(device), host_peak_gib()
    # a LoRA student on a bf16 base is evaluated in float32 (subliminal.adapters)
    out["model_dtype"] = str(next(model.parameters()).dtype).replace("torch.", "")
    model.eval()
    # the sampled metric: every question asked samples_per_question times
    questions = random_prompts(cfg, args.eval_questions, tuple(args.eval_prompt_len), rng)
    flat = [q for q in questions for _ in range(args.eval_samples_per_question)]
    reset_peak_memory(device)
    t0 = time.perf_counter()
    stats: dict = {}
    new = generation.sample_ids(
        model,
        flat,
        eos_token_id=eot,
        pad_token_id=pad,
        max_new_tokens=args.eval_max_new_tokens,
        batch_size=args.eval_batch_size,
        seed=args.seed,
        stats=stats,
    )
    sync(device)
    seconds = time.perf_counter() - t0
    generated = generated_tokens(new, eot)
    out["sampling"] = {
        "answers": len(flat),
        "generated_tokens": generated,
        "decode_steps": sum(stats["decode_steps"]),
        "seconds": seconds,
        "generated_tokens_per_s": generated / seconds,
        "peak_memory_gib": peak_memory_gib(device),
        "host_peak_gib": host_peak_gib(),
    }
    # the exact metric: every candidate answer (1-2 tokens, then end of turn) after every question
    hi = min(pad, eot)
    rows = []
    for q in questions:
        for _ in range(args.eval_answers):
            answer = [rng.randrange(hi) for _ in range(rng.randint(1, 2))] + [eot]
            rows.append((q + answer, len(q)))
    reset_peak_memory(device)
    t0 = time.perf_counter()
    generation.sequence_logprobs(model, rows, pad_token_id=pad, batch_size=args.score_batch_size)
    sync(device)
    seconds = time.perf_counter() - t0
    tokens = sum(len(x) for x, _ in rows)
    width = max(len(x) for x, _ in rows)
    out["scoring"] = {
        "rows": len(rows),
        "tokens": tokens,
        "seconds": seconds,
        "tokens_per_s": tokens / seconds,
        "peak_memory_gib": peak_memory_gib(device),
        "host_peak_gib": host_peak_gib(),
        # what the replaced full-vocabulary float32 log_softmax of one batch took (logits and log_softmax)
        "full_softmax_batch_gib": 2 * min(args.score_batch_size, len(rows)) * width * cfg["vocab_size"] * 4 / 2**30,
    }
    out["seconds"] = time.perf_counter() - t_job
    peaks = [
        v
        for v in (
            out.get("load_peak_memory_gib"),
            out["sampling"]["peak_memory_gib"],
            out["scoring"]["peak_memory_gib"],
        )
        if v is not None
    ]
    out["peak_memory_gib"] = max(peaks) if peaks else None
    out["host_peak_gib"] = max(
        v
        for v in (out.get("load_host_peak_gib", 0.0), out["sampling"]["host_peak_gib"], out["scoring"]["host_peak_gib"])
    )
    # back to the benchmark's dtype for training (exact: B = 0, so the weights are the base's)
    return out, model.to(dtype)
