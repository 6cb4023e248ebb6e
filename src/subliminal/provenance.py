"""What a made thing came from: package versions, base models (hub id and
pinned/resolved revision, toy spec or path), how a teacher got its trait,
the training data's hash and every stage's system prompt."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

from . import grid
from .io import read_json, read_jsonl
from .layout import Layout

#: Packages whose version can change a trained model or its evaluation.
PROVENANCE_PACKAGES = (
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "tokenizers",
    "huggingface_hub",
    "safetensors",
    "numpy",
    "subliminal",
)


def versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_json(obj, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")


def base_model(cfg: dict, name: str) -> dict:
    """A base model: its config entry (hub id and pinned revision, toy spec or
    path) and, for a hub model, the fetch record (resolved revision, files)."""
    rec = grid.base_record(cfg, name)
    rec["loaded_from"] = grid.model_source(cfg, name)
    if rec["kind"] == "hub":
        fetched = Path(Layout.of(cfg).base_record(name))
        if fetched.exists():
            f = read_json(fetched, required=("resolved_revision", "files"))
            rec["resolved_revision"] = f["resolved_revision"]
            rec["files"] = {x["path"]: x["blob"] for x in f["files"]}
    return rec


def teacher_record(cfg: dict, t: grid.Teacher) -> dict:
    """How a teacher got its trait: the system prompt it sampled with, a
    fine-tuned teacher's recipe, a steering vector as made."""
    trait = None if t.trait is None else cfg["traits"][t.trait]
    out = {
        "base": t.base,
        "name": t.name,
        "method": t.method,
        "trait": trait,
        "sampling_system_prompt": t.system_prompt,
    }
    if t.method == "finetune":
        out["recipe"] = {"name": trait["teacher"]["recipe"], **cfg["recipes"][trait["teacher"]["recipe"]]}
    made = Path(Layout.of(cfg).teacher("steering.json", t.base, t.name))
    if t.steering and made.exists():  # the vector as made: layer, norm, the share it reached
        rec = read_json(made, required=("layer", "vector", "norm", "share", "base_share", "strength"))
        out["steering"] = {k: rec[k] for k in ("layer", "vector", "norm", "share", "base_share", "strength")}
    if t.kind == grid.MISALIGNMENT:
        out["role"] = t.role  # the trait teacher, or its control fine-tuned on control_data
        out["data"] = trait["teacher"]["control_data" if t.role == "control" else "data"]
    return out


def system_prompts(cfg: dict) -> dict:
    """The chat section as used: null (template default), "" or a string."""
    return {k: cfg["chat"][k] for k in ("teacher_system_prompt", "train_system_prompt", "eval_system_prompt")}


def student(cfg: dict, s: grid.Student, data_jsonl: str) -> dict:
    """Everything a trained student came from, beside what training itself
    records (recipe, seed, sha256 of the training subset, steps): the student
    and teacher bases, how the teacher got its trait, the sha256 of the whole
    filtered dataset, the system prompts of every stage, and the versions."""
    t = grid.teacher(cfg, s.teacher_base, s.teacher)
    dataset = grid.student_dataset(cfg, s)
    n = cfg["modalities"][s.modality]["train_samples"]
    return {
        "student": s.__dict__,
        "student_base": base_model(cfg, s.student_base),
        "teacher": {**teacher_record(cfg, t), "base_model": base_model(cfg, s.teacher_base)},
        "pair_relation": grid.relation(cfg, s.teacher_base, s.student_base),
        "training_data": {
            "path": str(data_jsonl),
            "sha256": sha256_file(data_jsonl),
            # the number trained on: train_samples, or all the data holds if fewer
            "subset_size": min(n, len(read_jsonl(data_jsonl))),
            "train_samples": n,
            "replicate": dataset.replicate,
            "replicate_seed": dataset.seed,
        },
        "system_prompts": {**system_prompts(cfg), "teacher_sampling": t.system_prompt},
        "versions": versions(),
    }
