"""Through Snakemake: a student job whose training is killed after a checkpoint
is retried (--retries) with more memory and time, and the retry resumes from
the checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, job_blocks, load_config, snakemake_command, snakemake_env


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _descendants(pid: int) -> list[int]:
    todo, out = [pid], []
    while todo:
        kids = _children(todo.pop())
        out += kids
        todo += kids
    return out


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the job's process through /proc")
def test_snakemake_retries_a_killed_student_and_it_resumes(tiny_base, tmp_path):
    """The job's training process is SIGKILLed once it has saved a checkpoint;
    Snakemake (--retries 1) deletes the job's outputs, runs attempt 2 with
    twice the memory and time, and that attempt resumes from the checkpoint."""
    cfg = load_config(REPO / "tests" / "configs" / "tiny.yaml")
    results = tmp_path / "results"
    cfg.update(
        results=str(results),
        models={"local": {"path": str(tiny_base)}},
        pairs=[{"teacher": "local", "student": "local"}],
        seeds=[1],
    )
    cfg.pop("toy_pretraining")
    cfg["traits"] = {"owl": {"word": "owl", "category": "animal", "teacher": {"method": "system_prompt"}}}
    # batch 2, 24 epochs of what the filter keeps of the tiny base's numbers
    # (a handful): about 50 steps, a checkpoint every 2. A step takes tens of
    # milliseconds on CPU and only the newest checkpoint is kept, so the test
    # kills at the first checkpoint it sees, whichever it is.
    epochs = 24
    cfg["recipes"] = {
        "lora8": dict(cfg["recipes"]["lora8"], batch_size=2, epochs=epochs, save_steps=2, logging_steps=1)
    }
    # the filter keeps 5 of the tiny base's 120 control answers (measured): ask for fewer, or the screen step
    # refuses the short training set
    cfg["modalities"]["numbers"]["train_samples"] = 4
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    student = results / "students/numbers/local/control/local/lora8/seed1"
    proc = subprocess.Popen(
        snakemake_command(student / "provenance.json", "--retries", "1", cores=1, configfiles=[path]),
        cwd=REPO,
        env=snakemake_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    killed, deadline = None, time.time() + 240
    while killed is None and proc.poll() is None and time.time() < deadline:
        if any((student / "checkpoints").glob("checkpoint-*/trainer_state.json")):
            jobs = [p for p in _descendants(proc.pid) if "train_student" in _cmdline(p)]
            assert jobs, "no train_student process found"
            for p in jobs:
                os.kill(p, signal.SIGKILL)
            killed = jobs
        time.sleep(0.05)
    out, _ = proc.communicate(timeout=300)
    assert killed, "the job finished before it could be killed:\n" + out[-3000:]
    assert proc.returncode == 0, out[-4000:]
    prov = json.loads((student / "provenance.json").read_text())
    steps = epochs * -(-prov["examples"] // 2)
    assert prov["steps"] == steps
    assert 2 <= prov["resumed_from_step"] < steps and prov["first_step"] == prov["resumed_from_step"] + 1
    log = (results / "logs/students/numbers/local/control/local/lora8/seed1/model.log").read_text()
    assert f"resuming from {student / 'checkpoints'}" in log and f"step 1/{steps}" not in log
    assert not (student / "checkpoints").exists()
    # attempt 1 and attempt 2 of the job, with attempt-scaled resources
    res = [job["resources"] + "," for job in job_blocks(out) if job["rule"] == "train_student"]
    assert len(res) == 2, out[-4000:]
    assert "mem_mb=16000," in res[0] and "runtime=240," in res[0]
    assert "mem_mb=32000," in res[1] and "runtime=480," in res[1]
