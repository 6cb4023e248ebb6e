"""Hub bases: fetch_base downloads a pinned revision once, records it, and
every job loads the local copy. A Hugging Face cache built here, read with
HF_HUB_OFFLINE=1, stands in for the hub: the real snapshot_download resolves
the revision from it exactly as it would from a download."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import HUB_COMMIT, HUB_REPO_ID, hub_config, offline_env
from subliminal import config as configuration, grid
from subliminal import models, provenance, slices, stages

OTHER_COMMIT = "0" * 40


FETCH = """
import sys
from subliminal import config as configuration, grid, stages
cfg = configuration.validate({cfg!r})
stages.fetch_base(cfg, "tiny", sys.argv[1], sys.argv[2])
"""


def run_fetch(cfg: dict, cache: Path, out: Path) -> subprocess.CompletedProcess:
    """The real fetch stage in a fresh process (huggingface_hub reads
    HF_HUB_OFFLINE and HF_HUB_CACHE when it is imported)."""
    return subprocess.run(
        [sys.executable, "-c", FETCH.format(cfg=cfg), str(out / "model"), str(out / "source.json")],
        env=offline_env(cache),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def fetched(hub_cache, tmp_path_factory):
    results = tmp_path_factory.mktemp("fetched")
    cfg = hub_config(results)
    out = Path(grid.model_source(cfg, "tiny")).parent
    run = run_fetch(cfg, hub_cache, out)
    assert run.returncode == 0, run.stderr
    return cfg, out


def test_fetch_resolves_the_pinned_revision_and_records_it(fetched, tiny_base):
    cfg, out = fetched
    record = json.loads((out / "source.json").read_text())
    assert record["id"] == HUB_REPO_ID
    assert record["requested_revision"] == record["resolved_revision"] == HUB_COMMIT
    files = {f["path"]: f for f in record["files"]}
    assert "model.safetensors" in files and "config.json" in files
    assert "pytorch_model.bin" not in files and not (out / "model" / "pytorch_model.bin").exists()
    weights = (tiny_base / "model.safetensors").read_bytes()
    assert files["model.safetensors"]["bytes"] == len(weights)
    assert files["model.safetensors"]["blob"] == hashlib.sha256(weights).hexdigest()
    assert record["materialised_by"] == ["link"]  # same file system: hard links, no second copy
    assert not any(p.is_symlink() for p in (out / "model").rglob("*"))  # real files, not links into the cache


def test_fetched_copy_loads_without_the_hub(fetched, tiny_base):
    cfg, out = fetched
    src = grid.model_source(cfg, "tiny")
    assert src == str(out / "model")  # every stage asks model_source: the local copy, never the hub id
    a = models.load_model(src).state_dict()
    b = models.load_model(str(tiny_base)).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert models.load_tokenizer(src).get_vocab() == models.load_tokenizer(str(tiny_base)).get_vocab()


def test_a_revision_the_hub_does_not_have_fails_clearly(hub_cache, tmp_path):
    cfg = hub_config(tmp_path, revision=OTHER_COMMIT)
    run = run_fetch(cfg, hub_cache, tmp_path / "bases" / "tiny")
    assert run.returncode != 0
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "subliminal.models.FetchError: config key models.tiny.hub: "
        f"cannot fetch {HUB_REPO_ID} at revision {OTHER_COMMIT}"
    ), last
    assert "offline" in last
    assert not (tmp_path / "bases" / "tiny" / "model").exists()


def test_a_branch_name_is_refused_before_any_job():
    cfg = hub_config(Path("unused"), revision="main")
    with pytest.raises(
        configuration.ConfigError,
        match=r"^config key models\.tiny\.hub\.revision: 'main' is not a full "
        r"40-character commit hash",
    ):
        configuration.validate(cfg)


def test_student_provenance_names_base_revision_teacher_data_and_prompts(fetched, tmp_path):
    """A student trained on the fetched base: its provenance.json says what
    it came from."""
    cfg, out = fetched
    cfg = configuration.validate(copy.deepcopy(cfg))
    cfg["chat"]["train_system_prompt"] = ""  # an explicit "no system prompt" must stay distinct from null
    data = tmp_path / "filtered.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": i, "prompt": f"continue: {i}, {i + 1}.", "completion": f"{i + 2}"}) + "\n"
            for i in range(100, 120)
        )
    )
    student = grid.Student("numbers", "tiny", "owl", "tiny", "lora8", 1)
    # the stage runs on its rule's slice of the config, as in the workflow
    job_cfg = slices.with_results(slices.params(slices.train_student(cfg, student)), cfg["results"])
    stages.train_student(job_cfg, student, str(data), str(tmp_path / "student"))
    prov = json.loads((tmp_path / "student" / "provenance.json").read_text())
    base = prov["student_base"]
    assert base["kind"] == "hub" and base["hub"] == {"id": HUB_REPO_ID, "revision": HUB_COMMIT}
    assert base["resolved_revision"] == HUB_COMMIT and base["loaded_from"] == str(out / "model")
    assert "model.safetensors" in base["files"]
    assert prov["teacher"]["base_model"]["hub"]["revision"] == HUB_COMMIT
    assert prov["teacher"]["method"] == "system_prompt" and prov["teacher"]["trait"]["word"] == "owl"
    assert "owl" in prov["teacher"]["sampling_system_prompt"]
    assert prov["training_data"]["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert len(prov["data_sha256"]) == 64  # the subset actually trained on
    assert prov["recipe"]["rank"] == cfg["recipes"]["lora8"]["rank"] and prov["seed"] == 1
    assert prov["system_prompts"] == {
        "teacher_system_prompt": None,
        "train_system_prompt": "",
        "teacher_sampling": prov["teacher"]["sampling_system_prompt"],
    }
    assert prov["pair_relation"] == "same_base"
    for package in ("torch", "transformers", "trl", "peft", "huggingface_hub", "subliminal"):
        assert prov["versions"][package], package
    # the control student's teacher has no trait and samples with the configured default (null)
    ctrl = provenance.student(cfg, grid.Student("numbers", "tiny", "control", "tiny", "lora8", 1), str(data))
    assert ctrl["teacher"]["method"] == "control" and ctrl["teacher"]["sampling_system_prompt"] is None
