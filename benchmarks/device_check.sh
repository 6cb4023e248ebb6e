#!/usr/bin/env bash
# The measurements a CPU cannot make, in one prepared run on one lent GPU
# (H100/H200, no internet), within 10 minutes. Each step writes a JSON file
# with the card and the versions:
#
#   environment.json   nvidia-smi's card and driver, torch/CUDA, transformers,
#                      TRL, peft, accelerate, datasets; and the start-of-job
#                      GPU check (src/subliminal/gpucheck.py) run on this card
#                      with a 7B model's parameter count (forced on)
#   throughput.json    benchmarks/gpu_throughput.py --config configs/paper-qwen.yaml:
#                      teacher sampling, evaluation end to end (200 samples x 50
#                      prefixed questions), LoRA student training (capped)
#   merge_error.json   the error of merging a LoRA update into bf16 weights on a
#                      real-sized random model: benchmarks/merge_error.py (written
#                      with issue 19's item 3). MARKED STEP: where that script is
#                      not in the tree, this file says so and nothing is measured
#   decode_steps.json  teacher sampling at 64-512 rows and the paper's 200 new
#                      tokens: seconds per decode step and decode steps per batch
#                      (random weights never end a turn, so every batch runs the
#                      cap: the upper bound the teacher's log is compared with)
#   device_check.log   everything the steps printed
#
# Usage, on the lent machine (its python3 holds a CUDA torch; the repository's
# other packages travel as wheels, see `wheels` below):
#
#   benchmarks/device_check.sh run [OUT]        # OUT: $OUT, else benchmarks/out/device-check
#
# and once, here, where there is a registry, to fill .device-wheels/ (git-ignored;
# name it in the run's carry) with the exact versions of this checkout's .venv:
#
#   benchmarks/device_check.sh wheels
#
# Each step has its own time limit (45 + 270 + 80 + 120 s, with 15 s each to stop) and a failing step
# does not stop the next; the exit status is the number of steps that failed.
# DEVICE_CHECK_STEPS="environment decode_steps" runs only those; PYTHON picks
# the interpreter (default python3).
set -uo pipefail

cd "$(dirname "$0")/.."
REPO=$PWD
WHEELS=${DEVICE_WHEELS:-$REPO/.device-wheels}
#: pure-Python packages the GPU image lacks, or has in another version than the workflow's
PACKAGES=(transformers trl peft accelerate datasets dill multiprocess)

fetch_wheels() {
    local venv=${VENV:-$REPO/.venv}
    mkdir -p "$WHEELS"
    local specs=()
    for name in "${PACKAGES[@]}"; do
        specs+=("$name==$("$venv/bin/python" -c "import importlib.metadata as m; print(m.version('$name'))")")
    done
    echo "device_check: downloading ${specs[*]} into $WHEELS"
    "$venv/bin/python" -m pip download --no-deps --only-binary=:all: -d "$WHEELS" "${specs[@]}"
}

wanted() {  # the steps to run: DEVICE_CHECK_STEPS (names, space-separated), default all
    [[ " ${DEVICE_CHECK_STEPS:-environment throughput merge_error decode_steps} " == *" $1 "* ]]
}

step() {  # step NAME SECONDS COMMAND...: run, log, remember a failure
    local name=$1 limit=$2
    shift 2
    wanted "$name" || return 0
    echo "=== $name ($(date -u +%H:%M:%S), limit ${limit}s): $*" | tee -a "$LOG"
    timeout --signal=TERM --kill-after=15 "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    echo "=== $name: exit $rc" | tee -a "$LOG"
    if [[ $rc -ne 0 ]]; then
        FAILED=$((FAILED + 1))
    fi
}

run() {
    OUTDIR=${1:-${OUT:-$REPO/benchmarks/out/device-check}}
    mkdir -p "$OUTDIR"
    LOG=$OUTDIR/device_check.log
    : >"$LOG"
    FAILED=0
    PY=${PYTHON:-python3}
    export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
    local site=${TMPDIR:-/tmp}/subliminal-device-site
    if compgen -G "$WHEELS/*.whl" >/dev/null; then
        rm -rf "$site"
        "$PY" -m pip install --quiet --no-index --no-deps --target "$site" "$WHEELS"/*.whl >>"$LOG" 2>&1 ||
            echo "device_check: installing the wheels failed (see the log)" | tee -a "$LOG"
        export PYTHONPATH=$REPO/src:$site
    else
        echo "device_check: no wheels in $WHEELS: the image's own packages are used" | tee -a "$LOG"
        export PYTHONPATH=$REPO/src
    fi

    # 1. the card, the versions, and the GPU check of a 7B job on this card
    step environment 45 "$PY" - "$OUTDIR/environment.json" <<'EOF'
import json, shutil, subprocess, sys, tempfile
from importlib import metadata
from pathlib import Path

import torch

def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None

query = ["--query-gpu=name,driver_version,memory.total,compute_cap", "--format=csv,noheader"]
smi = subprocess.run(["nvidia-smi", *query], capture_output=True, text=True) if shutil.which("nvidia-smi") else None
report = {
    "nvidia_smi": (smi.stdout.strip() or smi.stderr.strip()) if smi else "nvidia-smi not found",
    "torch": torch.__version__, "cuda": torch.version.cuda,
    "cuda_available": torch.cuda.is_available(),
    "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    "packages": {n: version(n) for n in ("transformers", "trl", "peft", "accelerate", "datasets", "safetensors", "tokenizers")},
}
from subliminal import gpucheck  # noqa: E402

# a folder whose safetensors header holds Qwen2.5-7B's 7.62 B parameters (no data)
folder = Path(tempfile.mkdtemp())
header = json.dumps({"w": {"dtype": "BF16", "shape": [7_615_616_512], "data_offsets": [0, 0]}}).encode()
(folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
env = {"SUBLIMINAL_GPU_CHECK": "on"}
checks = {}
for job, kwargs in {
    "teacher_or_evaluation_bf16": dict(dtype="bfloat16", bf16=True),
    "paper_lora_student": dict(dtype="bfloat16", bf16=True, batch_tokens=22 * 500),
    "full_finetune_fp32": dict(dtype="float32", bf16=True, full_training=True),
}.items():
    try:
        checks[job] = gpucheck.check(folder, env=env, **kwargs)
    except gpucheck.GPUUnusableError as err:
        checks[job] = {"stopped": str(err)}
report["gpucheck"] = checks
Path(sys.argv[1]).write_text(json.dumps(report, indent=2) + "\n")
print(json.dumps(report, indent=2))
EOF

    # 2. every GPU job type of the paper config (training capped at 120 s)
    # (--skip-eval-load: saving and reloading 15 GB would not fit the 10 minutes)
    step throughput 270 "$PY" benchmarks/gpu_throughput.py --config configs/paper-qwen.yaml \
        --steps 100 --max-train-seconds 90 --skip-eval-load --out "$OUTDIR/throughput.json"

    # 3. the merge error on random weights in Qwen2.5-7B's full shapes, two blocks (issue 19, item 3)
    if wanted merge_error; then
        step merge_error 80 "$PY" benchmarks/merge_error.py --preset qwen2.5-7b --layers 2 --device cuda \
            --out "$OUTDIR/merge_error.json"
    fi

    # 4. decode steps: seconds per step and steps per batch, at the paper's cap
    step decode_steps 120 "$PY" benchmarks/gpu_throughput.py --config configs/paper-qwen.yaml \
        --skip-evaluation --skip-training --sample-batch-size 64 128 256 512 --sample-batches 1 \
        --max-new-tokens 200 --out "$OUTDIR/decode_steps.json"

    echo "device_check: $FAILED step(s) failed; results in $OUTDIR" | tee -a "$LOG"
    return "$FAILED"
}

case "${1:-}" in
    wheels) fetch_wheels ;;
    run)
        shift
        run "$@"
        ;;
    *)
        sed -n '2,/^set -uo/p' "$0" | sed '$d'
        exit 2
        ;;
esac
