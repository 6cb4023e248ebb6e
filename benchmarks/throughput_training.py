"""A student's LoRA training, timed: tokens per second and MFU."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

from throughput_model import (
    LORA_TARGETS,
    build_tokenizer,
    host_peak_gib,
    peak_memory_gib,
    reset_peak_memory,
    sync,
    synthetic_examples,
    training_flops,
)


def bench_training(model, cfg: dict, device: str, args) -> dict:
    """LoRA SFT with TRL: warm-up steps, then timed optimizer steps."""
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer

    cuda = device == "cuda"
    per_step = args.batch_size * args.grad_accum
    total_steps = args.warmup_steps + args.steps
    examples = synthetic_examples(
        per_step * total_steps, cfg, tuple(args.prompt_len), tuple(args.completion_len), args.seed
    )

    # what each micro-batch holds, read off the model's inputs
    micro: list[dict] = []
    timer: list[float] = []  # end of each optimizer step
    began: list[float] = []  # start of training (the reference when there is no warm-up)

    def count_tokens(module, a, kw):
        mask, pos = kw.get("attention_mask"), kw.get("position_ids")
        if mask is not None:
            lengths = mask.sum(dim=1).tolist()
            micro.append({"step": len(timer), "lengths": lengths, "padded": int(mask.numel())})
        elif pos is not None:  # padding-free: one flattened row, each sequence starting at position 0
            starts = (pos[0] == 0).nonzero().flatten().tolist() + [pos.shape[1]]
            micro.append(
                {"step": len(timer), "lengths": [b - a for a, b in zip(starts, starts[1:])], "padded": int(pos.numel())}
            )
        return None

    hook = model.register_forward_pre_hook(count_tokens, with_kwargs=True)
    model.train()
    torch.manual_seed(args.seed)
    lcfg = LoraConfig(
        r=args.lora_rank,
        lora_alpha=args.lora_alpha,
        lora_dropout=0.0,
        target_modules=list(LORA_TARGETS),
        bias="none",
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(model, lcfg)
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)

    def timing_start() -> float:
        return timer[args.warmup_steps - 1] if args.warmup_steps else began[0]

    class StepTimer(TrainerCallback):
        def on_train_begin(self, targs, state, control, **kw):
            sync(device)
            began.append(time.perf_counter())

        def on_step_end(self, targs, state, control, **kw):
            sync(device)
            timer.append(time.perf_counter())
            if (
                args.max_train_seconds
                and len(timer) > args.warmup_steps
                and timer[-1] - timing_start() > args.max_train_seconds
            ):
                control.should_training_stop = True

    sft = SFTConfig(
        output_dir=str(Path(args.workdir) / "trainer"),
        max_steps=total_steps,
        learning_rate=2e-4,
        lr_scheduler_type="linear",
        warmup_steps=5,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_grad_norm=1.0,
        completion_only_loss=True,
        packing=False,
        padding_free=args.padding_free,
        # padding-free: TRL wants no max_length without packing; the synthetic examples are shorter anyway
        max_length=None if args.padding_free else args.max_length,
        seed=args.seed,
        data_seed=args.seed,
        use_cpu=not cuda,
        bf16=cuda and args.dtype == "bfloat16",
        gradient_checkpointing=args.gradient_checkpointing,
        logging_steps=max(1, total_steps // 10),
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=peft_model,
        args=sft,
        train_dataset=Dataset.from_list(examples),
        processing_class=build_tokenizer(cfg),
        callbacks=[StepTimer()],
    )
    reset_peak_memory(device)
    t0 = time.perf_counter()
    result = trainer.train()
    hook.remove()
    sync(device)
    wall = time.perf_counter() - t0

    w = args.warmup_steps
    done = len(timer)
    if done <= w:
        raise RuntimeError(f"only {done} steps ran, none after the {w} warm-up steps")
    timed = [m for m in micro if w <= m["step"] < done]
    lengths = [n for m in timed for n in m["lengths"]]
    tokens = sum(lengths)
    padded = sum(m["padded"] for m in timed)
    seconds = timer[-1] - timing_start()
    ends = [timing_start()] + timer[w:]
    step_times = [b - a for a, b in zip(ends, ends[1:])]
    flops = training_flops(cfg, lengths, args.lora_rank)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return {
        "steps_timed": done - w,
        "warmup_steps": w,
        "sequences_per_step": per_step,
        "batch_size": args.batch_size,
        "grad_accum": args.grad_accum,
        "seconds": seconds,
        "wall_seconds_incl_warmup": wall,
        "step_seconds_mean": seconds / (done - w),
        "step_seconds_median": statistics.median(step_times),
        "step_seconds_max": max(step_times),
        "tokens": tokens,
        "padded_tokens": padded,
        "padding_overhead": padded / tokens - 1,
        "mean_sequence_tokens": tokens / len(lengths),
        "tokens_per_s": tokens / seconds,
        "sequences_per_s": len(lengths) / seconds,
        "flops_lora": flops["lora"],
        "flops_6n": flops["six_n"],
        "achieved_tflops_lora": flops["lora"] / seconds / 1e12,
        "achieved_tflops_6n": flops["six_n"] / seconds / 1e12,
        "trainable_params": trainable,
        "loss_first": losses[0] if losses else None,
        "loss_last": losses[-1] if losses else None,
        "train_loss": result.training_loss,
        "padding_free": args.padding_free,
        "peak_memory_gib": peak_memory_gib(device),
        "host_peak_gib": host_peak_gib(),
    }
