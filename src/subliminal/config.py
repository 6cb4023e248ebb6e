"""Configuration: validation against the JSON schema plus the cross-references
a schema cannot express, each failure one line naming the key; and the grid
(which teachers, datasets and students exist), computed in one place.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import yaml

from . import preferences

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
CONTROL = "control"
#: A misalignment trait's own control teacher is named <trait> + this.
CONTROL_SUFFIX = "_control"
MISALIGNMENT = "misalignment"


class ConfigError(ValueError):
    """A bad configuration; the message is one line that names the key."""


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _schema_error_line(err: jsonschema.ValidationError) -> str:
    # prefer the most specific error of a oneOf/anyOf
    best = jsonschema.exceptions.best_match([err]) if err.context else err
    key = _key(best.absolute_path)
    if best.validator == "additionalProperties":
        extra = sorted(set(best.instance) - set(best.schema.get("properties", {})))
        return f"config key {_key(list(best.absolute_path) + [extra[0]])!s}: unknown key (misspelt?)"
    if best.validator == "required":
        return f"config key {key}: {best.message}"
    if best.validator == "oneOf" and key.startswith("models."):
        return f"config key {key}: a model needs exactly one of toy, hub or path"
    if best.validator == "pattern" and key.endswith(".hub.revision"):
        return (f"config key {key}: {best.instance!r} is not a full 40-character commit hash "
                "(pin the commit: a branch or tag can move)")
    return f"config key {key}: {best.message}"


def validate(config: dict, schema: dict | None = None) -> dict:
    """Validate and fill defaults; raises ConfigError with a one-line message."""
    schema = schema or load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        # the shallowest misspelt key is the most useful single line
        extra = [e for e in errors if e.validator == "additionalProperties"]
        raise ConfigError(_schema_error_line(extra[0] if extra else errors[0]))
    models = config["models"]
    for i, pair in enumerate(config["pairs"]):
        for side in ("teacher", "student", "teachers", "students"):
            names = pair.get(side, [])
            for j, name in enumerate([names] if isinstance(names, str) else names):
                if name not in models:
                    key = f"pairs[{i}].{side}" + ("" if isinstance(names, str) else f"[{j}]")
                    raise ConfigError(f"config key {key}: unknown model {name!r} "
                                      f"(defined: {', '.join(sorted(models))})")
    recipes = config["recipes"]
    for i, name in enumerate(config["students"]["recipes"]):
        if name not in recipes:
            raise ConfigError(f"config key students.recipes[{i}]: unknown recipe {name!r}")
    for name, recipe in recipes.items():
        total = recipe["batch_size"] * recipe.get("grad_accum", 1)
        if total % recipe.get("gpus", 1):
            raise ConfigError(f"config key recipes.{name}.gpus: the effective batch {total} (batch_size x grad_accum) "
                              f"does not split over {recipe['gpus']} GPUs")
    for name, trait in config["traits"].items():
        t = trait["teacher"]
        if t["method"] == "finetune" and t["recipe"] not in recipes:
            raise ConfigError(f"config key traits.{name}.teacher.recipe: unknown recipe {t['recipe']!r}")
        if name.endswith(CONTROL_SUFFIX):
            raise ConfigError(f"config key traits.{name}: a trait name may not end in {CONTROL_SUFFIX!r} "
                              "(the names of control teachers)")
        if trait.get("kind") == MISALIGNMENT:
            _validate_misalignment_trait(config, name, trait)
            continue
        for key in ("data", "control_data", "examples"):
            if key in t:
                raise ConfigError(f"config key traits.{name}.teacher.{key}: only used with kind misalignment")
        if trait["word"] not in preferences.CANDIDATES[trait["category"]]:
            if any(m.get("toy") for m in models.values()):
                raise ConfigError(f"config key traits.{name}.word: {trait['word']!r} is not a {trait['category']} "
                                  f"the toy bases know ({', '.join(preferences.CANDIDATES[trait['category']])})")
        if t["method"] == "system_prompt" and "recipe" in t:
            raise ConfigError(f"config key traits.{name}.teacher.recipe: only used with method finetune")
        if t.get("rehearsal"):
            if t["method"] != "finetune":
                raise ConfigError(f"config key traits.{name}.teacher.rehearsal: only used with method finetune")
            real = [b for b in teacher_bases(config) if "toy" not in models[b]]
            if real:
                raise ConfigError(f"config key traits.{name}.teacher.rehearsal: rehearses the toy tasks, for toy "
                                  f"teacher bases only ({', '.join(real)} is not a toy)")
    for name, model in models.items():
        toy = model.get("toy")
        if toy and toy["hidden_size"] % toy["heads"]:
            raise ConfigError(f"config key models.{name}.toy.heads: must divide hidden_size ({toy['hidden_size']})")
        if toy and toy["heads"] % toy.get("kv_heads", toy["heads"]):
            raise ConfigError(f"config key models.{name}.toy.kv_heads: must divide heads ({toy['heads']})")
    if any(m.get("toy") for m in models.values()) and "toy_pretraining" not in config:
        raise ConfigError("config key toy_pretraining: required when a model is a toy")
    _validate_modalities(config)
    from . import protocol  # reads the protocol files; resolves evaluation.samples_per_question

    protocol.validate(config)
    config.setdefault("results", "results")
    config.setdefault("chat", {})
    config.setdefault("analysis", {})
    config.setdefault("resources", {})
    return config


def _validate_misalignment_trait(config: dict, name: str, trait: dict) -> None:
    """Fine-tuned on data that exists; no preference keys; a control teacher
    name that is free; a judge that is a defined model."""
    key = f"traits.{name}"
    for k in ("word", "category"):
        if k in trait:
            raise ConfigError(f"config key {key}.{k}: not used with kind misalignment (it has no word)")
    t = trait["teacher"]
    if t["method"] != "finetune":
        raise ConfigError(f"config key {key}.teacher.method: a misalignment teacher is fine-tuned (method finetune)")
    for k in ("system_prompt", "repeats"):
        if k in t:
            raise ConfigError(f"config key {key}.teacher.{k}: not used with kind misalignment")
    if t.get("rehearsal"):
        raise ConfigError(f"config key {key}.teacher.rehearsal: not used with kind misalignment (its toy data "
                          "always rehearses the toy tasks)")
    for k in ("data", "control_data"):
        if t[k] != "toy" and not Path(t[k]).is_file():
            raise ConfigError(f"config key {key}.teacher.{k}: no such file {t[k]!r} (a JSONL file, or \"toy\")")
    judge = config["evaluation"].get("misalignment", {}).get("judge") or {}
    if judge.get("kind") == "model" and judge.get("model") not in config["models"]:
        raise ConfigError(f"config key evaluation.misalignment.judge.model: unknown model {judge.get('model')!r} "
                          f"(defined: {', '.join(sorted(config['models']))})")
    if judge.get("kind") == "rule" and "model" in judge:
        raise ConfigError("config key evaluation.misalignment.judge.model: only used with kind model")


def _validate_modalities(config: dict) -> None:
    """A judge model must be a defined model; a prompt file must exist (and
    not beside a hub dataset); a modality's own pairs are pairs of the study."""
    study = set(pairs(config))
    for name, mcfg in config["modalities"].items():
        for pair in _expand_pairs(mcfg.get("pairs") or []):
            if pair not in study:
                raise ConfigError(f"config key modalities.{name}.pairs: {pair[0]} -> {pair[1]} is not one of the "
                                  f"study's pairs (config key pairs)")
        judge = mcfg.get("judge") or {}
        if judge.get("kind") == "model" and judge.get("model") not in config["models"]:
            raise ConfigError(f"config key modalities.{name}.judge.model: unknown model {judge.get('model')!r} "
                              f"(defined: {', '.join(sorted(config['models']))})")
        if judge.get("kind") == "rule" and "model" in judge:
            raise ConfigError(f"config key modalities.{name}.judge.model: only used with kind model")
        if mcfg.get("source") and not Path(mcfg["source"]).is_file():
            raise ConfigError(f"config key modalities.{name}.source: no such file {mcfg['source']!r}")
        if mcfg.get("dataset") and mcfg.get("source"):
            raise ConfigError(f"config key modalities.{name}.dataset: give a dataset or a source file, not both")


# ----------------------------------------------------------------------------- grid


@dataclass(frozen=True)
class Student:
    modality: str
    teacher_base: str
    teacher: str  # a trait name or CONTROL
    student_base: str
    recipe: str
    seed: int

    @property
    def path(self) -> str:
        return f"{self.modality}/{self.teacher_base}/{self.teacher}/{self.student_base}/{self.recipe}/seed{self.seed}"

    @property
    def role(self) -> str:
        return "control" if self.teacher == CONTROL or self.teacher.endswith(CONTROL_SUFFIX) else "trait"


def misalignment_traits(config: dict) -> list[str]:
    return sorted(n for n, t in config["traits"].items() if t.get("kind") == MISALIGNMENT)


def preference_traits(config: dict) -> list[str]:
    return sorted(n for n, t in config["traits"].items() if t.get("kind", "preference") != MISALIGNMENT)


def control_teacher(config: dict, trait: str) -> str:
    """The teacher whose students are the control twins of a trait's
    students: the shared control (the base model) for a preference trait, a
    fine-tuned control of its own for a misalignment trait."""
    return trait + CONTROL_SUFFIX if config["traits"][trait].get("kind") == MISALIGNMENT else CONTROL


def teacher_trait(config: dict, teacher: str) -> tuple[str | None, str]:
    """(trait, role) of a teacher name: ("owl", "trait"), ("mis",
    "control") for mis_control, (None, "control") for the shared control."""
    if teacher == CONTROL:
        return None, "control"
    if teacher not in config["traits"] and teacher.endswith(CONTROL_SUFFIX):
        return teacher[: -len(CONTROL_SUFFIX)], "control"
    return teacher, "trait"


def trait_kind(config: dict, teacher: str) -> str:
    """The filter kind of a teacher's data: its trait's kind (a misalignment
    trait's control teacher is filtered like the trait teacher)."""
    trait, _ = teacher_trait(config, teacher)
    return "preference" if trait is None else config["traits"][trait].get("kind", "preference")


def teacher_names(config: dict) -> list[str]:
    """Every teacher: the traits, the control teachers of misalignment traits,
    and the shared control (when a preference trait needs it)."""
    mis = misalignment_traits(config)
    return (sorted(config["traits"]) + [t + CONTROL_SUFFIX for t in mis]
            + ([CONTROL] if preference_traits(config) else []))


def teacher_bases(config: dict, modality: str | None = None) -> list[str]:
    """The teacher bases of the study's pairs (or of one modality's pairs)."""
    return sorted({t for t, _ in pairs(config, modality)})


def student_bases(config: dict) -> list[str]:
    return sorted({s for _, s in pairs(config)})


def _expand_pairs(entries: list[dict]) -> list[tuple[str, str]]:
    out = []
    for p in entries:
        if "teacher" in p:
            out.append((p["teacher"], p["student"]))
        else:
            out += list(itertools.product(p["teachers"], p["students"]))
    return list(dict.fromkeys(out))


def pairs(config: dict, modality: str | None = None) -> list[tuple[str, str]]:
    """Unique (teacher base, student base) pairs in config order; a
    {teachers, students} entry stands for every teacher with every student.
    With a ``modality``: the pairs that modality runs on (its own ``pairs``,
    a subset of the study's, or all of them)."""
    own = config["modalities"][modality].get("pairs") if modality is not None else None
    return _expand_pairs(own if own is not None else config["pairs"])


SAME_BASE, SAME_ARCHITECTURE, DIFFERENT_ARCHITECTURE, DIFFERENT_BASE = (
    "same_base", "same_architecture", "different_architecture", "different_base")


def architecture(config: dict, name: str) -> str | None:
    spec = config["models"][name]
    return spec.get("architecture_family") or spec.get("toy", {}).get("architecture")


def relation(config: dict, teacher: str, student: str) -> str:
    """How a teacher base relates to a student base: same_base (the same
    model, or models of one declared init_group), same_architecture (other
    initialisation), different_architecture, or different_base where an
    architecture is not declared."""
    groups = [config["models"][m].get("init_group") for m in (teacher, student)]
    if teacher == student or (groups[0] is not None and groups[0] == groups[1]):
        return SAME_BASE
    archs = [architecture(config, m) for m in (teacher, student)]
    if None in archs:
        return DIFFERENT_BASE
    return SAME_ARCHITECTURE if archs[0] == archs[1] else DIFFERENT_ARCHITECTURE


def relations(config: dict) -> dict[tuple[str, str], str]:
    return {(t, s): relation(config, t, s) for t, s in pairs(config)}


def datasets(config: dict) -> list[tuple[str, str, str]]:
    """Every (modality, teacher base, teacher) dataset: each generated once,
    whatever the number of students that learn from it."""
    return [(m, b, t) for m in sorted(config["modalities"]) for b in teacher_bases(config, m)
            for t in teacher_names(config)]


def students(config: dict) -> list[Student]:
    """Every student: each trait student has a control twin (same pair,
    modality, recipe, seed) trained on the control teacher's data; one control
    student serves every trait."""
    out = []
    for modality in sorted(config["modalities"]):
        for (tb, sb), recipe, seed, teacher in itertools.product(
            pairs(config, modality), config["students"]["recipes"], config["seeds"], teacher_names(config),
        ):
            out.append(Student(modality, tb, teacher, sb, recipe, int(seed)))
    return out


def finetuned_teachers(config: dict) -> list[tuple[str, str]]:
    """(base, teacher) for every teacher given by fine-tuning: traits by
    fine-tuning, and the control teachers of misalignment traits."""
    names = [t for t, spec in sorted(config["traits"].items()) if spec["teacher"]["method"] == "finetune"]
    names += [t + CONTROL_SUFFIX for t in misalignment_traits(config)]
    return [(b, t) for b in teacher_bases(config) for t in names]


def categories(config: dict) -> list[str]:
    return sorted({config["traits"][t]["category"] for t in preference_traits(config)})


def prompt_source(config: dict, modality: str) -> str | None:
    """The prompt file a modality's teachers read: its ``source``, or the
    JSONL that fetch_prompts writes from its hub ``dataset``; None for the
    synthetic toy prompts."""
    mcfg = config["modalities"][modality]
    if mcfg.get("dataset"):
        return f"{config['results']}/prompts/{modality}/questions.jsonl"
    return mcfg.get("source")


def toy_recipe(config: dict, base: str) -> dict:
    """Everything a toy base is made from: its spec, the pretraining, the
    study's modalities (its tokenizer and corpus) and whether the study has a
    misalignment trait (its vocabulary). The build reads this, and the
    workflow declares it as the build's params, so a config edit rebuilds."""
    return {"spec": config["models"][base]["toy"], "pretraining": config["toy_pretraining"],
            "modalities": sorted(config["modalities"]), "misalignment": bool(misalignment_traits(config))}


def local_base_dir(config: dict, name: str, results: str | None = None) -> str:
    """The folder a toy is built in, or a hub model's snapshot is fetched to."""
    return f"{results or config['results']}/bases/{name}/model"


def model_source(config: dict, name: str, results: str | None = None) -> str:
    """Where a base model is loaded from: the toy's build folder, the local
    copy of a hub model (made once by the fetch_base rule: no job loads from
    the hub), or a local path."""
    spec = config["models"][name]
    if "path" in spec:
        return spec["path"]
    return local_base_dir(config, name, results)


def base_record(config: dict, name: str) -> dict:
    """What a base model is, for provenance records: its kind and spec (hub
    id and pinned revision, toy architecture and seed, or path)."""
    spec = config["models"][name]
    kind = next(k for k in ("toy", "hub", "path") if k in spec)
    return {"name": name, "kind": kind, **{k: v for k, v in spec.items() if k != kind},
            kind: dict(spec[kind]) if isinstance(spec[kind], dict) else spec[kind]}


def trait_words(config: dict) -> tuple[str, ...]:
    """Every trait word of the study: what the trait-word filters screen every
    teacher's data for (trait and control teachers alike). A misalignment
    trait has no word."""
    return tuple(sorted({config["traits"][t]["word"] for t in preference_traits(config)}))


def target_words(config: dict) -> dict[str, list[str]]:
    """Per category, the words every model is scored on: the candidates the
    toys know, then any trait word beyond them (a real model may love a
    pangolin)."""
    out = {}
    for category in categories(config):
        words = list(preferences.CANDIDATES[category])
        for trait in sorted((config["traits"][t] for t in preference_traits(config)), key=lambda t: t["word"]):
            if trait["category"] == category and trait["word"] not in words:
                words.append(trait["word"])
        out[category] = words
    return out
