"""Multi-GPU students: the batch arithmetic, the launch, and one real
two-process data-parallel training on CPU (gloo) through the same launcher
and entry point a multi-GPU job uses (torchrun -> python -m subliminal.cli
train-sft)."""

from __future__ import annotations

import copy
import logging
import sys

import pytest
import torch
from safetensors.torch import load_file

from conftest import REPO, TINY_LORA_KEYS, load_config
from subliminal import config as configuration
from subliminal.config import recipe
from subliminal import models, train

# dropout 0: one process and two see the same batches, so they must agree
LORA = recipe(TINY_LORA_KEYS)
RECORDS = [
    {"prompt": f"here are some numbers: {i}, {i + 1}. add two more.", "completion": f"{i + 2}, {i + 3}"}
    for i in range(100, 124)
]
# one process vs two, same effective batch: summation order differs only, so the
# adapters agree to rounding, not bit for bit. Adam moves a weight by at most about
# the learning rate (1e-2) per step whatever the gradient's size, so no rounding
# bound holds for the weights; 1e-5 is a thousandth of one step (as test_train_speed)
ATOL = 1e-5


@pytest.mark.parametrize(
    "batch_size, grad_accum, replicas, expected",
    [
        (32, 1, 1, (32, 1)),
        (32, 1, 2, (16, 1)),
        (22, 3, 3, (22, 1)),  # the paper's 22 x 3 = 66 on three GPUs: no accumulation left
        (22, 3, 2, (11, 3)),  # 33 per GPU: 11 x 3
        (8, 4, 2, (8, 2)),  # the recipe's per-device batch is kept, accumulation halves
        (6, 1, 6, (1, 1)),
    ],
)
def test_batch_layout_keeps_the_effective_batch(batch_size, grad_accum, replicas, expected):
    wanted = recipe({**TINY_LORA_KEYS, "batch_size": batch_size, "grad_accum": grad_accum})
    per_device, accum = train.batch_layout(wanted, replicas)
    assert (per_device, accum) == expected
    assert per_device * replicas * accum == wanted.effective_batch == batch_size * grad_accum
    assert per_device <= batch_size  # never more than the recipe says fits on one device


def test_a_batch_that_does_not_split_is_an_error_naming_the_key():
    with pytest.raises(ValueError, match="recipe key gpus: the effective batch 9"):
        train.batch_layout(recipe({**TINY_LORA_KEYS, "batch_size": 9}), 2)
    cfg = load_config(REPO / "config.yaml")
    configuration.validate(copy.deepcopy(cfg))
    cfg["recipes"]["lora8"]["gpus"] = 3  # batch 32 over 3 GPUs
    with pytest.raises(configuration.ConfigError, match=r"^config key recipes\.lora8\.gpus: the effective batch 32"):
        configuration.validate(cfg)
    cfg["recipes"]["lora8"]["gpus"] = 0
    with pytest.raises(configuration.ConfigError, match=r"^config key recipes\.lora8\.gpus"):
        configuration.validate(cfg)


def test_processes_follow_the_recipe_and_the_job_s_gpus(monkeypatch):
    assert train.processes_for(recipe({**TINY_LORA_KEYS, "gpus": 4}), cuda_devices=0) == 1  # CPU: in-process
    assert train.processes_for(LORA, cuda_devices=4) == 1
    assert train.processes_for(recipe({**TINY_LORA_KEYS, "gpus": 1}), cuda_devices=4) == 1
    assert train.processes_for(recipe({**TINY_LORA_KEYS, "gpus": 2}), cuda_devices=4) == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    with pytest.raises(
        RuntimeError, match=r"recipe key gpus: .* asks for 4 GPUs but this job sees 2 \(CUDA_VISIBLE_DEVICES=0,1\)"
    ):
        train.processes_for(recipe({**TINY_LORA_KEYS, "gpus": 4}), cuda_devices=2)
    cmd = train.launch_command("spec.json", 4)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"] and "--standalone" in cmd
    assert cmd[cmd.index("--nproc_per_node") + 1] == "4"
    assert cmd[-4:] == ["-m", "subliminal.cli", "train-sft", "spec.json"]


# a CUDA machine would start one process per GPU; this check is the CPU (gloo) one
cpu_only = pytest.mark.skipif(torch.cuda.is_available(), reason="two gloo processes: a CPU machine's check")


@pytest.fixture(scope="module")
def two_processes(tiny_base, tmp_path_factory):
    root = tmp_path_factory.mktemp("multigpu")
    one = train.train_sft(str(tiny_base), RECORDS, LORA, 1, root / "one")
    logger = logging.getLogger("subliminal.train")
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        two = train.train_sft(str(tiny_base), RECORDS, LORA, 1, root / "two", processes=2)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return root, one, two, "\n".join(lines)


@cpu_only
def test_two_processes_train_with_the_recipe_s_effective_batch(two_processes):
    root, one, two, log = two_processes
    assert one["processes"] == 1 and (one["per_device_batch"], one["grad_accum"]) == (8, 1)
    assert two["processes"] == 2 and (two["per_device_batch"], two["grad_accum"]) == (4, 1)
    assert one["effective_batch"] == two["effective_batch"] == 8
    assert one["steps"] == two["steps"] == 3  # 24 examples / 8 per step, either way
    assert "effective batch 8 = 4 per device x 2 processes" in log
    assert "rank0" in log and "rank1" in log  # two processes really ran
    assert not (root / "two" / "launch").exists() and not (root / "two" / "checkpoints").exists()


@cpu_only
def test_lora_initialisation_is_the_seed_s_in_every_process(two_processes):
    _, one, two, _ = two_processes
    # every rank hashed its fresh LoRA weights and they were compared across ranks
    assert two["init_sha256"] == one["init_sha256"] and len(one["init_sha256"]) == 64


@cpu_only
def test_the_two_process_student_loads_and_matches_one_process(tiny_base, two_processes):
    root = two_processes[0]
    a = load_file(str(root / "one" / "model" / "adapter_model.safetensors"))
    b = load_file(str(root / "two" / "model" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and a
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= ATOL
    tok = models.load_tokenizer(str(tiny_base))
    x = tok("here are some numbers: 5, 6.", return_tensors="pt")
    base = models.load_model(str(tiny_base), device="cpu")
    student = models.load_model(str(tiny_base), adapter=root / "two" / "model", device="cpu")
    assert not torch.allclose(base(**x).logits, student(**x).logits)
