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
from .settings import Training
from .slices import fingerprint

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


def code_hash() -> str:
    """A short hash of this package's source (every .py file below it, by
    its path and bytes): what a made thing records, so that an analysis
    whose members were made by different code says so. Editing the code
    does not rerun anything by itself; this record is how it shows."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def made_by(cfg: dict) -> dict:
    """What a job records of how it was made: the package's code hash and
    the fingerprint of the config slice it read (:mod:`subliminal.slices`)."""
    return {"code": code_hash(), "config_fingerprint": fingerprint(cfg)}


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
        fetched = Path(Layout(cfg["results"]).base_record(name))
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
    made = Path(Layout(cfg["results"]).teacher("steering.json", t.base, t.name))
    if t.steering and made.exists():  # the vector as made: layer, norm, the share it reached
        rec = read_json(made, required=("layer", "vector", "norm", "share", "base_share", "strength"))
        out["steering"] = {k: rec[k] for k in ("layer", "vector", "norm", "share", "base_share", "strength")}
    if t.kind == grid.MISALIGNMENT:
        out["role"] = t.role  # the trait teacher, or its control fine-tuned on control_data
        out["data"] = trait["teacher"]["control_data" if t.role == "control" else "data"]
    return out


def system_prompts(cfg: dict, *keys: str) -> dict:
    """The chat section's prompts ``keys`` as used: null (template default), "" or a string."""
    return {k: cfg["chat"][k] for k in keys}


def student(cfg: dict, s: grid.Student, data_jsonl: str) -> dict:
    """Everything a trained student came from, beside what training itself
    records (recipe, seed, sha256 of the training subset, steps): the student
    and teacher bases, how the teacher got its trait, the sha256 of the whole
    filtered dataset, the system prompts of every stage, and the versions."""
    t = grid.teacher(cfg, s.teacher_base, s.teacher)
    dataset = grid.student_dataset(cfg, s)
    n = Training.of(cfg, s.modality).train_samples
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
        # the evaluation's prompt belongs to the evaluation, which can change without retraining
        "system_prompts": {
            **system_prompts(cfg, "teacher_system_prompt", "train_system_prompt"),
            "teacher_sampling": t.system_prompt,
        },
        "versions": versions(),
    }


#: The steps of a member's making that record how they were made.
STEPS = ("evaluation", "training")


def members(records: dict[str, dict], expected: dict[str, dict]) -> dict:
    """How the members of an analysis were made. ``records``: an
    evaluation's record (its ``code`` and ``config_fingerprint``, and under
    ``trained`` the student's) by its path; ``expected``: the fingerprints
    the current config gives each step of each member. Counts the members
    per code version of each step, and lists those whose step was made from
    another config than the current one (or recorded none)."""
    out = {"members": len(records)}
    for step in STEPS:
        by_code, stale = {}, []
        for path, rec in sorted(records.items()):
            made = rec if step == "evaluation" else rec.get("trained")
            want = expected[path].get(step)
            if want is None:  # a base or a teacher: not trained by the workflow's students
                continue
            made = made or {}
            by_code.setdefault(made.get("code") or "unknown", []).append(path)
            if made.get("config_fingerprint") != want:
                stale.append(path)
        order = sorted(by_code, key=lambda h: (-len(by_code[h]), h))
        out[f"{step}_code"] = {h: len(by_code[h]) for h in order}
        out[f"{step}_by_code"] = {h: by_code[h] for h in order}
        out[f"{step}_stale"] = stale
    out["banner"] = banner(out)
    return out


def banner(summary: dict) -> str:
    """The lines that open summary.txt (and so the report's summary page)
    when the members were not all made by one code version and the current
    config; empty when they were."""
    lines = []
    for step in STEPS:
        code = summary[f"{step}_code"]
        if len(code) > 1:
            versions = ", ".join(f"{h} ({n} member{'s' if n != 1 else ''})" for h, n in code.items())
            lines.append(f"- {step}: {len(code)} versions of the package code made these members: {versions}")
        stale = summary[f"{step}_stale"]
        if stale:
            lines.append(
                f"- {step}: {len(stale)} of {sum(code.values())} members were made from another config than this "
                f"one (or by a version that recorded none), e.g. {stale[0]}"
            )
    if not lines:
        return ""
    head = f"WARNING: the {summary['members']} members of this analysis were not all made the same way."
    tail = (
        "analysis/members.json names them (by code version, and those of another config): rerun them "
        "(snakemake --forcerun <their files>) to make them alike."
    )
    return "\n".join([head, *lines, tail]) + "\n\n"
