"""The start-of-job GPU check (issue 19, item 4), under simulated SLURM and
CUDA environments: torch's CUDA functions and the job's variables are
replaced, so every case runs on this CPU machine. A job given a GPU that
cannot use it stops with one line naming the cause; a CPU job is not
touched."""

from __future__ import annotations

import json
import struct

import pytest
import torch

from subliminal import config as configuration, gpucheck

GIB = gpucheck.GIB
SLURM_GPU = {"SLURM_JOB_ID": "42", "SLURM_GPUS_ON_NODE": "1", "SLURM_JOB_GPUS": "0", "CUDA_VISIBLE_DEVICES": "0"}
JOB_VARIABLES = (*gpucheck.SLURM_GPU_VARIABLES, "CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", gpucheck.SWITCH, "LOCAL_RANK")


@pytest.fixture(autouse=True)
def clean_job_environment(monkeypatch):
    for name in JOB_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def card(monkeypatch, *, name="NVIDIA H100 80GB HBM3", capability=(9, 0), free_gib=79.0, total_gib=80.0):
    """torch as it looks on a working CUDA node with one such card."""
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=0: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=0: capability)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=0: (int(free_gib * GIB), int(total_gib * GIB)))


def write_safetensors_header(path, shapes: dict[str, list[int]], dtype="BF16"):
    """A .safetensors file with this header and no data: the check reads headers only."""
    offset, header = 0, {"__metadata__": {"format": "pt"}}
    for name, shape in shapes.items():
        size = 2
        for d in shape:
            size *= d
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)


@pytest.fixture
def model_7b(tmp_path):
    """A folder whose headers hold 7.62 B parameters, in two shards (Qwen2.5-7B's count)."""
    folder = tmp_path / "qwen7b"
    folder.mkdir()
    write_safetensors_header(folder / "model-00001-of-00002.safetensors", {"a": [152064, 3584], "b": [4000, 1_000_000]})
    write_safetensors_header(folder / "model-00002-of-00002.safetensors", {"c": [3_075_000, 1000]})
    return folder


# ---------------------------------------------------------------- who counts as given a GPU


@pytest.mark.parametrize(
    "env, given",
    [
        ({}, None),  # a local CPU run: the toy default
        ({"SLURM_JOB_ID": "7"}, None),  # a CPU job on SLURM
        ({"SLURM_JOB_ID": "7", "SLURM_GPUS_ON_NODE": "0"}, None),
        ({"CUDA_VISIBLE_DEVICES": ""}, None),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, None),
        ({"SLURM_JOB_GPUS": "2,3"}, "SLURM_JOB_GPUS=2,3"),
        ({"SLURM_STEP_GPUS": "0"}, "SLURM_STEP_GPUS=0"),  # an id list: GPU 0
        ({"SLURM_GPUS": "a100:0"}, None),
        ({"SLURM_GPUS_ON_NODE": "1"}, "SLURM_GPUS_ON_NODE=1"),
        ({"SLURM_GPUS": "h100:1"}, "SLURM_GPUS=h100:1"),
        ({"CUDA_VISIBLE_DEVICES": "0"}, "CUDA_VISIBLE_DEVICES=0"),
        ({**SLURM_GPU, "SUBLIMINAL_GPU_CHECK": "off"}, None),  # a cluster with fake GPUs (the CI's)
        ({"SUBLIMINAL_GPU_CHECK": "on"}, "SUBLIMINAL_GPU_CHECK=on"),
    ],
)
def test_gpu_given_reads_the_job_environment(env, given):
    assert gpucheck.gpu_given(env) == given


def test_a_cpu_job_is_not_checked(monkeypatch, model_7b):
    monkeypatch.setattr(torch.version, "cuda", None)
    assert gpucheck.check(model_7b, "bfloat16", bf16=True) is None


# ---------------------------------------------------------------- CUDA unusable


def test_cpu_build_of_torch_stops_a_gpu_job(monkeypatch, model_7b):
    for name, value in SLURM_GPU.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch, "__version__", "2.13.0+cpu")
    with pytest.raises(gpucheck.GPUUnusableError) as err:
        gpucheck.check(model_7b, "bfloat16")
    msg = str(err.value)
    assert "\n" not in msg and "SLURM_GPUS_ON_NODE=1" in msg and "torch 2.13.0+cpu is a CPU build" in msg


def test_driver_too_old_for_the_wheel_stops_a_gpu_job(monkeypatch, model_7b):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def init():
        raise RuntimeError(
            "The NVIDIA driver on your system is too old (found version 12040).\nPlease update your GPU driver."
        )

    monkeypatch.setattr(torch.cuda, "init", init)
    with pytest.raises(gpucheck.GPUUnusableError) as err:
        gpucheck.check(model_7b, "bfloat16")
    msg = str(err.value)
    assert (
        "\n" not in msg
        and "built for CUDA 13.0" in msg
        and "driver on your system is too old (found version 12040)" in msg
    )


def test_no_visible_device_stops_a_gpu_job(monkeypatch):
    card(monkeypatch)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    with pytest.raises(gpucheck.GPUUnusableError, match="CUDA sees no device"):
        gpucheck.check(None, "bfloat16", env={"SLURM_JOB_GPUS": "0"})


# ---------------------------------------------------------------- bf16


@pytest.mark.parametrize("capability, stops", [((7, 0), True), ((7, 5), True), ((8, 0), False), ((9, 0), False)])
def test_bf16_needs_a_card_with_bf16(monkeypatch, capability, stops):
    card(monkeypatch, name="Tesla V100-SXM2-32GB", capability=capability)
    env = {"SLURM_GPUS_ON_NODE": "1"}
    if stops:
        with pytest.raises(gpucheck.GPUUnusableError) as err:
            gpucheck.check(None, "bfloat16", bf16=True, key="resources.gpu_dtype", env=env)
        msg = str(err.value)
        assert "resources.gpu_dtype" in msg and f"compute capability {capability[0]}.{capability[1]}" in msg
        assert "V100" in msg
        assert gpucheck.check(None, "float16", bf16=False, env=env)["capability"] == list(capability)  # fp16: runs
    else:
        assert gpucheck.check(None, "bfloat16", bf16=True, env=env)["device"] == "Tesla V100-SXM2-32GB"


# ---------------------------------------------------------------- memory


def test_parameters_are_counted_from_the_safetensors_headers(tmp_path, model_7b):
    assert gpucheck.count_parameters(model_7b) == 152064 * 3584 + 4000 * 1_000_000 + 3_075_000 * 1000
    assert gpucheck.count_parameters(tmp_path / "missing") is None
    (tmp_path / "empty").mkdir()
    assert gpucheck.count_parameters(tmp_path / "empty") is None


def test_parameter_count_matches_a_saved_model(tmp_path):
    """The header count equals the model's own count for a saved (tiny) model."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(
        vocab_size=300,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    model = Qwen2ForCausalLM(cfg)
    model.save_pretrained(tmp_path / "m")
    assert gpucheck.count_parameters(tmp_path / "m") == model.num_parameters()


def test_needed_bytes_inference_lora_and_full():
    inference, how = gpucheck.needed_bytes(7_620_000_000, "bfloat16")
    assert inference == pytest.approx(7.62e9 * 2 * 1.1) and "14.2 GiB weights" in how
    # the paper's LoRA student: 22 x 500 tokens per micro-batch, Qwen's vocabulary
    lora, how = gpucheck.needed_bytes(7_620_000_000, "bfloat16", logits=(22 * 500, 152_064))
    assert lora == pytest.approx((7.62e9 * 2 + 22 * 500 * 152_064 * 8) * 1.1) and "12.5 GiB float32 logits" in how
    assert 29 * GIB < lora < 34 * GIB  # measured on an H100: 32 GiB peak
    full, how = gpucheck.needed_bytes(7_620_000_000, "float32", full_training=True)
    assert full == pytest.approx(7.62e9 * 16 * 1.1)  # weights, gradients (fp32), two AdamW moments
    assert "gradients and AdamW moments" in how
    small, _ = gpucheck.needed_bytes(1_000_000, "float32")
    assert small == 4_000_000 + gpucheck.MARGIN_FLOOR  # the floor: CUDA context and activations


@pytest.mark.parametrize(
    "job, free_gib, total_gib, stops",
    [
        ("sampling", 22.0, 24.0, False),  # 7B inference in bf16 fits a 24 GB card
        ("sampling", 14.0, 16.0, True),  # ... not a 16 GB one
        ("lora", 79.0, 80.0, False),  # the paper's LoRA student on an H100
        ("lora", 22.0, 24.0, True),  # ... not on a 24 GB card (its logits)
        ("full", 79.0, 80.0, True),  # full fine-tuning of 7B in fp32 + AdamW does not fit 80 GB
        ("full", 139.0, 141.0, False),  # ... it fits an H200
    ],
)
def test_memory_shortfall_is_named(monkeypatch, model_7b, job, free_gib, total_gib, stops):
    card(monkeypatch, name="Some GPU", free_gib=free_gib, total_gib=total_gib)
    (model_7b / "config.json").write_text(json.dumps({"vocab_size": 152_064}))
    env = {"SLURM_GPUS_ON_NODE": "1"}
    full = job == "full"
    dtype = "float32" if full else "bfloat16"
    tokens = None if job == "sampling" else 22 * 500
    logits = (tokens, 152_064) if tokens else None
    need = gpucheck.needed_bytes(gpucheck.count_parameters(model_7b), dtype, full, logits)[0]
    assert stops == (free_gib * GIB < need)  # the table above is what the estimate says
    if stops:
        with pytest.raises(gpucheck.GPUUnusableError) as err:
            gpucheck.check(model_7b, dtype, full_training=full, batch_tokens=tokens, env=env)
        msg = str(err.value)
        assert "\n" not in msg and f"{free_gib:.1f} GiB free of {total_gib:.1f} GiB" in msg
        assert (
            f"about {need / GIB:.1f} GiB" in msg and "7.62 B parameters" in msg and "SUBLIMINAL_SLURM_GPU_MODEL" in msg
        )
    else:
        record = gpucheck.check(model_7b, dtype, full_training=full, batch_tokens=tokens, env=env)
        assert record["need_bytes"] == need and record["free_bytes"] == int(free_gib * GIB)


def test_the_rank_checks_its_own_device(monkeypatch, model_7b):
    """A data-parallel rank (LOCAL_RANK) checks the device it will use."""
    card(monkeypatch)
    seen = []
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=0: seen.append(device) or (80 * GIB, 80 * GIB))
    gpucheck.check(model_7b, "bfloat16", env={"SLURM_GPUS_ON_NODE": "2", "LOCAL_RANK": "1"})
    assert seen == [1]


# ---------------------------------------------------------------- where jobs start


def test_every_model_load_of_a_gpu_job_is_checked(monkeypatch, tmp_path):
    """runtime.load (sampling, evaluation, steering, judges) and train_sft
    (students, fine-tuned teachers) stop before loading anything: here, with
    this machine's real CPU torch and a SLURM GPU allocation simulated."""
    from subliminal import runtime, train

    if torch.version.cuda is not None:
        monkeypatch.setattr(torch.version, "cuda", None)
    for name, value in SLURM_GPU.items():
        monkeypatch.setenv(name, value)
    loaded = []
    monkeypatch.setattr("subliminal.models.load_tokenizer", lambda *a, **k: loaded.append(a))
    cfg = {"resources": {"gpu_dtype": "bfloat16"}}
    with pytest.raises(gpucheck.GPUUnusableError, match="is a CPU build"):
        runtime.load(cfg, str(tmp_path))
    recipe = configuration.recipe(
        {
            "method": "lora",
            "rank": 8,
            "alpha": 8,
            "targets": ["q_proj"],
            "epochs": 1,
            "learning_rate": 1e-3,
            "batch_size": 2,
        }
    )
    with pytest.raises(gpucheck.GPUUnusableError, match="is a CPU build"):
        train.train_sft(str(tmp_path), [], recipe, 1, tmp_path / "out")
    assert loaded == [] and not (tmp_path / "out").exists()


@pytest.mark.parametrize("adapter, held", [(None, "bfloat16"), ("adapter", "float32")])
def test_a_lora_student_is_counted_in_float32(monkeypatch, tmp_path, adapter, held):
    """A LoRA student on a bf16 base is merged and evaluated in float32
    (adapters.attach), so the memory check counts 4 bytes a parameter for it;
    a base or teacher is held in the configured dtype."""
    from subliminal import runtime

    if adapter:
        (tmp_path / adapter).mkdir()
        (tmp_path / adapter / "adapter_config.json").write_text("{}")
    seen = []

    def stop(source, dtype, **kw):
        seen.append((dtype, kw["bf16"]))
        raise gpucheck.GPUUnusableError("stopped")

    monkeypatch.setattr(gpucheck, "check", stop)
    with pytest.raises(gpucheck.GPUUnusableError):
        runtime.load(
            {"resources": {"gpu_dtype": "bfloat16"}}, str(tmp_path), str(tmp_path / adapter) if adapter else None
        )
    assert seen == [(held, True)]
