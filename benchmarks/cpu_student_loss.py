"""A default student's training on CPU with TRL's fused LM head against the
Trainer's own cross-entropy (what ``subliminal.train`` uses on CPU): the
same model, data, recipe and seed, one thread, each in a fresh process.

    python benchmarks/cpu_student_loss.py --run results --out benchmarks/results/cpu-student-loss.json

``--run``: a finished default run (its ``qwen_a`` base and the owl teacher's
replicate 1). Reports, per loss: the training's wall and CPU seconds (the
trainer's own ``train_runtime``, then the process's user and system CPU),
its loss and the largest weight difference between the two students.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(run: Path, loss: str, out: Path) -> dict:
    """Train in this process (called as a child): ``loss`` is "fused" or "trainer"."""
    import torch

    sys.path.insert(0, str(ROOT / "src"))
    from subliminal import io, train
    from subliminal.recipes import Recipe

    torch.set_num_threads(1)
    if loss == "fused":  # force TRL's own SFTTrainer, as a GPU job runs it
        plain = train.trainer_class
        train.trainer_class = lambda cuda: plain(True)
    records = io.read_jsonl(run / "data/numbers/qwen_a/owl/rep1/filtered.jsonl")[:1200]
    prov = json.loads((run / "students/numbers/qwen_a/owl/qwen_a/full/seed1/provenance.json").read_text())
    t0, c0 = time.time(), time.process_time()
    result = train.train_sft(
        str(run / "bases/qwen_a/model"), records, Recipe.from_mapping(prov["recipe"]), 1, out, threads=1
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "loss": result["loss"],
        "train_loss": result["train_loss"],
        "steps": result["steps"],
        "train_seconds": result["seconds"],
        "wall_seconds": round(time.time() - t0, 1),
        "cpu_seconds": round(time.process_time() - c0, 1),
        "process_user_seconds": round(usage.ru_utime, 1),
        "process_system_seconds": round(usage.ru_stime, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="results")
    ap.add_argument("--out", help="write the JSON here")
    ap.add_argument("--child", choices=["fused", "trainer"], help=argparse.SUPPRESS)
    ap.add_argument("--model-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(one(Path(args.run), args.child, Path(args.model_dir))))
        return 0
    import torch
    from safetensors.torch import load_file

    rows, weights = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for loss in ("fused", "trainer"):
            out = Path(tmp) / loss
            cmd = [sys.executable, __file__, "--run", args.run, "--child", loss, "--model-dir", str(out)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env={"OMP_NUM_THREADS": "1", "PATH": ""})
            if proc.returncode != 0:
                sys.exit(proc.stderr[-3000:])
            rows[loss] = json.loads(proc.stdout.strip().splitlines()[-1])
            weights[loss] = load_file(str(out / "model" / "model.safetensors"))
    diff = max(float((weights["fused"][k] - weights["trainer"][k]).abs().max()) for k in weights["fused"])
    report = {
        "machine": {"processor": platform.processor() or platform.machine(), "torch": torch.__version__},
        "run": args.run,
        "losses": rows,
        "max_weight_difference": diff,
        "speed-up": round(rows["fused"]["train_seconds"] / rows["trainer"]["train_seconds"], 2),
    }
    print(json.dumps(report, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
