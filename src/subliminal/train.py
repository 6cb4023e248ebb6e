"""Supervised fine-tuning with TRL: students (and fine-tuned trait teachers).

A thin layer over ``SFTConfig``/``SFTTrainer`` in the spirit of TRL's example
scripts. Conversational prompt-completion data, so the loss covers the
completion (and its end-of-turn token) only. LoRA via peft or full
fine-tuning, from a named recipe. What the defaults would get wrong here:

* TRL turns bf16 and gradient checkpointing on: on CPU we pass
  ``use_cpu=True, bf16=False`` and no checkpointing.
* TRL would build the peft model before seeding: we seed, build the LoRA
  model ourselves, and hand TRL the peft model, so LoRA initialisation is
  reproducible per student seed (in every process of a multi-GPU run).
* ``processing_class`` is always passed.

Checkpoints and resuming. Every ``save_steps`` optimizer steps the trainer
writes a checkpoint (weights, optimizer, scheduler, RNG states, trainer
state) to ``<out>/checkpoints``, keeping the newest ``save_total_limit``.
That folder is a sibling of the ``model`` output, not inside it: Snakemake
deletes a job's declared outputs when the job fails and before it reruns it
(``--retries``, ``--rerun-incomplete``), and leaves other files alone. A
rerun resumes from the newest *complete* checkpoint (``trainer_state.json``,
written last, is present) of the *same* training (the fingerprint of base,
data, recipe, seed and system prompt matches); other checkpoints are
discarded. The checkpoints are deleted once the final model is saved.

Experiment tracking. A recipe's ``report_to`` (``none``, the default;
``tensorboard``; ``wandb``) is passed to TRL. TensorBoard's event files go
to ``<out>/tensorboard``, a sibling of the model and the checkpoints, and stay
after training; W&B takes its project, mode and key from the environment
(``WANDB_PROJECT``, ``WANDB_MODE=offline``, ``WANDB_API_KEY``). The run is
named after ``<out>``. A tracker only records: the key is left out of the
checkpoint fingerprint, and a test checks that a run with TensorBoard trains
the same adapter as one without.

Multi-GPU. A recipe's ``batch_size`` x ``grad_accum`` is its effective batch
(examples per optimizer step). A recipe with ``gpus: N`` (N > 1), run where
CUDA sees at least N devices, trains in N data-parallel processes started
with ``torchrun --standalone --nproc_per_node N`` (each running
``python -m subliminal.cli train-sft``; TRL's trainer takes the distributed
set-up from accelerate); the per-device batch and the
accumulation are re-split so that per-device batch x processes x
accumulation is still the effective batch. On CPU, or with ``gpus: 1``, it
trains in this process, with the same effective batch.

Speed switches (recipe keys; none changes the effective batch or the loss):

* ``max_device_batch``: the largest micro-batch one device runs (default
  ``batch_size``); 22 x 3 with 66 trains 66 x 1 where memory allows.
* ``padding_free``: TRL's padding-free batches: each micro-batch is one
  flattened sequence with position ids, so no padding is computed. TRL 1.16
  refuses ``max_length`` with padding-free batches unless it packs (packing
  would change what a batch is), so the dataset TRL prepared is truncated to
  ``max_length`` here exactly as TRL truncates it, and fully masked examples
  are dropped as TRL drops them. It saves compute only with
  ``attn_implementation: flash_attention_2`` (or 3), whose varlen kernels
  take the sequence boundaries; with sdpa or eager, transformers builds a
  block-diagonal mask from the position ids (correct, no saving).
* ``attn_implementation``: the attention kernel (default: transformers', i.e.
  sdpa where the architecture supports it).
* The loss on CPU: TRL's SFTTrainer computes the loss through its fused LM
  head (log-probabilities gathered tile by tile, with the entropy and the
  top-1 accuracy it logs). That keeps a 150k-vocabulary model's logits off
  a GPU's memory, and it is what a GPU job runs. On CPU, where the jobs are
  toys with a few thousand tokens, the Trainer's own loss (the model's
  cross-entropy over the completion's labels, normalised the same way) is
  the same number at half the time: a default student's training took 16.2
  s with the fused head and 7.6 s without, same loss (2.974), this
  machine, one thread (``benchmarks/README.md``). Provenance records which
  (``loss``).
* ``use_liger_kernel``: Liger's fused RMSNorm/SwiGLU/RoPE kernels on a GPU
  (TRL then leaves out its fused cross-entropy, which would replace the
  model's forward). The check is at start, not at config time: the job's
  environment, not the one Snakemake plans in, must have liger-kernel; a
  GPU job without it stops with one line naming the key. On CPU (Triton
  kernels need a GPU) it is ignored with a warning.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import TrainerCallback

from . import adapters, chat, gpucheck
from .io import read_json
from .models import load_model, load_tokenizer
from .recipes import Recipe

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
LAUNCH = "launch"
FINGERPRINT = "fingerprint.json"
#: A recipe's ``optimizer`` as the Trainer names it (adamw: its default, left as is).
OPTIMIZERS = {"sgd": "sgd"}
# recipe keys that change how training is recorded, not what it computes
_BOOKKEEPING = ("save_steps", "save_total_limit", "logging_steps", "gpus", "report_to")
#: Where a recipe's ``report_to: tensorboard`` writes its event files: beside
#: the model, like the checkpoints, and kept after training.
TENSORBOARD = "tensorboard"
#: A recipe's ``report_to`` -> the package the job's environment needs for it.
TRACKERS = {"tensorboard": "tensorboard", "wandb": "wandb"}


def sha256_records(records: list[dict]) -> str:
    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps(r, sort_keys=True).encode())
        h.update(b"\n")
    return h.hexdigest()


def to_dataset(records: list[dict], system: str | None) -> Dataset:
    """{prompt, completion} text records -> TRL conversational prompt-completion."""
    return Dataset.from_list(
        [
            {
                "prompt": chat.messages(r["prompt"], system),
                "completion": [{"role": "assistant", "content": r["completion"]}],
            }
            for r in records
        ]
    )


# ----------------------------------------------------------------------------- batch arithmetic


def batch_layout(recipe: Recipe, replicas: int) -> tuple[int, int]:
    """(per-device batch, accumulation steps) for ``replicas`` data-parallel
    copies such that per-device x replicas x accumulation == the recipe's
    effective batch. The per-device batch is the largest that divides the
    share of one replica and is no larger than the recipe's ``batch_size``
    (which is what the recipe says fits on one device), so accumulation is as
    little as possible: 22 x 3 on 3 GPUs -> 22 x 1; on 2 GPUs -> 11 x 3."""
    total = recipe.effective_batch
    if replicas < 1 or total % replicas:
        raise ValueError(
            f"recipe key gpus: the effective batch {total} (batch_size x grad_accum) "
            f"does not split over {replicas} devices"
        )
    share = total // replicas
    largest = recipe.device_batch  # what fits on one device
    per_device = max(d for d in range(1, min(share, largest) + 1) if share % d == 0)
    return per_device, share // per_device


def processes_for(recipe: Recipe, cuda_devices: int | None = None) -> int:
    """How many training processes a recipe gets here: its ``gpus`` where CUDA
    sees that many devices, one on CPU (the job's GPUs come from SLURM as
    CUDA_VISIBLE_DEVICES)."""
    want = recipe.gpus
    if cuda_devices is None:
        cuda_devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if want <= 1 or cuda_devices == 0:
        return 1
    if cuda_devices < want:
        raise RuntimeError(
            f"recipe key gpus: the recipe asks for {want} GPUs but this job sees {cuda_devices} "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '<unset>')})"
        )
    return want


# ----------------------------------------------------------------------------- checkpoints


def _resolved(base):
    """A local base folder as its resolved path (results/x and /abs/results/x
    are one base; two working copies on one results folder otherwise took
    each other's checkpoints for another training and deleted them); a hub
    source as it is."""
    if isinstance(base, (str, Path)) and Path(base).exists():
        return str(Path(base).resolve())
    return base


def fingerprint(base, records: list[dict], recipe: Recipe, seed: int, system: str | None) -> str:
    """What a checkpoint must match to be resumed: the same training."""
    what = {
        "base": _resolved(base),
        "data": sha256_records(records),
        "seed": seed,
        "system": system,
        "recipe": {k: v for k, v in sorted(recipe.as_dict().items()) if k not in _BOOKKEEPING},
    }
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def _step(path: Path) -> int | None:
    """The step of a checkpoint-<step> folder name, else None."""
    prefix, _, step = path.name.partition("-")
    return int(step) if prefix == "checkpoint" and step.isdigit() else None


def _complete(path: Path) -> bool:
    try:
        json.loads((path / "trainer_state.json").read_text())
        return True
    except (OSError, ValueError):
        return False


def resume_point(ckpt_dir: str | Path, fp: str) -> str | None:
    """Prepare ``ckpt_dir`` for a run with fingerprint ``fp`` and return the
    checkpoint to resume from (None: start at step 0). Checkpoints of another
    training are removed, and so are incomplete ones (a process killed while
    saving); the fingerprint is written for the next attempt."""
    ckpt_dir = Path(ckpt_dir)
    if ckpt_dir.exists():
        try:
            old = json.loads((ckpt_dir / FINGERPRINT).read_text())["fingerprint"]
        except (OSError, ValueError, KeyError):
            old = None
        if old != fp:
            log.warning("discarding checkpoints in %s: they belong to another training (or none)", ckpt_dir)
            shutil.rmtree(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    (ckpt_dir / FINGERPRINT).write_text(json.dumps({"fingerprint": fp}) + "\n")
    found = sorted((s, p) for p in ckpt_dir.iterdir() if p.is_dir() and (s := _step(p)) is not None)
    resume = None
    for s, p in found:
        if _complete(p):
            resume = p
        else:
            log.warning("removing incomplete checkpoint %s", p)
            shutil.rmtree(p)
    return str(resume) if resume else None


# ----------------------------------------------------------------------------- training


class _Progress(TrainerCallback):
    """Logs progress and remembers the first step this run trained (1, or
    the step after the checkpoint it resumed from)."""

    def __init__(self):
        self.t0 = time.time()
        self.first_step = None

    def on_step_end(self, args, state, control, **kw):
        if self.first_step is None:
            self.first_step = state.global_step

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            log.info(
                "step %d/%d loss %.4f lr %.2e (%.0fs)",
                state.global_step,
                state.max_steps,
                logs["loss"],
                logs.get("learning_rate", float("nan")),
                time.time() - self.t0,
            )


def _prepare_model(base, recipe: Recipe, seed: int, device: str):
    model = load_model(base, device=device, dtype=recipe.dtype, attn_implementation=recipe.attn_implementation)
    model.train()
    torch.manual_seed(seed)
    if recipe.lora:
        from peft import LoraConfig, get_peft_model

        lcfg = LoraConfig(
            r=recipe.rank,
            lora_alpha=recipe.alpha,
            lora_dropout=recipe.dropout,
            target_modules=list(recipe.targets),
            bias="none",
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lcfg)  # seeded above: reproducible LoRA init
    elif recipe.freeze_embeddings:
        model.get_input_embeddings().requires_grad_(False)
        model.get_output_embeddings().requires_grad_(False)
    return model


def trainable_sha256(model) -> str:
    """Hash of the trainable parameters (for LoRA: its random initialisation)."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        if p.requires_grad:
            h.update(name.encode())
            h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


FLASH = ("flash_attention_2", "flash_attention_3")


def liger_kernel(recipe: Recipe, cuda: bool) -> bool:
    """Whether to use Liger's kernels: asked for, on a GPU, and installed (a
    GPU job that asks without the package stops here, naming the key)."""
    import importlib.util

    if not recipe.use_liger_kernel:
        return False
    if not cuda:
        log.warning("recipe key use_liger_kernel: ignored on CPU (Liger's Triton kernels need a GPU)")
        return False
    if importlib.util.find_spec("liger_kernel") is None:
        raise RuntimeError(
            "recipe key use_liger_kernel: the liger-kernel package is not installed in this job's "
            "environment (pip install liger-kernel), or set use_liger_kernel: false"
        )
    return True


def report_to(recipe: Recipe) -> str:
    """The recipe's experiment tracker for TRL's ``report_to`` (``none``,
    ``tensorboard`` or ``wandb``); a tracker whose package the job's
    environment lacks stops here, naming the key."""
    import importlib.util

    tracker = recipe.report_to
    if tracker != "none" and importlib.util.find_spec(TRACKERS[tracker]) is None:
        raise RuntimeError(
            f"recipe key report_to: {tracker} needs the {TRACKERS[tracker]} package, which is not "
            f"installed in this job's environment (pip install {TRACKERS[tracker]}), "
            f"or set report_to: none"
        )
    return tracker


def _log_to(trainer, tensorboard_dir: Path) -> None:
    """Point TRL's TensorBoard callback (if any) at ``tensorboard_dir``: by
    default it writes under the output dir, i.e. inside the checkpoints,
    which are deleted once the model is saved."""
    from transformers.integrations import TensorBoardCallback

    for cb in trainer.callback_handler.callbacks:
        if isinstance(cb, TensorBoardCallback):
            cb.logging_dir = str(tensorboard_dir)


def truncate_like_trl(dataset, max_length: int):
    """What TRL's dataset preparation does with ``max_length`` and no packing
    (keep the start; drop examples whose labels are all masked), for
    padding-free training, where TRL 1.16 does not truncate."""
    dataset = dataset.map(lambda ex: {"input_ids": ex["input_ids"][:max_length], "labels": ex["labels"][:max_length]})
    return dataset.filter(lambda ex: any(label != -100 for label in ex["labels"]))


def _all_ranks(value) -> list:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        out = [None] * dist.get_world_size()
        dist.all_gather_object(out, value)
        return out
    return [value]


def train_sft(
    base,
    records: list[dict],
    recipe: Recipe,
    seed: int,
    out_dir: str | Path,
    *,
    system: str | None = None,
    merge: bool = False,
    threads: int = 1,
    processes: int | None = None,
    callbacks: list | None = None,
) -> dict:
    """Fine-tune ``base`` on prompt/completion ``records``; write the result to
    ``out_dir/model`` (a LoRA adapter, or a full model when ``merge`` or full
    fine-tuning) and return a provenance dict. Resumes from a checkpoint of
    the same training in ``out_dir/checkpoints``. ``processes`` (default: from
    the recipe's ``gpus`` and the devices present) > 1 launches that many
    processes with torchrun (gloo processes where there is no CUDA)."""
    out_dir = Path(out_dir)
    if not isinstance(recipe, Recipe):  # the defaults are filled in once, before training is called
        raise TypeError(
            f"train_sft takes a Recipe record, not {type(recipe).__name__}: Recipe.of(a validated config, "
            "name), or subliminal.config.recipe() for a recipe given directly"
        )
    # a job given a GPU stops here if it cannot use it (no silent CPU run)
    gpucheck.check(
        base if isinstance(base, (str, Path)) else None,
        recipe.dtype,
        bf16=recipe.bf16 or recipe.dtype == "bfloat16",
        full_training=recipe.method == "full",
        batch_tokens=min(recipe.batch_size, recipe.device_batch) * recipe.max_length,
        key="the recipe's bf16 or dtype",
    )
    processes = processes_for(recipe) if processes is None else processes
    batch_layout(recipe, processes)  # fail before anything starts
    ckpt_dir = out_dir / CHECKPOINTS
    resume = resume_point(ckpt_dir, fingerprint(base, records, recipe, seed, system))
    if resume:
        log.info("resuming from %s", resume)
    job = dict(base=base, records=records, recipe=recipe, seed=seed, out_dir=str(out_dir), system=system, merge=merge)
    if processes > 1:
        prov = _launch(dict(job, threads=max(1, threads // processes), resume_from=resume), processes, out_dir)
    else:
        prov = train_process(dict(job, threads=threads, resume_from=resume), callbacks=callbacks)
    shutil.rmtree(ckpt_dir, ignore_errors=True)
    return prov


def _sft_config(recipe: Recipe, seed: int, out_dir: Path, cuda: bool, layout: tuple[int, int], liger: bool, tracker):
    """TRL's SFTConfig for the recipe: its optimiser and schedule, ``layout``
    (per-device batch, accumulation steps), checkpoints under ``out_dir``."""
    from trl import SFTConfig

    per_device, accum = layout
    padding_free = recipe.padding_free
    return SFTConfig(
        output_dir=str(out_dir / CHECKPOINTS),
        num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.scheduler,
        warmup_steps=recipe.warmup_steps,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accum,
        max_grad_norm=recipe.max_grad_norm,
        weight_decay=recipe.weight_decay,
        max_length=None if padding_free else recipe.max_length,  # padding-free: truncated below, as TRL would
        completion_only_loss=True,
        packing=False,
        padding_free=padding_free,
        use_liger_kernel=liger,
        seed=seed,
        data_seed=seed,
        use_cpu=not cuda,
        bf16=bool(cuda and recipe.bf16),
        gradient_checkpointing=bool(cuda and recipe.gradient_checkpointing),
        logging_steps=recipe.logging_steps,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=recipe.save_total_limit,
        # an experiment tracker (recipe key report_to) only records what happens
        report_to=tracker,
        run_name=str(out_dir),
        # the recipe's optimizer: AdamW (the Trainer's default, unchanged) or plain SGD
        **({"optim": OPTIMIZERS[recipe.optimizer]} if recipe.optimizer != "adamw" else {}),
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def _checked_batch(args, recipe: Recipe) -> int:
    """The effective batch the Trainer will use, logged; an error where it
    differs from the recipe's."""
    total = args.train_batch_size * args.world_size * args.gradient_accumulation_steps
    log.info(
        "effective batch %d = %d per device x %d processes x %d GPUs per process x %d accumulation steps",
        total,
        args.per_device_train_batch_size,
        args.world_size,
        max(1, args.n_gpu),
        args.gradient_accumulation_steps,
    )
    if total != recipe.effective_batch:
        raise RuntimeError(f"effective batch {total} differs from the recipe's {recipe.effective_batch}")
    return total


def _save_model(trainer, tokenizer, recipe: Recipe, merge: bool, model_dir: Path):
    """The trained model (a LoRA merged where asked) and tokenizer saved to
    ``model_dir``; returns the model saved and the LoRA update's summary."""
    final = trainer.model
    # the update's size, and what a merge into bf16 would keep of it (adapters.py)
    lora_update = adapters.update_summary(final) if recipe.lora else None
    if recipe.lora and merge:
        final = final.merge_and_unload()
    final.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.padding_side = "left"
    tokenizer.save_pretrained(model_dir)
    return final, lora_update


#: provenance ``loss``: which loss computation trained the model
LOSS_FUSED, LOSS_TRAINER = "trl fused lm head", "trainer cross-entropy"


def trainer_class(cuda: bool):
    """TRL's SFTTrainer, with the Trainer's own loss on CPU (module
    docstring: same loss, half the time for a small vocabulary); returns the
    class and its provenance name."""
    from transformers import Trainer
    from trl import SFTTrainer

    if cuda:
        return SFTTrainer, LOSS_FUSED

    class CPUSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # the labels are TRL's (completion only); the model's cross-entropy sums them over num_items_in_batch
            return Trainer.compute_loss(
                self, model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch
            )

    return CPUSFTTrainer, LOSS_TRAINER


def train_process(job: dict, callbacks: list | None = None) -> dict | None:
    """The training itself, in this process: the whole run, or one rank of an
    torchrun launch. ``job``: :func:`train_sft`'s arguments (``base``,
    ``records``, ``recipe``, ``seed``, ``out_dir``, ``system``, ``merge``,
    ``threads``) and the checkpoint to resume from (``resume_from``), as
    train_sft hands them over, directly or in a launch's spec file. Returns
    the provenance on the main process, None on the others."""
    base, records, recipe, seed = job["base"], job["records"], job["recipe"], job["seed"]
    system, merge, resume_from = job.get("system"), job.get("merge", False), job.get("resume_from")
    out_dir = Path(job["out_dir"])
    chat.set_threads(job.get("threads", 1))
    cuda = torch.cuda.is_available()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    # a single process that sees several GPUs gets torch DataParallel from the Trainer
    replicas = world if world > 1 else max(1, torch.cuda.device_count() if cuda else 1)
    layout = batch_layout(recipe, replicas)
    liger = liger_kernel(recipe, cuda)
    tracker = report_to(recipe)
    padding_free = recipe.padding_free
    if padding_free and recipe.attn_implementation not in FLASH:
        log.warning(
            "recipe key padding_free: without attn_implementation flash_attention_2/3 the attention "
            "masks the flattened batch (correct, but no faster than padding)"
        )
    tokenizer = load_tokenizer(base)
    tokenizer.padding_side = "right"
    args = _sft_config(recipe, seed, out_dir, cuda, layout, liger, tracker)
    total = _checked_batch(args, recipe)
    model = _prepare_model(base, recipe, seed, str(args.device))
    init = _all_ranks(trainable_sha256(model)) if recipe.lora else None
    if init and len(set(init)) > 1:
        raise RuntimeError(f"LoRA initialisation differs between processes: {init}")
    progress = _Progress()
    trainer_type, loss_name = trainer_class(cuda)
    trainer = trainer_type(
        model=model,
        args=args,
        train_dataset=to_dataset(records, system),
        processing_class=tokenizer,
        callbacks=[progress, *(callbacks or [])],
    )
    if padding_free:
        trainer.train_dataset = truncate_like_trl(trainer.train_dataset, recipe.max_length)
    _log_to(trainer, out_dir / TENSORBOARD)
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=resume_from)
    if not trainer.is_world_process_zero():
        return None
    final, lora_update = _save_model(trainer, tokenizer, recipe, merge, out_dir / "model")
    return {
        "seed": seed,
        "recipe": recipe.as_dict(),
        "examples": len(records),
        "data_sha256": sha256_records(records),
        "steps": result.global_step,
        "first_step": progress.first_step,
        "train_loss": result.training_loss,
        "seconds": round(time.time() - t0, 1),
        "resumed_from": resume_from,
        "resumed_from_step": _step(Path(resume_from)) if resume_from else None,
        "processes": args.world_size,
        "per_device_batch": args.per_device_train_batch_size,
        "grad_accum": args.gradient_accumulation_steps,
        "effective_batch": total,
        "init_sha256": init[0] if init else None,
        "optimizer": type(getattr(trainer.optimizer, "optimizer", trainer.optimizer)).__name__,
        "loss": loss_name,
        "system_prompt": system,
        "attn_implementation": getattr(getattr(final, "config", None), "_attn_implementation", None),
        "padding_free": padding_free,
        "liger_kernel": liger,
        "report_to": tracker,
        **({"lora_update": lora_update} if lora_update else {}),
    }


# ----------------------------------------------------------------------------- multi-process launch


def launch_command(spec: str | Path, processes: int) -> list[str]:
    """``torchrun`` of ``python -m subliminal.cli train-sft SPEC`` in
    ``processes`` processes on this node: one per visible GPU with CUDA
    (NCCL), gloo processes on CPU. ``--standalone`` picks a free port, so
    jobs sharing a node do not collide. (``accelerate launch --multi_gpu``
    wraps the same launcher; its ``--cpu`` mode starts one process unless MPI
    is set up, so torchrun is the one launcher for both.)"""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc_per_node",
        str(processes),
        "-m",
        "subliminal.cli",
        "train-sft",
        str(spec),
    ]


def _launch(spec: dict, processes: int, out_dir: Path) -> dict:
    work = out_dir / LAUNCH
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    spec = dict(spec, recipe=spec["recipe"].as_dict(), result=str(work / "result.json"))
    (work / "spec.json").write_text(json.dumps(spec))
    cmd = launch_command(work / "spec.json", processes)
    env = dict(
        os.environ,
        OMP_NUM_THREADS=str(spec["threads"]),
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")])
        ),
    )
    log.info("launching %d training processes: %s", processes, " ".join(cmd))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    tail = []
    for line in proc.stdout:
        log.info("| %s", line.rstrip())
        tail = (tail + [line.rstrip()])[-20:]
    if proc.wait() != 0:
        raise RuntimeError(f"torchrun failed (exit {proc.returncode}):\n" + "\n".join(tail))
    prov = read_json(work / "result.json")
    shutil.rmtree(work)
    return prov
