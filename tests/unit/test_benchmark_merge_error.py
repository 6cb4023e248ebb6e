"""benchmarks/merge_error.py on CPU at the tiny size (about 10 s): the JSON
it writes (card, versions, per-ratio results), and the measurement's
physics: a bf16 merge erases most of a 0.03% update and keeps a 3% one,
the float32-accumulating forward keeps both."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = REPO / "benchmarks" / "merge_error.py"


@pytest.fixture(scope="module")
def me():
    spec = importlib.util.spec_from_file_location("merge_error", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_presets_are_the_published_shapes(me):
    q, g = me.PRESETS["qwen2.5-7b"], me.PRESETS["gemma-2-9b"]
    assert (q["hidden"], q["intermediate"], q["heads"], q["kv_heads"], q["head_dim"]) == (3584, 18944, 28, 4, 128)
    assert (g["hidden"], g["intermediate"], g["heads"], g["kv_heads"], g["head_dim"]) == (3584, 14336, 16, 8, 256)
    args = me.parse_args(["--preset", "qwen2.5-7b", "--hidden", "896"])
    assert me.shape(args)["hidden"] == 896 and me.shape(args)["intermediate"] == 18944


def test_cli_on_cpu_at_tiny_size(tmp_path):
    out = tmp_path / "merge.json"
    cmd = [sys.executable, str(SCRIPT), "--preset", "tiny", "--layers", "1", "--ratios", "3e-4", "3e-2"]
    cmd += ["--batch", "2", "--seq", "32", "--device", "cpu", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert {"torch", "transformers", "peft", "device"} <= res["card"].keys()
    assert res["model"]["arch"] == "qwen2" and res["lora"]["rank"] == 8
    small, large = res["results"]
    for r in (small, large):
        assert r["weights"]["layers"] == 7
        assert r["weights"]["update_weight_ratio"]["median"] == pytest.approx(r["ratio"], rel=1e-2)
        # the float32 reference against itself: the bf16 paths' errors are positive
        assert r["logits"]["merged_bf16"]["max_abs_error"] > 0
    assert small["weights"]["bf16_merge_gain"]["median"] < 0.5  # most of a 0.03% update is erased
    assert small["weights"]["bf16_merge_erased_share"]["median"] > 0.5
    assert large["weights"]["bf16_merge_gain"]["median"] > 0.99  # a 3% update is kept
    assert small["logits"]["merged_bf16_weights"]["gain"] < 0.5
    assert large["logits"]["merged_bf16"]["gain"] == pytest.approx(1, abs=0.05)
    assert large["logits"]["fp32_accumulate"]["gain"] == pytest.approx(1, abs=0.05)
