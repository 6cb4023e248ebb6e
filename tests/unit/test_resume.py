"""A training run killed mid-way resumes from its last checkpoint and ends
where an uninterrupted run ends.

The interrupted run is a separate process that SIGKILLs itself right after
optimizer step 5 (checkpoints every 2 steps, so checkpoint-4 is the newest):
no exception handling, no clean-up, as when a cluster job is preempted or
killed for time. Then the same call runs again in this process.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest
from safetensors.torch import load_file

from subliminal import train
from subliminal.config import recipe


# 24 examples, batch 3: 8 optimizer steps; LoRA dropout and warm-up make the
# result depend on the restored RNG and scheduler states, not just the weights
RECIPE = recipe(
    dict(
        method="lora",
        rank=4,
        alpha=8,
        dropout=0.1,
        targets=["q_proj", "v_proj", "down_proj"],
        epochs=1,
        learning_rate=1e-2,
        warmup_steps=2,
        batch_size=3,
        max_length=96,
        logging_steps=1,
        save_steps=2,
    )
)
RECORDS = [
    {"prompt": f"here are some numbers: {i}, {i + 1}. add two more.", "completion": f"{i + 2}, {i + 3}"}
    for i in range(100, 124)
]
SEED = 5
KILL_AFTER = 5
# on CPU, one thread, the resumed run reproduced the uninterrupted one bit
# for bit when this was written: the same operations in the same order, both
# pinned to one thread (conftest; train_sft's threads=1 in the killed process),
# on any CPU; the tolerance leaves room for other BLAS builds
ATOL = 1e-6

KILLED_RUN = textwrap.dedent("""
    import json, os, signal, sys
    from transformers import TrainerCallback
    from subliminal import train
    from subliminal.recipes import Recipe

    base, out, kill_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    recipe, records, seed = json.loads(sys.stdin.read())
    recipe = Recipe.from_mapping(recipe)

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    train.train_sft(base, records, recipe, seed, out, callbacks=[Kill()])
""")


def _adapter(out):
    return load_file(str(out / "model" / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def uninterrupted(tiny_base, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    prov = train.train_sft(str(tiny_base), RECORDS, RECIPE, SEED, out)
    return out, prov


@pytest.fixture(scope="module")
def killed(tiny_base, tmp_path_factory):
    """The output folder of the same training, killed after step 5."""
    out = tmp_path_factory.mktemp("killed") / "student"
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(tiny_base), str(out), str(KILL_AFTER)],
        input=json.dumps([RECIPE.as_dict(), RECORDS, SEED]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    return out


def _copy(killed, tmp_path):
    out = tmp_path / "student"
    shutil.copytree(killed, out)
    return out


def test_a_killed_run_resumes_from_its_checkpoint_and_matches(tiny_base, tmp_path, uninterrupted, killed, caplog):
    ref_out, ref = uninterrupted
    assert ref["steps"] == 8 and ref["first_step"] == 1 and ref["resumed_from"] is None

    out = _copy(killed, tmp_path)
    ckpts = sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*"))
    assert ckpts == ["checkpoint-4"]  # save_total_limit 1: only the newest is kept
    assert not (out / "model").exists()

    with caplog.at_level(logging.INFO, logger="subliminal.train"):
        prov = train.train_sft(str(tiny_base), RECORDS, RECIPE, SEED, out)
    # resumed at step 4 of 8 (steps 5-8 trained again), not restarted at step 0
    assert prov["resumed_from_step"] == 4 and prov["first_step"] == 5 and prov["steps"] == 8
    assert "resuming from" in caplog.text and "checkpoint-4" in caplog.text
    assert "step 1/8" not in caplog.text and "step 5/8" in caplog.text
    assert not (out / "checkpoints").exists()  # cleaned up once the model is saved

    w1, w2 = _adapter(ref_out), _adapter(out)
    assert w1.keys() == w2.keys() and w1
    worst = max((w1[k] - w2[k]).abs().max().item() for k in w1)
    assert worst <= ATOL, f"resumed weights differ from the uninterrupted run by {worst:g}"
    assert prov["train_loss"] != ref["train_loss"]  # averaged over the resumed steps only: a real resume


def test_the_comparison_detects_a_resume_that_loses_state(tiny_base, tmp_path, uninterrupted, killed):
    """Resuming without the saved RNG state (LoRA dropout then draws other
    masks) ends outside the tolerance: the match above is not for free."""
    out = _copy(killed, tmp_path)
    (out / "checkpoints" / "checkpoint-4" / "rng_state.pth").unlink()
    prov = train.train_sft(str(tiny_base), RECORDS, RECIPE, SEED, out)
    assert prov["resumed_from_step"] == 4
    w1, w2 = _adapter(uninterrupted[0]), _adapter(out)
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) > 100 * ATOL


def test_checkpoints_of_another_training_are_not_resumed(tiny_base, tmp_path, killed, caplog):
    out = _copy(killed, tmp_path)
    with caplog.at_level(logging.WARNING, logger="subliminal.train"):
        prov = train.train_sft(str(tiny_base), RECORDS, RECIPE, SEED + 1, out)  # another seed
    assert prov["resumed_from"] is None and prov["first_step"] == 1
    assert "another training" in caplog.text


def test_incomplete_checkpoints_are_skipped(tmp_path):
    ckpt = tmp_path / "checkpoints"
    fp = train.fingerprint("base", RECORDS, RECIPE, SEED, None)
    assert train.resume_point(ckpt, fp) is None  # nothing yet; the fingerprint is written
    for step in (2, 4, 6):
        (ckpt / f"checkpoint-{step}").mkdir()
    for step in (2, 4):
        (ckpt / f"checkpoint-{step}" / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (ckpt / "checkpoint-6" / "trainer_state.json").write_text('{"global_st')  # killed while saving
    assert train.resume_point(ckpt, fp) == str(ckpt / "checkpoint-4")
    assert not (ckpt / "checkpoint-6").exists()
    # bookkeeping keys do not change the fingerprint; the training's keys do
    assert train.fingerprint("base", RECORDS, RECIPE.replace(save_steps=7, logging_steps=3), SEED, None) == fp
    assert train.fingerprint("base", RECORDS, RECIPE.replace(learning_rate=2e-2), SEED, None) != fp
    assert train.fingerprint("base", RECORDS[1:], RECIPE, SEED, None) != fp
    shutil.rmtree(ckpt)


def test_the_fingerprint_holds_the_resolved_base(tmp_path, monkeypatch):
    """Two working copies on one results folder, one naming it relative and
    one absolute, train one student: the same training, one fingerprint."""
    base = tmp_path / "results" / "bases" / "toy" / "model"
    base.mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "results")
    monkeypatch.chdir(tmp_path)
    fp = train.fingerprint(str(base), RECORDS, RECIPE, SEED, None)
    for same in ("results/bases/toy/model", "./results/bases/toy/../toy/model", "link/bases/toy/model", base):
        assert train.fingerprint(same, RECORDS, RECIPE, SEED, None) == fp, same
    other = tmp_path / "results" / "bases" / "other" / "model"
    other.mkdir(parents=True)
    assert train.fingerprint(str(other), RECORDS, RECIPE, SEED, None) != fp
    # a hub source is not a path: kept as it is
    assert train.fingerprint("org/model", RECORDS, RECIPE, SEED, None) != fp


# ----------------------------------------------------------------------------- through Snakemake
