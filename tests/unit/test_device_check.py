"""benchmarks/device_check.sh, the prepared run for a lent GPU: what can be
checked without one. Its environment step runs here (on this CPU torch the
GPU check must stop all three 7B jobs, naming the CPU build); the
gpu_throughput.py options it passes exist (a renamed option would fail the
day a GPU is lent); its time limits fit 10 minutes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata

import torch

from conftest import REPO

SCRIPT = REPO / "benchmarks" / "device_check.sh"


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **env},
    )


def test_usage_lists_every_output():
    proc = run()
    assert proc.returncode == 2
    for name in ("environment.json", "throughput.json", "merge_error.json", "decode_steps.json"):
        assert name in proc.stdout


def test_environment_step_records_the_card_versions_and_the_gpu_check(tmp_path):
    proc = run("run", str(tmp_path), DEVICE_CHECK_STEPS="environment", DEVICE_WHEELS=str(tmp_path / "none"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["torch"] == torch.__version__ and env["cuda"] == torch.version.cuda
    assert env["packages"]["trl"] == metadata.version("trl")
    assert env["packages"]["transformers"] == metadata.version("transformers")
    checks = env["gpucheck"]
    assert set(checks) == {"teacher_or_evaluation_bf16", "paper_lora_student", "full_finetune_fp32"}
    if torch.version.cuda is None:  # this machine: every 7B job would stop, naming the cause
        assert all("is a CPU build" in c["stopped"] for c in checks.values()), checks
    log = (tmp_path / "device_check.log").read_text()
    assert "=== environment: exit 0" in log and "throughput" not in log  # only the steps asked for


def script_help(name: str) -> str:
    """The --help text of a benchmarks/ script."""
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / name), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    ).stdout


def script_calls(name: str, text: str) -> list[str]:
    """The arguments of each call of a benchmarks/ script in device_check.sh
    (continuation lines included)."""
    return re.findall(r'"\$PY" benchmarks/' + re.escape(name) + r"((?:[^\n]*\\\n)*[^\n]*)", text)


def test_throughput_options_exist_and_limits_fit_ten_minutes():
    text = SCRIPT.read_text()
    help_text = script_help("gpu_throughput.py")
    calls = script_calls("gpu_throughput.py", text)
    assert len(calls) == 2
    used = {o for call in calls for o in re.findall(r"(--[a-z][a-z-]*)", call)}
    assert used >= {"--config", "--out", "--max-new-tokens", "--sample-batch-size"}
    assert not {o for o in used if o not in help_text}, "options gpu_throughput.py does not have"
    assert "configs/paper-qwen.yaml" in calls[0]
    limits = [int(n) for n in re.findall(r"^\s*step \w+ (\d+) ", text, flags=re.M)]
    assert len(limits) == 4 and sum(limits) + 4 * 15 <= 600  # each limit plus its kill grace


def test_the_merge_error_step_calls_the_script_with_options_it_has():
    """The merge-error step measures Qwen2.5-7B's shapes on the card with
    options benchmarks/merge_error.py accepts (its run is the GPU's)."""
    [call] = script_calls("merge_error.py", SCRIPT.read_text())
    used = set(re.findall(r"(--[a-z][a-z-]*)", call))
    help_text = script_help("merge_error.py")
    assert used >= {"--preset", "--device", "--out"} and all(o in help_text for o in used), used
    assert "qwen2.5-7b" in call and "cuda" in call
