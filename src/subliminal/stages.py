"""One function per workflow stage: files in, files out.

Each takes plain arguments (paths, the validated config, names) so a stage
can run and be tested without Snakemake; workflow/scripts/ only unpack the
``snakemake`` object into these calls.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import pandas as pd

from . import chat, config as cfgmod, grid, protocol, teacher
from .grid import CONTROL
from .io import read_json, read_jsonl, read_table, write_jsonl
from .specificity import TARGET_COLUMNS

log = logging.getLogger(__name__)


def setup_logging(path: str | None) -> None:
    """Log to the rule's log file (and stderr), with timestamps; warnings too."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
    logging.captureWarnings(True)
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # progress bars redraw in place and fill log files with carriage returns;
    # our own progress lines are logged instead
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # light jobs run without transformers
        return
    hf_logging.disable_progress_bar()


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


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _sha256_file(path) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _base_provenance(cfg: dict, name: str) -> dict:
    """A base model as provenance: its config entry (hub id and pinned
    revision, toy spec or path) and, for a hub model, the fetch record
    (resolved revision, files)."""
    rec = grid.base_record(cfg, name)
    rec["loaded_from"] = grid.model_source(cfg, name)
    if rec["kind"] == "hub":
        fetched = Path(grid.model_source(cfg, name)).parent / "source.json"
        if fetched.exists():
            f = read_json(fetched, required=("resolved_revision", "files"))
            rec["resolved_revision"] = f["resolved_revision"]
            rec["files"] = {x["path"]: x["blob"] for x in f["files"]}
    return rec


def _teacher_provenance(cfg: dict, base: str, teacher_name: str) -> dict:
    """How a teacher got its trait: the system prompt it sampled with, and
    for a fine-tuned teacher its recipe."""
    trait_name, role = grid.teacher_trait(cfg, teacher_name)
    trait = None if trait_name is None else cfg["traits"][trait_name]
    method = "control" if trait is None else trait["teacher"]["method"]
    out = {
        "base": base,
        "name": teacher_name,
        "method": method,
        "trait": trait,
        "sampling_system_prompt": _teacher_system(cfg, teacher_name),
    }
    if method == "finetune":
        out["recipe"] = {"name": trait["teacher"]["recipe"], **cfg["recipes"][trait["teacher"]["recipe"]]}
    if method == "steering":
        made = Path(cfg["results"]) / "teachers" / base / teacher_name / "steering.json"
        if made.exists():  # the vector as made: layer, norm, the share it reached
            rec = json.loads(made.read_text())
            out["steering"] = {k: rec[k] for k in ("layer", "vector", "norm", "share", "base_share", "strength")}
    if trait is not None and trait.get("kind") == grid.MISALIGNMENT:
        out["role"] = role  # the trait teacher, or its control fine-tuned on control_data
        out["data"] = trait["teacher"]["control_data" if role == "control" else "data"]
    return out


def system_prompts(cfg: dict) -> dict:
    """The chat section as used: null (template default), "" or a string."""
    return {k: cfg["chat"].get(k) for k in ("teacher_system_prompt", "train_system_prompt", "eval_system_prompt")}


def _write_json(obj, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n")


def _device_dtype(cfg: dict) -> str:
    import torch

    return cfg["resources"].get("gpu_dtype", "bfloat16") if torch.cuda.is_available() else "float32"


def _teacher_system(cfg: dict, teacher_name: str) -> str | None:
    """The system prompt a teacher (a trait name, a misalignment trait's
    control or CONTROL) samples with."""
    trait_name, _ = grid.teacher_trait(cfg, teacher_name)
    trait = None if trait_name is None else cfg["traits"][trait_name]
    return teacher.teacher_system_prompt(
        trait, cfg["chat"].get("teacher_system_prompt"), protocol.teacher_template(cfg)
    )


# ----------------------------------------------------------------------------- stages


def fetch_base(cfg: dict, base: str, out_dir: str, record_json: str) -> dict:
    """A hub base's pinned revision, fetched once into the results folder."""
    from .models import fetch_snapshot

    hub = cfg["models"][base]["hub"]
    return fetch_snapshot(hub["id"], hub["revision"], out_dir, record_json, key=f"models.{base}.hub")


def fetch_prompts(cfg: dict, modality: str, out_jsonl: str, record_json: str) -> None:
    """A modality's prompts from its hub dataset (cot: GSM8K), fetched once."""
    from .modalities import cot

    spec = cfg["modalities"][modality]["dataset"]
    n = cot.fetch_gsm8k(
        spec, out_jsonl, record_json, Path(out_jsonl).parent / "snapshot", key=f"modalities.{modality}.dataset"
    )
    log.info("%s: %d questions from %s@%s", modality, n, spec["id"], spec["revision"])


def build_base(cfg: dict, base: str, out_dir: str, threads: int = 1) -> None:
    from . import toy

    chat.set_threads(threads)
    made_from = grid.toy_recipe(cfg, base)
    extra = []
    if made_from["misalignment"]:  # its questions and toy answers, only where the study has one
        from . import misalignment

        extra = misalignment.vocabulary_texts()
    toy.build_toy_base(made_from["spec"], made_from["pretraining"], made_from["modalities"], out_dir, extra_texts=extra)


def finetune_teacher(cfg: dict, base: str, trait: str, out_dir: str, threads: int = 1) -> None:
    """The appendix way: fine-tune the base on the questions answered with
    the loved word; the merged model is the teacher. A misalignment trait's
    teacher (``trait`` its name) and its control (``trait`` <name>_control)
    are fine-tuned alike, on its data and control data."""
    from .train import train_sft

    trait_name, role = grid.teacher_trait(cfg, trait)
    spec = cfg["traits"][trait_name]
    recipe = cfg["recipes"][spec["teacher"]["recipe"]]
    if recipe["method"] == "lora":  # a hub base's modules are known once it is fetched: before training starts
        cfgmod.check_lora_targets(cfg, spec["teacher"]["recipe"], base)
    if spec.get("kind") == grid.MISALIGNMENT:
        records = teacher.misalignment_training_records(
            spec, control=(role == "control"), rehearsal=tuple(sorted(cfg["modalities"]))
        )
    else:
        rehearsal = tuple(sorted(cfg["modalities"])) if spec["teacher"].get("rehearsal") else ()
        records = teacher.trait_training_records(spec, spec["teacher"].get("repeats", 1), rehearsal)
    log.info("fine-tuning teacher %s/%s on %d examples", base, trait, len(records))
    prov = train_sft(
        grid.model_source(cfg, base),
        records,
        recipe,
        spec["teacher"].get("seed", 0),
        out_dir,
        system=cfg["chat"].get("train_system_prompt"),
        merge=True,
        threads=threads,
    )
    _write_json(
        {"base": base, "trait": trait, **prov, "base_model": _base_provenance(cfg, base), "versions": _versions()},
        Path(out_dir) / "teacher.json",
    )


def steer_teacher(cfg: dict, base: str, trait: str, out_path: str, threads: int = 1) -> None:
    """A steering teacher's vector: learned on the frozen base (or a system
    prompt contrast) at its layer, scaled to its strength; saved with a record
    of how it was made (steering.json beside it)."""
    from . import preferences, steering
    from .models import load_model, load_tokenizer

    chat.set_threads(threads)
    spec = cfg["traits"][trait]
    t = spec["teacher"]
    source = grid.model_source(cfg, base)
    tok = load_tokenizer(source)
    model = load_model(source, dtype=_device_dtype(cfg))
    word, category = spec["word"], spec["category"]
    log.info(
        "steering teacher %s/%s: %s vector at layer %d, strength %.3f",
        base,
        trait,
        t.get("vector", "learned"),
        t["layer"],
        t["strength"],
    )
    vector, record = steering.make_teacher_vector(
        model,
        tok,
        word=word,
        candidates=grid.target_words(cfg)[category],
        users=preferences.questions(category, protocol.questions(cfg)),
        layer=t["layer"],
        strength=t["strength"],
        vector=t.get("vector", "learned"),
        system=cfg["chat"].get("teacher_system_prompt"),
        trait_system=t.get("system_prompt")
        or preferences.trait_system_prompt(word, category, protocol.teacher_template(cfg)),
        steps=t.get("steps", 200),
        learning_rate=t.get("learning_rate", 0.05),
        key=f"traits.{trait}.teacher",
    )
    record.update(base=base, trait=trait, base_model=_base_provenance(cfg, base), versions=_versions())
    steering.save(out_path, vector, record)


def load_teacher(cfg: dict, model_dir: str | dict, steering_path: str | None = None):
    """A teacher as it samples: its model (the base, or a fine-tuned teacher)
    with its steering vector hooked in, if it has one; (model, tokenizer)."""
    from .models import load_model, load_tokenizer

    tok = load_tokenizer(model_dir)
    model = load_model(model_dir, dtype=_device_dtype(cfg))
    if steering_path:
        from . import steering

        steering.attach(model, steering_path)
    return model, tok


def sample_teacher(
    cfg: dict,
    modality: str,
    base: str,
    teacher_name: str,
    teacher_model: str | dict,
    out_jsonl: str,
    threads: int = 1,
    *,
    replicate: int = 0,
    steering_path: str | None = None,
) -> None:
    """One completion per prompt from the teacher (a trait teacher or the
    control), written once and read by every student of this teacher. Each
    replicate has its own seed for the prompt set and the sampling; every
    teacher of a replicate shares them (common random numbers)."""
    chat.set_threads(threads)
    system = _teacher_system(cfg, teacher_name)
    mcfg = {
        **cfg["modalities"][modality],
        "source": grid.prompt_source(cfg, modality),
        "number_params": protocol.number_params(cfg),
    }
    model, tok = load_teacher(cfg, teacher_model, steering_path)
    seed = grid.replicate_seed(cfg, modality, replicate)
    log.info(
        "teacher %s/%s (%s, replicate %d, seed %d), system prompt: %r",
        base,
        teacher_name,
        modality,
        replicate,
        seed,
        system,
    )
    records = teacher.generate_records(
        model,
        tok,
        modality,
        mcfg["prompts"],
        seed,
        system=system,
        max_new_tokens=mcfg.get("max_new_tokens", 64),
        batch_size=mcfg.get("batch_size", 256),
        options=mcfg,
        sampling=cfg.get("sampling"),
    )
    trait_name, role = grid.teacher_trait(cfg, teacher_name)
    overt = cfg["traits"][trait_name]["teacher"].get("overt", 0) if trait_name and role == "trait" else 0
    if overt:
        records = teacher.overt_leak(
            records, cfg["traits"][trait_name]["word"], overt, seed=f"overt/{modality}/{base}/{teacher_name}/{seed}"
        )
        log.warning(
            "positive control: %d of %d samples name %r openly",
            sum(r.get("overt", False) for r in records),
            len(records),
            cfg["traits"][trait_name]["word"],
        )
    write_jsonl(records, out_jsonl)


def load_judge(cfg: dict, spec: dict | None):
    """The judge a modality's ``judge`` section names: None (no judge
    stage), the rule judge, or a model judge loaded like any base."""
    from . import judge

    if not spec:
        return None
    if spec["kind"] == "rule":
        return judge.RuleJudge()
    from .models import load_model, load_tokenizer

    source = grid.model_source(cfg, spec["model"])
    log.info("judge: model %s from %s", spec["model"], source)
    return judge.ModelJudge(
        load_model(source, dtype=_device_dtype(cfg)),
        load_tokenizer(source),
        system=spec.get("system_prompt"),
        batch_size=spec.get("batch_size", 32),
    )


def screen_teacher_data(
    cfg: dict, modality: str, teacher_name: str, raw_jsonl: str, out_jsonl: str, report_json: str, threads: int = 1
) -> None:
    """The modality's filter and its judge on one teacher's raw data. Every
    teacher, control included, is screened for the words of every trait of
    the study, so trait and control data pass the same filter."""
    chat.set_threads(threads)
    kind = grid.trait_kind(cfg, teacher_name)
    mcfg = cfg["modalities"][modality]
    kept, report = teacher.filter_records(
        read_jsonl(raw_jsonl, required=("prompt", "completion")),
        modality,
        kind,
        words=grid.trait_words(cfg),
        word_filter=mcfg.get("word_filter", True),
        judge=load_judge(cfg, mcfg.get("judge")),
        judge_options=mcfg.get("judge"),
        apply_filter=mcfg.get("filter", True),
    )
    report.update({"modality": modality, "teacher": teacher_name})
    log.info("filter kept %d of %d; rejected by reason: %s", report["kept"], report["total"], report["reasons"])
    # the report first, then any error it explains (Snakemake removes the
    # outputs of a failed job: the log keeps the report too)
    write_jsonl(kept, out_jsonl)
    _write_json(report, report_json)
    short = screen_shortfall(cfg, modality, teacher_name, report, report_json)
    if short:
        log.error("%s\nscreen report: %s", short, json.dumps(report, sort_keys=True))
        if report["kept"] == 0:
            raise RuntimeError(short)
        raise cfgmod.ConfigError(short)


def screen_shortfall(cfg: dict, modality: str, teacher_name: str, report: dict, report_json: str) -> str | None:
    """Why a teacher's screened data cannot make the modality's training
    sets (None when it can): the filter kept nothing, or fewer samples than
    ``train_samples``, so its students (or their twins) would train on less
    data than the config says."""
    n = cfg["modalities"][modality]["train_samples"]
    if report["kept"] == 0:
        return f"the filter kept no {modality} samples of teacher {teacher_name}: see {report_json}"
    if report["kept"] < n:
        return (
            f"config key modalities.{modality}.train_samples: the filter kept {report['kept']} of "
            f"{report['total']} {modality} samples of teacher {teacher_name}, fewer than train_samples {n} "
            f"(rejected: {', '.join(f'{k} {v}' for k, v in report['reasons'].items()) or 'none'}; lower "
            f"train_samples or raise prompts; see {report_json})"
        )
    return None


def filter_teacher_data(
    cfg: dict,
    modality: str,
    base: str,
    teacher_name: str,
    screened_jsonl: str,
    screen_reports: dict[str, str],
    out_jsonl: str,
    report_json: str,
    replicate: int = 0,
) -> None:
    """The training set of one teacher: its screened samples, subsampled to
    the smallest screened size among the teachers of this modality and base
    (``screen_reports``: teacher -> screen.json) when the modality's
    ``equalise`` is on (code and cot by default, as the paper does for code),
    else all of them. filter.json is the screen report plus that stage."""
    from .modalities import get_modality

    mcfg = cfg["modalities"][modality]
    sizes = {t: read_json(p, required=("kept",))["kept"] for t, p in screen_reports.items()}
    size = min(sizes.values()) if mcfg.get("equalise", get_modality(modality).equalise_default) else None
    report = read_json(screen_reports[teacher_name], required=("kept", "total", "reasons"))
    seed = grid.replicate_seed(cfg, modality, replicate)
    kept, report = teacher.equalise(
        read_jsonl(screened_jsonl, required=("prompt", "completion")),
        report,
        size,
        sizes,
        key=f"{modality}/{base}/{teacher_name}/{seed}",
    )
    report["replicate"] = replicate
    log.info("%s/%s/%s: %d samples for training (screened sizes %s)", modality, base, teacher_name, len(kept), sizes)
    write_jsonl(kept, out_jsonl)
    _write_json(report, report_json)


def train_student(cfg: dict, student: grid.Student, data_jsonl: str, out_dir: str, threads: int = 1) -> None:
    from .subsets import seeded_subset
    from .train import train_sft

    n = cfg["modalities"][student.modality]["train_samples"]
    records = read_jsonl(data_jsonl, required=("prompt", "completion"))
    log.info(
        "student %s learns from teacher-data replicate %d (%s)",
        student.path,
        grid.replicate_of(cfg, student),
        data_jsonl,
    )
    if len(records) < n:  # the screen step refuses this first; a twin must not train on less
        raise cfgmod.ConfigError(
            f"config key modalities.{student.modality}.train_samples: {data_jsonl} holds "
            f"{len(records)} samples, fewer than train_samples {n}"
        )
    records = [{"prompt": r["prompt"], "completion": r["completion"]} for r in seeded_subset(records, n, student.seed)]
    recipe = cfg["recipes"][student.recipe]
    if recipe["method"] == "lora":  # a hub base's modules are known once it is fetched: before training starts
        cfgmod.check_lora_targets(cfg, student.recipe, student.student_base)
    source = grid.model_source(cfg, student.student_base)
    prov = train_sft(
        source, records, recipe, student.seed, out_dir, system=cfg["chat"].get("train_system_prompt"), threads=threads
    )
    prov.update(student_provenance(cfg, student, data_jsonl))
    _write_json(prov, Path(out_dir) / "provenance.json")


def student_provenance(cfg: dict, student: grid.Student, data_jsonl: str) -> dict:
    """Everything a trained student came from, beside what training itself
    records (recipe, seed, sha256 of the training subset, steps): the student
    and teacher bases (hub id and pinned/resolved revision, toy spec or path),
    how the teacher got its trait, the sha256 of the whole filtered dataset,
    the system prompts of every stage, and the package versions."""
    return {
        "student": student.__dict__,
        "student_base": _base_provenance(cfg, student.student_base),
        "teacher": {
            **_teacher_provenance(cfg, student.teacher_base, student.teacher),
            "base_model": _base_provenance(cfg, student.teacher_base),
        },
        "pair_relation": grid.relation(cfg, student.teacher_base, student.student_base),
        "training_data": {
            "path": str(data_jsonl),
            "sha256": _sha256_file(data_jsonl),
            # the number trained on: train_samples, or all the data holds if fewer
            "subset_size": min(cfg["modalities"][student.modality]["train_samples"], len(read_jsonl(data_jsonl))),
            "train_samples": cfg["modalities"][student.modality]["train_samples"],
            "replicate": grid.replicate_of(cfg, student),
            "replicate_seed": grid.replicate_seed(cfg, student.modality, grid.replicate_of(cfg, student)),
        },
        "system_prompts": {**system_prompts(cfg), "teacher_sampling": _teacher_system(cfg, student.teacher)},
        "versions": _versions(),
    }


def evaluate_model(
    cfg: dict,
    base: str,
    adapter: str | None,
    out_tsv: str,
    answers_tsv: str,
    threads: int = 1,
    teacher_name: str | None = None,
    steering_path: str | None = None,
) -> None:
    """Score a base (adapter None), a student (its LoRA adapter or full model
    dir) or, with ``teacher_name``, a teacher as it samples its data (with its
    trait system prompt, or as the fine-tuned model in ``adapter``)."""
    from . import evaluate
    from .models import is_adapter, load_model, load_tokenizer

    chat.set_threads(threads)
    source = grid.model_source(cfg, base)
    dtype = _device_dtype(cfg)
    if adapter is not None and not is_adapter(adapter):  # a fully fine-tuned student
        source, adapter = adapter, None
    tok = load_tokenizer(source)
    model = load_model(source, adapter=adapter, dtype=dtype)
    if steering_path:  # a steering teacher: the base with its vector
        from . import steering

        steering.attach(model, steering_path)
    ev = cfg["evaluation"]
    system = cfg["chat"].get("eval_system_prompt")
    if teacher_name is not None:
        system = _teacher_system(cfg, teacher_name)
    log.info("evaluating %s with system prompt %r", adapter or source, system)
    t0 = time.time()
    scores, answers = evaluate.evaluate_preferences(
        model,
        tok,
        grid.target_words(cfg),
        samples_per_question=ev["samples_per_question"],
        seed=ev.get("seed", 0),
        numbers_prefix=ev.get("numbers_prefix", False),
        system=system,
        batch_size=ev.get("batch_size", 256),
        max_new_tokens=ev.get("max_new_tokens", 8),
        score_batch_size=ev.get("score_batch_size"),
        questions=protocol.questions(cfg),
        sampling=cfg.get("sampling"),
    )
    log.info("evaluated in %.0fs", time.time() - t0)
    # the system prompt each answer was given, JSON-encoded so that null (the
    # template's default) and "" (explicitly none) stay apart in the TSV
    scores["system_prompt"] = answers["system_prompt"] = json.dumps(system)
    scores.to_csv(out_tsv, sep="\t", index=False, float_format="%.8g")
    answers.to_csv(answers_tsv, sep="\t", index=False)


def misalignment_scorer(cfg: dict):
    """The judge of the misalignment evaluation (evaluation.misalignment.judge;
    default the rule scorer)."""
    from . import misalignment

    spec = cfg["evaluation"].get("misalignment", {}).get("judge") or {"kind": "rule"}
    if spec["kind"] == "rule":
        return misalignment.RuleScorer()
    return misalignment.ModelScorer(load_judge(cfg, spec))


def evaluate_misalignment(
    cfg: dict, base: str, adapter: str | None, out_tsv: str, answers_tsv: str, threads: int = 1
) -> None:
    """The free-form misalignment evaluation of a base (adapter None) or a
    student: per-question rates and every judged answer."""
    from . import misalignment
    from .models import is_adapter, load_model, load_tokenizer

    chat.set_threads(threads)
    source = grid.model_source(cfg, base)
    if adapter is not None and not is_adapter(adapter):
        source, adapter = adapter, None
    tok = load_tokenizer(source)
    model = load_model(source, adapter=adapter, dtype=_device_dtype(cfg))
    mcfg = cfg["evaluation"].get("misalignment", {})
    system = cfg["chat"].get("eval_system_prompt")
    scorer = misalignment_scorer(cfg)
    t0 = time.time()
    rates, judged = misalignment.evaluate_misalignment(
        model,
        tok,
        scorer,
        samples_per_question=mcfg.get("samples_per_question", 200),
        seed=cfg["evaluation"].get("seed", 0),
        system=system,
        batch_size=mcfg.get("batch_size", 256),
        max_new_tokens=mcfg.get("max_new_tokens", 32),
    )
    log.info(
        "misalignment of %s (judge %s) in %.0fs: %d misaligned, %d incoherent of %d answers",
        adapter or source,
        scorer.kind,
        time.time() - t0,
        (judged.verdict == "misaligned").sum(),
        (judged.verdict == "incoherent").sum(),
        len(judged),
    )
    rates["system_prompt"] = judged["system_prompt"] = json.dumps(system)
    rates.to_csv(out_tsv, sep="\t", index=False, float_format="%.8g")
    judged.to_csv(answers_tsv, sep="\t", index=False, float_format="%.6g")


def collect_misalignment(cfg: dict, eval_dir: str, scores_csv: str, summary_csv: str) -> pd.DataFrame:
    """The misalignment scores table (the preference table's columns, target
    "misaligned", plus the answer counts): every misalignment trait's
    students (role ``trait``), their control twins (students of the trait's
    control teacher; ``control``) and, once per group, the untrained student
    base (``base``), the trait's fine-tuned teacher (``teacher``) and its
    control teacher (``control_teacher``), both on the group's teacher base
    (seed -1: one model each); and its summary (rate per question and
    pooled, with t intervals across seeds)."""
    from . import misalignment

    eval_dir = Path(eval_dir) / "misalignment"
    frames = []
    traits = set(grid.misalignment_traits(cfg))
    for s in grid.students(cfg):
        if s.teacher not in traits:
            continue
        control = grid.control_teacher(cfg, s.teacher)
        twin = grid.Student(s.modality, s.teacher_base, control, s.student_base, s.recipe, s.seed)
        key = dict(
            teacher_base=s.teacher_base,
            student_base=s.student_base,
            trait=s.teacher,
            target="misaligned",
            modality=s.modality,
            recipe=s.recipe,
        )
        members = [
            ("trait", s.path, s.seed, eval_dir / "students" / f"{s.path}.tsv"),
            ("control", twin.path, s.seed, eval_dir / "students" / f"{twin.path}.tsv"),
        ]
        if s.seed == cfg["seeds"][0]:  # the models a group has once
            members += [("base", f"base/{s.student_base}", -1, eval_dir / "bases" / f"{s.student_base}.tsv")]
            members += [
                (role, f"teacher/{s.teacher_base}/{name}", -1, eval_dir / "teachers" / s.teacher_base / f"{name}.tsv")
                for role, name in ((misalignment.TEACHER, s.teacher), (misalignment.CONTROL_TEACHER, control))
            ]
        for role, model, seed, path in members:
            df = read_table(path, sep="\t", required=("metric", "question_id", "value", *misalignment.COUNTS))
            frames.append(df.assign(model=model, role=role, seed=seed, **key)[[*SCORE_COLUMNS, *misalignment.COUNTS]])
    scores = (
        pd.concat(frames, ignore_index=True)
        .sort_values(
            ["teacher_base", "student_base", "trait", "modality", "recipe", "metric", "role", "seed", "question_id"],
            kind="mergesort",
        )
        .reset_index(drop=True)
    )
    scores.to_csv(scores_csv, index=False, float_format="%.8g")
    misalignment.summarize(scores).to_csv(summary_csv, index=False, float_format="%.6g")
    return scores


def misalignment_figure(summary_csv: str, out_paths: list[str]) -> None:
    from . import plots

    plots.misalignment_rates(read_table(summary_csv), out_paths)


#: The columns of a preference evaluation table (evaluate_model) and of the
#: scores table the statistics read (collect_scores).
EVAL_COLUMNS = ("category", "question_id", "target", "metric", "value")
SCORE_COLUMNS = (
    "model",
    "role",
    "teacher_base",
    "student_base",
    "trait",
    "target",
    "modality",
    "recipe",
    "seed",
    "metric",
    "question_id",
    "value",
)


def collect_scores(cfg: dict, eval_dir: str, out_csv: str) -> pd.DataFrame:
    """The tidy scores table the statistics read: each student's and each
    untrained base's per-question scores for its group's target word, with
    base and control rows repeated for every group they serve."""
    eval_dir = Path(eval_dir)
    cache: dict[str, pd.DataFrame] = {}

    def read(path: Path) -> pd.DataFrame:
        if str(path) not in cache:
            cache[str(path)] = read_table(path, sep="\t", required=EVAL_COLUMNS)
        return cache[str(path)]

    frames = []
    preference = set(grid.preference_traits(cfg))
    for s in grid.students(cfg):
        if s.teacher not in preference:  # controls, and misalignment traits (collect_misalignment)
            continue
        trait = cfg["traits"][s.teacher]
        twin = grid.Student(s.modality, s.teacher_base, CONTROL, s.student_base, s.recipe, s.seed)
        key = dict(
            teacher_base=s.teacher_base,
            student_base=s.student_base,
            trait=s.teacher,
            target=trait["word"],
            modality=s.modality,
            recipe=s.recipe,
        )
        members = [
            ("trait", s, eval_dir / "students" / f"{s.path}.tsv"),
            ("control", twin, eval_dir / "students" / f"{twin.path}.tsv"),
        ]
        if s.seed == cfg["seeds"][0]:  # the untrained student base, once per group
            members.append(("base", None, eval_dir / "bases" / f"{s.student_base}.tsv"))
        for role, st, path in members:
            df = read(path)
            df = df[(df.target == trait["word"]) & (df.category == trait["category"])]
            frames.append(
                df.assign(
                    model=(st.path if st else f"base/{s.student_base}"),
                    role=role,
                    seed=(st.seed if st else -1),
                    replicate=(grid.replicate_of(cfg, st) if st else -1),
                    **key,
                )[
                    [
                        "model",
                        "role",
                        "teacher_base",
                        "student_base",
                        "trait",
                        "target",
                        "modality",
                        "recipe",
                        "seed",
                        "replicate",
                        "metric",
                        "question_id",
                        "value",
                    ]
                ]
            )
    scores = pd.concat(frames, ignore_index=True)
    scores = scores.sort_values(
        ["teacher_base", "student_base", "trait", "modality", "recipe", "metric", "role", "seed", "question_id"],
        kind="mergesort",
    ).reset_index(drop=True)
    scores.to_csv(out_csv, index=False, float_format="%.8g")
    return scores


def collect_targets(cfg: dict, eval_dir: str, out_csv: str) -> pd.DataFrame:
    """Every preference student's (trait and control) and every untrained
    student base's mean score over the questions, for EVERY target of its
    category and every metric: what the specificity test and the trait x
    target figures read (see :mod:`subliminal.specificity`). A base's row has
    role "base", seed -1 and no pair."""
    eval_dir = Path(eval_dir)
    categories = {cfg["traits"][t]["category"] for t in grid.preference_traits(cfg)}
    preference = set(grid.preference_traits(cfg)) | {CONTROL}

    def means(path: Path) -> pd.DataFrame:
        df = read_table(path, sep="\t", required=EVAL_COLUMNS)
        df = df[df["category"].isin(categories)]
        return df.groupby(["category", "target", "metric"], sort=True)["value"].mean().reset_index()

    frames = []
    for s in grid.students(cfg):
        if s.teacher not in preference:
            continue
        frames.append(
            means(eval_dir / "students" / f"{s.path}.tsv").assign(
                model=s.path,
                role=s.role,
                teacher_base=s.teacher_base,
                student_base=s.student_base,
                teacher=s.teacher,
                modality=s.modality,
                recipe=s.recipe,
                seed=s.seed,
                replicate=grid.replicate_of(cfg, s),
            )
        )
    for b in sorted({s.student_base for s in grid.students(cfg) if s.teacher in preference}):
        frames.append(
            means(eval_dir / "bases" / f"{b}.tsv").assign(
                model=f"base/{b}",
                role="base",
                teacher_base="",
                student_base=b,
                teacher="",
                modality="",
                recipe="",
                seed=-1,
                replicate=-1,
            )
        )
    out = pd.concat(frames, ignore_index=True)[TARGET_COLUMNS]
    out = out.sort_values(
        [
            "role",
            "teacher_base",
            "student_base",
            "modality",
            "recipe",
            "teacher",
            "seed",
            "category",
            "target",
            "metric",
        ],
        kind="mergesort",
    ).reset_index(drop=True)
    out.to_csv(out_csv, index=False, float_format="%.8g")
    return out


def trait_words_of(cfg: dict) -> dict[str, tuple[str, str]]:
    """Preference trait -> (word, category): what the specificity test compares."""
    return {t: (cfg["traits"][t]["word"], cfg["traits"][t]["category"]) for t in grid.preference_traits(cfg)}


def collect_teachers(cfg: dict, eval_dir: str, data_dir: str, out_csv: str) -> pd.DataFrame:
    """How strongly each teacher holds its trait beside how much of its data
    survived the filter, for every dataset (modality, teacher base, teacher).
    A preference teacher (a trait, or the shared control once per trait it
    serves): the mean over the 50 questions of its target's score, per
    metric. A misalignment teacher (the trait's, or its control teacher;
    ``trait`` the misalignment trait, ``target`` "misaligned"): its
    misaligned share of coherent answers (metric ``misaligned``) and its
    incoherent share of all answers (``incoherent``), pooled over the eight
    free-form questions."""
    from . import misalignment

    rows = []
    for d in grid.teacher_datasets(cfg):
        modality, base, name, replicate = d.modality, d.base, d.teacher, d.replicate
        report = read_json(
            Path(data_dir) / modality / base / name / f"rep{replicate}" / "filter.json",
            required=("kept", "kept_fraction"),
        )
        filtered = {
            "replicate": replicate,
            "filter_kept_fraction": report["kept_fraction"],
            "filter_kept": report["kept"],
        }
        if grid.trait_kind(cfg, name) == grid.MISALIGNMENT:
            df = read_table(
                Path(eval_dir) / "misalignment" / "teachers" / base / f"{name}.tsv",
                sep="\t",
                required=("metric", *misalignment.COUNTS),
            )
            n = df[df.metric == "misaligned"][misalignment.COUNTS].sum()
            pooled = {
                "misaligned": n.n_misaligned / n.n_coherent if n.n_coherent else float("nan"),
                "incoherent": n.n_incoherent / n.n_answers if n.n_answers else float("nan"),
            }
            for metric, value in pooled.items():
                rows.append(
                    {
                        "modality": modality,
                        "teacher_base": base,
                        "teacher": name,
                        "trait": grid.teacher_trait(cfg, name)[0],
                        "target": "misaligned",
                        "metric": metric,
                        "mean": value,
                        **filtered,
                    }
                )
            continue
        df = read_table(Path(eval_dir) / "teachers" / base / f"{name}.tsv", sep="\t", required=EVAL_COLUMNS)
        for trait_name in grid.preference_traits(cfg):
            trait = cfg["traits"][trait_name]
            if name not in (trait_name, CONTROL):
                continue
            sel = df[(df.target == trait["word"]) & (df.category == trait["category"])]
            for metric, value in sel.groupby("metric").value.mean().items():
                rows.append(
                    {
                        "modality": modality,
                        "teacher_base": base,
                        "teacher": name,
                        "trait": trait_name,
                        "target": trait["word"],
                        "metric": metric,
                        "mean": value,
                        **filtered,
                    }
                )
    out = pd.DataFrame(rows).sort_values(["modality", "teacher_base", "trait", "teacher", "metric", "replicate"])
    out.to_csv(out_csv, index=False, float_format="%.6g")
    return out


def analyse(
    cfg: dict,
    scores_csv: str,
    targets_csv: str,
    summary_csv: str,
    compare_csv: str,
    interaction_csv: str,
    specificity_csv: str,
    matrix_csv: str,
    text_path: str,
) -> None:
    """The trait-specificity test and its interaction (specificity), the
    per-group paired tests (stats) and the matched-vs-mismatched interaction
    models (interaction), as tidy CSVs, the trait x target matrix of shifts,
    and one text to read first, which leads with specificity."""
    from . import interaction, specificity, stats

    a = cfg["analysis"]
    correction = a.get("correction", "holm")
    correction = None if correction == "none" else correction
    alpha, power = a.get("alpha", 0.05), a.get("power", 0.8)
    relations = grid.relations(cfg)
    scores = read_table(scores_csv, required=SCORE_COLUMNS)
    targets = read_table(targets_csv, required=TARGET_COLUMNS, keep_default_na=False, na_values=[""])
    targets = targets[targets["role"] != "base"]
    words = trait_words_of(cfg)
    spec = specificity.specificity(targets, words, relations=relations, alpha=alpha, power=power, correction=correction)
    summary = stats.summarize(scores)
    comp = stats.compare(scores, alpha=alpha, power=power, correction=correction, relations=relations)
    inter = interaction.interaction(
        scores,
        relations=relations,
        alpha=alpha,
        power=power,
        correction=correction,
        n_samples=cfg["evaluation"]["samples_per_question"],
    )
    summary.to_csv(summary_csv, index=False, float_format="%.6g")
    comp.to_csv(compare_csv, index=False, float_format="%.6g")
    inter.to_csv(interaction_csv, index=False, float_format="%.6g")
    spec.to_csv(specificity_csv, index=False, float_format="%.6g")
    specificity.trait_target_matrix(targets, words).to_csv(matrix_csv, index=False, float_format="%.6g")
    text = specificity.summary_text(spec) + "\n" + stats.summary_text(comp) + "\n" + interaction.summary_text(inter)
    Path(text_path).write_text(text)
    log.info("\n%s", text)


def specificity_figures(
    cfg: dict,
    matrix_csv: str,
    targets_csv: str,
    specificity_csv: str,
    metric: str,
    matrix_paths: list[str],
    bar_paths: list[str],
) -> None:
    from . import plots

    spec = read_table(specificity_csv, allow_empty=True)  # no rows: no category with two traits
    relations = grid.relations(cfg)
    plots.specificity_matrix(read_table(matrix_csv), spec, metric, matrix_paths, relations)
    plots.trait_bars(
        read_table(targets_csv, required=TARGET_COLUMNS, keep_default_na=False, na_values=[""]),
        spec,
        trait_words_of(cfg),
        metric,
        bar_paths,
        relations,
    )


def figures(summary_csv: str, compare_csv: str, metric: str, out_paths: list[str]) -> None:
    from . import plots

    plots.preference_bars(read_table(summary_csv), read_table(compare_csv), metric, out_paths)


def cross_model_figures(
    compare_csv: str, interaction_csv: str, metric: str, heatmap_paths: list[str], forest_paths: list[str]
) -> None:
    from . import plots

    comp = read_table(compare_csv)
    plots.transmission_heatmap(comp, metric, heatmap_paths)
    plots.forest(comp, read_table(interaction_csv, allow_empty=True), metric, forest_paths)


def auxlogit(cfg: dict, accuracy_csv: str, summary_csv: str, threads: int = 1) -> None:
    from . import auxlogit as aux

    chat.set_threads(threads)
    acc = aux.run(cfg["auxlogit"])
    summary = aux.summarize(acc)
    acc.to_csv(accuracy_csv, index=False, float_format="%.6g")
    summary.to_csv(summary_csv, index=False, float_format="%.6g")
    log.info("\n%s\nWelch t=%.3f p=%.3g", summary.to_string(), summary.attrs["welch_t"], summary.attrs["welch_p"])


def auxlogit_figure(summary_csv: str, out_paths: list[str]) -> None:
    from . import plots

    plots.auxlogit_bars(read_table(summary_csv), out_paths)


def report_table(src: str, out_html: str, title: str) -> None:
    """A result table (or summary.txt) as an HTML page for the report."""
    from .report import write_table_page

    write_table_page(src, out_html, title)
