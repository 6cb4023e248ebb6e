"""One function per workflow stage: files in, files out, orchestration only.

Each takes plain arguments (the validated config, records of the grid,
paths) so a stage runs and is tested without Snakemake; workflow/scripts/
only unpack the ``snakemake`` object into these calls. What a thing is comes
from :mod:`subliminal.grid`, where it lives from :mod:`subliminal.layout`,
the science from the modules each stage calls.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from . import chat, grid, misalignment, preferences, protocol, provenance, teacher
from .config import check_lora_targets
from .errors import ConfigError
from .io import read_json, read_jsonl, write_jsonl
from .kinds import KINDS, TraitKind
from .layout import Layout
from .modalities import get_modality
from .settings import Evaluation, Filtering, Sampling, Screening, Training
from .recipes import Recipe
from .runtime import job_config, load, load_judge, setup_logging  # noqa: F401 - job_config, setup_logging: the scripts'
from .subsets import seeded_subset

log = logging.getLogger(__name__)


def fetch_base(cfg: dict, base: str, out_dir: str, record_json: str) -> dict:
    """A hub base's pinned revision, fetched once into the results folder."""
    from .models import fetch_snapshot

    hub = cfg["models"][base]["hub"]
    return fetch_snapshot(hub["id"], hub["revision"], out_dir, record_json, key=f"models.{base}.hub")


def fetch_prompts(cfg: dict, modality: str, out_jsonl: str, record_json: str) -> None:
    """A modality's prompts from its hub dataset, fetched once (the modality fetches them)."""
    spec = cfg["modalities"][modality]["dataset"]
    snapshot = Layout(cfg["results"]).prompts("snapshot", modality)
    n = get_modality(modality).fetch(spec, out_jsonl, record_json, snapshot, key=f"modalities.{modality}.dataset")
    log.info("%s: %d questions from %s@%s", modality, n, spec["id"], spec["revision"])


def build_base(made_from: dict, out_dir: str, threads: int = 1) -> None:
    """A toy base, from what :func:`subliminal.grid.toy_recipe` says it is made of."""
    from . import toy

    chat.set_threads(threads)
    extra = []
    if made_from["misalignment"]:  # its questions and toy answers, only where the study has one
        extra = misalignment.vocabulary_texts()
    toy.build_toy_base(made_from["spec"], made_from["pretraining"], made_from["modalities"], out_dir, extra_texts=extra)


def finetune_teacher(cfg: dict, base: str, name: str, out_dir: str, provenance_json: str, threads: int = 1) -> None:
    """The appendix way: fine-tune the base on the questions answered with
    the loved word; the merged model is the teacher. A misalignment trait's
    teacher and its control (<trait>_control) are fine-tuned alike, on its
    data and control data."""
    from .train import train_sft

    trait, role = grid.teacher_trait(cfg, name)
    spec = cfg["traits"][trait]
    recipe_name = spec["teacher"]["recipe"]
    check_lora_targets(cfg, recipe_name, base)  # a hub base's modules are known once it is fetched
    modalities = tuple(sorted(cfg["modalities"]))
    if grid.trait_kind(cfg, name) == grid.MISALIGNMENT:
        records = teacher.misalignment_training_records(spec, control=(role == "control"), rehearsal=modalities)
    else:
        rehearsal = modalities if spec["teacher"]["rehearsal"] else ()
        records = teacher.trait_training_records(spec, spec["teacher"]["repeats"], rehearsal)
    log.info("fine-tuning teacher %s/%s on %d examples", base, name, len(records))
    prov = train_sft(
        grid.model_source(cfg, base),
        records,
        Recipe.of(cfg, recipe_name),
        spec["teacher"]["seed"],
        str(Path(out_dir).parent),
        system=cfg["chat"]["train_system_prompt"],
        merge=True,
        threads=threads,
    )
    record = {
        "base": base,
        "trait": name,
        **prov,
        "base_model": provenance.base_model(cfg, base),
        **provenance.made_by(cfg),
    }
    provenance.write_json({**record, "versions": provenance.versions()}, provenance_json)


def steer_teacher(cfg: dict, base: str, trait: str, out_path: str, threads: int = 1) -> None:
    """A steering teacher's vector: learned on the frozen base (or a system
    prompt contrast) at its layer, scaled to its strength; saved with a record
    of how it was made (steering.json beside it)."""
    from . import steering

    chat.set_threads(threads)
    spec = cfg["traits"][trait]
    t = spec["teacher"]
    model, tok = load(cfg, grid.model_source(cfg, base))
    word, category = spec["word"], spec["category"]
    options = {k: t[k] for k in ("layer", "strength", "vector", "steps", "learning_rate")}
    log.info("steering teacher %s/%s: %s", base, trait, options)
    vector, record = steering.make_teacher_vector(
        model,
        tok,
        word=word,
        candidates=grid.target_words(cfg)[category],
        users=preferences.questions(category, protocol.questions(cfg)),
        system=cfg["chat"]["teacher_system_prompt"],
        trait_system=t.get("system_prompt")
        or preferences.trait_system_prompt(word, category, protocol.teacher_template(cfg)),
        key=f"traits.{trait}.teacher",
        **options,
    )
    record.update(base=base, trait=trait, base_model=provenance.base_model(cfg, base), versions=provenance.versions())
    record.update(provenance.made_by(cfg))
    steering.save(out_path, vector, record)


def sample_teacher(cfg: dict, dataset: grid.Dataset, out_jsonl: str, threads: int = 1) -> None:
    """One completion per prompt from the teacher of a dataset, written once
    and read by every student of this teacher. Each replicate has its own
    seed for the prompt set and the sampling; every teacher of a replicate
    shares them (common random numbers)."""
    chat.set_threads(threads)
    t = grid.teacher(cfg, dataset.teacher_base, dataset.teacher)
    s = Sampling.of(cfg, dataset.modality)
    model, tok = load(cfg, t.model_dir, steering=t.steering)
    log.info("teacher data %s (seed %d), system prompt: %r", dataset.fields, dataset.seed, t.system_prompt)
    records = teacher.generate_records(
        model,
        tok,
        dataset.modality,
        s.prompts,
        dataset.seed,
        system=t.system_prompt,
        max_new_tokens=s.max_new_tokens,
        batch_size=s.batch_size,
        options={
            "source": grid.prompt_source(cfg, dataset.modality),
            "number_params": protocol.number_params(cfg),
            "samples_per_prompt": s.samples_per_prompt,
        },
        sampling=cfg["sampling"],
    )
    overt = cfg["traits"][t.trait]["teacher"]["overt"] if t.trait and t.role == "trait" else 0
    if overt:
        word = cfg["traits"][t.trait]["word"]
        key = f"overt/{dataset.modality}/{t.base}/{t.name}/{dataset.seed}"
        records = teacher.overt_leak(records, word, overt, seed=key)
        n = sum(r.get("overt", False) for r in records)
        log.warning("positive control: %d of %d samples name %r openly", n, len(records), word)
    write_jsonl(records, out_jsonl)


def screen_teacher_data(
    cfg: dict, modality: str, teacher_name: str, raw_jsonl: str, out_jsonl: str, report_json: str, threads: int = 1
) -> None:
    """The modality's filter and its judge on one teacher's raw data. Every
    teacher, control included, is screened for the words of every trait of
    the study, so trait and control data pass the same filter."""
    chat.set_threads(threads)
    s = Screening.of(cfg, modality)
    kept, report = teacher.filter_records(
        read_jsonl(raw_jsonl, required=("prompt", "completion")),
        modality,
        grid.trait_kind(cfg, teacher_name),
        words=grid.trait_words(cfg),
        word_filter=s.word_filter,
        judge=load_judge(cfg, s.judge),
        judge_options=s.judge,
        apply_filter=s.filter,
    )
    report.update({"modality": modality, "teacher": teacher_name})
    log.info("filter kept %d of %d; rejected by reason: %s", report["kept"], report["total"], report["reasons"])
    # the report first, then any error it explains (Snakemake removes the
    # outputs of a failed job: the log keeps the report too)
    write_jsonl(kept, out_jsonl)
    provenance.write_json(report, report_json)
    short = teacher.shortfall(report, modality, teacher_name, s.train_samples, report_json)
    if short:
        log.error("%s\nscreen report: %s", short, json.dumps(report, sort_keys=True))
        if report["kept"] == 0:
            raise RuntimeError(short)
        raise ConfigError(short)


def filter_teacher_data(
    cfg: dict,
    dataset: grid.Dataset,
    screened_jsonl: str,
    screen_reports: dict[str, str],
    out_jsonl: str,
    report_json: str,
) -> None:
    """The training set of one teacher: its screened samples, subsampled to
    the smallest screened size among the teachers of this modality and base
    (``screen_reports``: teacher -> screen.json) when the modality's
    ``equalise`` is on, else all of them. filter.json is the screen report
    plus that stage."""
    sizes = {t: read_json(p, required=("kept",))["kept"] for t, p in screen_reports.items()}
    size = min(sizes.values()) if Filtering.of(cfg, dataset.modality).equalise else None
    report = read_json(screen_reports[dataset.teacher], required=("kept", "total", "reasons"))
    kept, report = teacher.equalise(
        read_jsonl(screened_jsonl, required=("prompt", "completion")),
        report,
        size,
        sizes,
        key=f"{dataset.modality}/{dataset.teacher_base}/{dataset.teacher}/{dataset.seed}",
    )
    report["replicate"] = dataset.replicate
    log.info("%s: %d samples for training (screened sizes %s)", dataset.fields, len(kept), sizes)
    write_jsonl(kept, out_jsonl)
    provenance.write_json(report, report_json)


def train_student(cfg: dict, student: grid.Student, data_jsonl: str, out_dir: str, threads: int = 1) -> None:
    from .train import train_sft

    n = Training.of(cfg, student.modality).train_samples
    records = read_jsonl(data_jsonl, required=("prompt", "completion"))
    log.info("student %s learns from %s", student.path, data_jsonl)
    if len(records) < n:  # the screen step refuses this first; a twin must not train on less
        raise ConfigError(
            f"config key modalities.{student.modality}.train_samples: {data_jsonl} holds "
            f"{len(records)} samples, fewer than train_samples {n}"
        )
    records = [{"prompt": r["prompt"], "completion": r["completion"]} for r in seeded_subset(records, n, student.seed)]
    check_lora_targets(cfg, student.recipe, student.student_base)  # a hub base's: known once it is fetched
    source = grid.model_source(cfg, student.student_base)
    system = cfg["chat"]["train_system_prompt"]
    prov = train_sft(
        source, records, Recipe.of(cfg, student.recipe), student.seed, out_dir, system=system, threads=threads
    )
    prov.update(provenance.student(cfg, student, data_jsonl), **provenance.made_by(cfg))
    provenance.write_json(prov, Path(out_dir) / "provenance.json")


def _evaluated(cfg: dict, member: dict, kind: TraitKind, adapter: str | None):
    """(model, tokenizer, system prompt) of an evaluated model (``member``:
    its identity columns): a base, a student (``adapter``: its LoRA adapter
    or full model folder), or a teacher, as it samples its data (its
    folder, steering vector and prompt) or, where its kind says so, as a
    model with the evaluation's system prompt."""
    base = member["student_base"]
    if member["role"] in (grid.TEACHER, grid.CONTROL_TEACHER):
        t = grid.teacher(cfg, member["teacher_base"], member["teacher"])
        if kind.teacher_as_sampled:
            return (*load(cfg, t.model_dir, steering=t.steering), t.system_prompt)
        base, adapter = t.base, t.model_dir
    return (*load(cfg, grid.model_source(cfg, base), adapter), cfg["chat"]["eval_system_prompt"])


def _preferences(cfg: dict, model, tok, system):
    """Sampled answers and exact probabilities on the preference questions."""
    from . import evaluate

    ev = Evaluation.of(cfg)
    return evaluate.evaluate_preferences(
        model,
        tok,
        grid.target_words(cfg),
        samples_per_question=ev.samples_per_question,
        seed=ev.seed,
        numbers_prefix=ev.numbers_prefix,
        system=system,
        batch_size=ev.batch_size,
        max_new_tokens=ev.max_new_tokens,
        score_batch_size=ev.score_batch_size,
        questions=protocol.questions(cfg),
        sampling=cfg["sampling"],
    )


def _misalignment(cfg: dict, model, tok, system):
    """Per-question rates and every judged answer on the free-form questions."""
    ev = Evaluation.of(cfg)
    m = ev.misalignment
    spec = m.judge or {"kind": "rule"}
    scorer = misalignment.RuleScorer() if spec["kind"] == "rule" else misalignment.ModelScorer(load_judge(cfg, spec))
    return misalignment.evaluate_misalignment(
        model,
        tok,
        scorer,
        seed=ev.seed,
        system=system,
        samples_per_question=m.samples_per_question,
        batch_size=m.batch_size,
        max_new_tokens=m.max_new_tokens,
    )


#: What an evaluation of each trait kind asks a model (subliminal.kinds):
#: (scores, answers) from (cfg, model, tokenizer, system prompt).
EVALUATIONS = {grid.PREFERENCE: _preferences, grid.MISALIGNMENT: _misalignment}


def evaluate_model(
    cfg: dict,
    member: dict,
    trait_kind: str,
    out_tsv: str,
    answers_tsv: str,
    threads: int = 1,
    adapter: str | None = None,
    record_json: str | None = None,
    trained_json: str | None = None,
) -> None:
    """Evaluate one model of the design (``member``: its identity columns,
    :data:`subliminal.grid.IDENTITY`, which the scores table opens with) on
    its trait kind's questions: a base, a teacher, or a student
    (``adapter``: its model folder). ``record_json``: how this evaluation
    was made (code and config fingerprint), with the student's own record
    (``trained_json``, its provenance.json) under ``trained``: what the
    analysis checks its members by."""
    chat.set_threads(threads)
    kind = KINDS[trait_kind]
    model, tok, system = _evaluated(cfg, member, kind, adapter)
    log.info("evaluating %s on %s with system prompt %r", member["model"], kind.questions, system)
    t0 = time.time()
    scores, answers = EVALUATIONS[trait_kind](cfg, model, tok, system)
    log.info("evaluated in %.0fs", time.time() - t0)
    # the system prompt of each answer, JSON-encoded so that null (the
    # template's default) and "" (explicitly none) stay apart in the TSV
    scores["system_prompt"] = answers["system_prompt"] = json.dumps(system)
    for i, (column, value) in enumerate(member.items()):
        scores.insert(i, column, value)
    scores.to_csv(out_tsv, sep="\t", index=False, float_format="%.8g")
    answers.to_csv(answers_tsv, sep="\t", index=False, float_format=kind.answers_format)
    if record_json:
        record = {"model": member["model"], "kind": trait_kind, **provenance.made_by(cfg)}
        if trained_json:
            trained = read_json(trained_json)
            record["trained"] = {k: trained.get(k) for k in ("code", "config_fingerprint")}
        provenance.write_json(record, record_json)
