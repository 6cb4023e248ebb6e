"""benchmarks/lora_update_size.py on CPU, two steps of one architecture
(about 15 s): training through train_sft with the paper recipe records the
update's growth, and the ratio follows the product law the README uses to
carry it to the paper's sizes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = REPO / "benchmarks" / "lora_update_size.py"


def test_two_paper_recipe_steps_on_cpu(tmp_path):
    out = tmp_path / "size.json"
    cmd = [sys.executable, str(SCRIPT), "--archs", "llama", "--layers", "1", "--hidden", "64"]
    cmd += ["--steps", "2", "--every", "1", "--out", str(out)]
    env = {"PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["recipe"]["paper_lora8"]["rank"] == 8 and res["recipe"]["paper_lora8"]["max_steps"] == 2
    (run,) = res["runs"]
    assert run["steps"] == 2 and [r["step"] for r in run["track"]] == [1, 2]
    first, last = run["track"]
    assert first["update_weight_ratio"]["median"] == 0  # lr is 0 at the first warm-up step: B is still zero
    assert last["update_weight_ratio"]["median"] > 0
    assert last["product_law_median_layer"] == pytest.approx(last["update_weight_ratio"]["median"], rel=0.2)
    assert last["rms_A_median"] == pytest.approx((3 * 64) ** -0.5, rel=0.05)  # peft's Kaiming-uniform init
