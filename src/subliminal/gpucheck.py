"""The start-of-job check of a GPU job: no silent fall back to CPU.

A job that was given a GPU and cannot use it would otherwise run on CPU
(every model is loaded on ``cuda`` only when torch sees CUDA) until its time
limit, be retried at two and three times the time, and hold the GPUs all
along. :func:`check` stops such a job when it starts, with one line that
names the cause:

* CUDA is unusable: a CPU build of torch, a CUDA wheel newer than the
  node's driver, no device visible;
* bf16 is asked for (``resources.gpu_dtype`` or a recipe's ``bf16`` /
  ``dtype``) on a card without it (compute capability below 8.0);
* the card's free memory is below what the job needs: the weights
  (parameters x bytes of the dtype, the parameters counted from the model
  folder's safetensors headers) plus a margin, and for full fine-tuning the
  gradients and AdamW's two float32 moments, and for training the float32
  logits of a micro-batch and their gradient (tokens x vocabulary x 8
  bytes; the paper recipe's 22 x 500 tokens x Qwen's 152,064 are 12.5 GiB:
  with 14.2 GiB of weights that is 29 GiB against the 32 GiB measured on
  an H100).

"Given a GPU" is read from the environment, because the toy default runs
the same rules (whose ``gpu`` resource is 1) on CPU: SLURM's GPU variables
(``SLURM_GPUS_ON_NODE``, ``SLURM_JOB_GPUS``, ``SLURM_STEP_GPUS``,
``SLURM_GPUS``; the plugin turns a rule's ``gpu`` resource into ``--gpus``,
which sets them) or a non-empty ``CUDA_VISIBLE_DEVICES``.
``SUBLIMINAL_GPU_CHECK=off`` turns the check off (a cluster whose GPUs are
fake, as the CI's one-node cluster's), ``=on`` demands a GPU whatever the
environment says.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

GIB = 1024**3
#: Bytes per parameter of each dtype name the config uses.
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
#: AdamW's two moments, float32, per trainable parameter.
ADAM_BYTES = 8
#: What every job needs beside the weights: the CUDA context, activations,
#: a minimal KV cache (sampling batches are then sized from what is left).
MARGIN_FRACTION, MARGIN_FLOOR = 0.10, 1 * GIB
#: The variables that say SLURM allocated GPUs to this job.
SLURM_GPU_VARIABLES = ("SLURM_GPUS_ON_NODE", "SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS")
#: Those of them that hold a count ([type:]n), not a list of GPU ids.
SLURM_GPU_COUNTS = ("SLURM_GPUS_ON_NODE", "SLURM_GPUS")
SWITCH = "SUBLIMINAL_GPU_CHECK"


class GPUUnusableError(RuntimeError):
    """A GPU job that cannot run as a GPU job; the message names the cause."""


def gpu_given(env: dict | None = None) -> str | None:
    """Why this job counts as given a GPU (the variable that says so), or
    None for a CPU job."""
    env = os.environ if env is None else env
    switch = env.get(SWITCH, "").strip().lower()
    if switch in ("off", "0", "false", "no"):
        return None
    if switch in ("on", "1", "true", "yes"):
        return f"{SWITCH}={env[SWITCH]}"
    for name in SLURM_GPU_VARIABLES:
        value = env.get(name, "").strip()
        if not value or value in ("(null)", "N/A"):
            continue
        if name in SLURM_GPU_COUNTS and value.rpartition(":")[2] == "0":
            continue  # a count of none (an id list's "0" is the first GPU)
        return f"{name}={value}"
    visible = env.get("CUDA_VISIBLE_DEVICES", "").strip()
    if visible and visible not in ("-1", "NoDevFiles"):
        return f"CUDA_VISIBLE_DEVICES={visible}"
    return None


def count_parameters(folder: str | Path) -> int | None:
    """Parameters stored in a model folder's safetensors files (read from
    their headers only), or None where there are none to read."""
    files = sorted(Path(folder).glob("*.safetensors")) if Path(folder).is_dir() else []
    if not files:
        return None
    total = 0
    for path in files:
        with open(path, "rb") as fh:
            size = int.from_bytes(fh.read(8), "little")
            header = json.loads(fh.read(size))
        total += sum(math.prod(t["shape"]) for name, t in header.items() if name != "__metadata__")
    return total


def vocab_size(folder: str | Path) -> int | None:
    """The vocabulary of a model folder's config.json, or None."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        return None
    spec = json.loads(path.read_text())
    return spec.get("vocab_size") or (spec.get("text_config") or {}).get("vocab_size")


def needed_bytes(
    parameters: int, dtype: str, full_training: bool = False, logits: tuple[int, int] | None = None
) -> tuple[int, str]:
    """(bytes, how they were counted) a job needs at least on its GPU.
    ``logits``: (tokens per micro-batch, vocabulary) of a training job,
    whose float32 logits and their gradient are its largest activation."""
    b = DTYPE_BYTES[dtype]
    weights = parameters * b
    parts = [f"{parameters / 1e9:.2f} B parameters x {b} bytes ({dtype}) = {weights / GIB:.1f} GiB weights"]
    need = weights
    if full_training:  # gradients in the weights' dtype, AdamW's moments in float32
        extra = parameters * (b + ADAM_BYTES)
        parts.append(f"{extra / GIB:.1f} GiB gradients and AdamW moments (full fine-tuning)")
        need += extra
    if logits:
        tokens, vocab = logits
        extra = tokens * vocab * 8
        parts.append(f"{extra / GIB:.1f} GiB float32 logits and their gradient ({tokens} tokens x {vocab})")
        need += extra
    margin = max(MARGIN_FLOOR, int(MARGIN_FRACTION * need))
    parts.append(f"{margin / GIB:.1f} GiB margin")
    return need + margin, " + ".join(parts)


def _cuda_problem(torch) -> str | None:
    """Why CUDA cannot be used by this torch, or None."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU build (no CUDA): install a CUDA wheel in the job's environment"
    if not torch.cuda.is_available():
        try:
            torch.cuda.init()
            cause = "no reason given"
        except Exception as err:  # the driver's own words, e.g. "driver ... is too old"
            cause = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return (
            f"torch {torch.__version__} (built for CUDA {torch.version.cuda}) cannot use CUDA: {cause} "
            "(a driver older than the wheel's CUDA needs an older wheel or a newer driver)"
        )
    if torch.cuda.device_count() == 0:
        return "CUDA sees no device"
    return None


def check(
    source: str | Path | None = None,
    dtype: str = "float32",
    *,
    bf16: bool = False,
    full_training: bool = False,
    batch_tokens: int | None = None,
    key: str = "resources.gpu_dtype",
    env: dict | None = None,
) -> dict | None:
    """Stop a GPU job that cannot run as one (see the module's docstring);
    return what was checked (None for a CPU job). ``source``: the model
    folder whose parameters the job loads (no memory check without one),
    ``dtype`` the dtype its weights are held in, ``bf16`` whether bf16 is
    asked for, ``full_training`` whether every weight is trained (AdamW),
    ``batch_tokens`` a training job's tokens per micro-batch (its logits are
    counted), ``key`` the setting that asks for bf16 (named in the message)."""
    given = gpu_given(env)
    if given is None:
        return None
    import torch

    problem = _cuda_problem(torch)
    if problem:
        raise GPUUnusableError(f"this job was given a GPU ({given}) but {problem}")
    device = int((env if env is not None else os.environ).get("LOCAL_RANK", "0") or 0)
    name = torch.cuda.get_device_name(device)
    capability = tuple(torch.cuda.get_device_capability(device))
    if bf16 and capability < (8, 0):
        raise GPUUnusableError(
            f"bf16 is asked for ({key}), but GPU {device} ({name}, compute capability "
            f"{capability[0]}.{capability[1]}) has no bf16 (8.0 or newer: A100, H100, L40, RTX 30xx and later); "
            "use float16/float32 there or pin a card with bf16 (README: On a SLURM cluster)"
        )
    record = {"given": given, "device": name, "capability": list(capability)}
    parameters = count_parameters(source) if source is not None else None
    if parameters is None:
        if source is not None:
            log.info("GPU check: no safetensors in %s, memory not checked", source)
        return record
    vocab = vocab_size(source) if batch_tokens else None
    need, how = needed_bytes(parameters, dtype, full_training, (batch_tokens, vocab) if vocab else None)
    free, total = torch.cuda.mem_get_info(device)
    record.update(parameters=parameters, need_bytes=need, free_bytes=free, total_bytes=total)
    if free < need:
        raise GPUUnusableError(
            f"GPU {device} ({name}) has {free / GIB:.1f} GiB free of {total / GIB:.1f} GiB, but this job needs "
            f"about {need / GIB:.1f} GiB ({how}); pin a larger card (SUBLIMINAL_SLURM_GPU_MODEL or "
            "a constraint: README, On a SLURM cluster)"
        )
    log.info("GPU check: %s, %.1f GiB free, about %.1f GiB needed (%s)", name, free / GIB, need / GIB, how)
    return record
