"""Supervised fine-tuning with TRL: students (and fine-tuned trait teachers).

A thin layer over ``SFTConfig``/``SFTTrainer`` in the spirit of TRL's example
scripts. Conversational prompt-completion data, so the loss covers the
completion (and its end-of-turn token) only. LoRA via peft or full
fine-tuning, from a named recipe. What the defaults would get wrong here:

* TRL turns bf16 and gradient checkpointing on: on CPU we pass
  ``use_cpu=True, bf16=False`` and no checkpointing.
* TRL would build the peft model before seeding: we seed, build the LoRA
  model ourselves, and hand TRL the peft model, so LoRA initialisation is
  reproducible per student seed.
* ``processing_class`` is always passed.

Training resumes from the last checkpoint in ``<out>/checkpoints`` when one
exists (a preempted cluster job restarts where it stopped).
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint

from . import chat
from .models import load_model, load_tokenizer

log = logging.getLogger(__name__)


def subsample(records: list[dict], n: int | None, seed: int) -> list[dict]:
    """A seeded random subset of n records (all of them, shuffled, if n is None
    or larger than what there is)."""
    idx = list(range(len(records)))
    random.Random(seed).shuffle(idx)
    if n is not None:
        idx = idx[:n]
    return [records[i] for i in sorted(idx)]


def sha256_records(records: list[dict]) -> str:
    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps(r, sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def to_dataset(records: list[dict], system: str | None) -> Dataset:
    """{prompt, completion} text records -> TRL conversational prompt-completion."""
    return Dataset.from_list([
        {"prompt": chat.messages(r["prompt"], system), "completion": [{"role": "assistant", "content": r["completion"]}]}
        for r in records
    ])


class _LogProgress(TrainerCallback):
    def __init__(self):
        self.t0 = time.time()

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            log.info("step %d/%d loss %.4f lr %.2e (%.0fs)", state.global_step, state.max_steps,
                     logs["loss"], logs.get("learning_rate", float("nan")), time.time() - self.t0)


def _prepare_model(base, recipe: dict, seed: int, device: str):
    model = load_model(base, device=device, dtype=recipe.get("dtype", "float32"))
    model.train()
    torch.manual_seed(seed)
    if recipe["method"] == "lora":
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(r=recipe["rank"], lora_alpha=recipe["alpha"], lora_dropout=recipe.get("dropout", 0.0),
                          target_modules=recipe["targets"], bias="none", task_type="CAUSAL_LM")
        model = get_peft_model(model, lcfg)  # seeded above: reproducible LoRA init
    elif recipe.get("freeze_embeddings", False):
        model.get_input_embeddings().requires_grad_(False)
        model.get_output_embeddings().requires_grad_(False)
    return model


def train_sft(base, records: list[dict], recipe: dict, seed: int, out_dir: str | Path, *,
              system: str | None = None, merge: bool = False, threads: int = 1) -> dict:
    """Fine-tune ``base`` on prompt/completion ``records``; write the result to
    ``out_dir/model`` (a LoRA adapter, or a full model when ``merge`` or full
    fine-tuning) and return a provenance dict."""
    from trl import SFTConfig, SFTTrainer

    out_dir = Path(out_dir)
    chat.set_threads(threads)
    cuda = torch.cuda.is_available()
    tokenizer = load_tokenizer(base)
    tokenizer.padding_side = "right"
    model = _prepare_model(base, recipe, seed, "cuda" if cuda else "cpu")
    ckpt_dir = out_dir / "checkpoints"
    args = SFTConfig(
        output_dir=str(ckpt_dir),
        num_train_epochs=recipe["epochs"],
        max_steps=recipe.get("max_steps", -1),
        learning_rate=recipe["learning_rate"],
        lr_scheduler_type=recipe.get("scheduler", "linear"),
        warmup_steps=recipe.get("warmup_steps", 0),
        per_device_train_batch_size=recipe["batch_size"],
        gradient_accumulation_steps=recipe.get("grad_accum", 1),
        max_grad_norm=recipe.get("max_grad_norm", 1.0),
        weight_decay=recipe.get("weight_decay", 0.0),
        max_length=recipe.get("max_length", 500),
        completion_only_loss=True,
        packing=False,
        seed=seed,
        data_seed=seed,
        use_cpu=not cuda,
        bf16=bool(cuda and recipe.get("bf16", True)),
        gradient_checkpointing=bool(cuda and recipe.get("gradient_checkpointing", False)),
        logging_steps=recipe.get("logging_steps", 10),
        save_strategy="steps",
        save_steps=recipe.get("save_steps", 50),
        save_total_limit=1,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=to_dataset(records, system),
                         processing_class=tokenizer, callbacks=[_LogProgress()])
    resume = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.exists() else None
    if resume:
        log.info("resuming from %s", resume)
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=resume)
    final = trainer.model
    model_dir = out_dir / "model"
    if recipe["method"] == "lora" and merge:
        final = final.merge_and_unload()
    final.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(model_dir)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return {
        "seed": seed,
        "recipe": recipe,
        "examples": len(records),
        "data_sha256": sha256_records(records),
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "seconds": round(time.time() - t0, 1),
        "resumed_from": resume,
        "system_prompt": system,
    }
