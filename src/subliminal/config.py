"""Configuration: validation against the JSON schema plus the cross-references
a schema cannot express, each failure one line naming the key, and the
schema's defaults applied once. What the config resolves to (which teachers,
datasets and students exist) is :mod:`subliminal.grid`.
"""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import jsonschema
import yaml

from . import preferences, protocol
from .errors import ConfigError
from . import settings
from .layout import STUDY_OUTPUTS
from .recipes import Recipe
from .grid import (
    CONTROL,
    CONTROL_SUFFIX,
    MISALIGNMENT,
    expand_pairs,
    model_source,
    pairs,
    student_bases,
    teacher_bases,
)

#: The config's schema: every key, its type, its default and its description.
#: It ships inside the package (the workflow validates against it too), so
#: the package never reaches into the workflow's folders.
SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(Path(path).read_text())


def _is_integer(checker, value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: The schema's validator, with counts that must be true integers: jsonschema
#: takes 3000.0 for an integer, and a float count fails later inside a job.
_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


def _schema_error_line(err: jsonschema.ValidationError) -> str:
    # prefer the most specific error of a oneOf/anyOf
    best = jsonschema.exceptions.best_match([err]) if err.context else err
    key = _key(best.absolute_path)
    special = _special_schema_error(best, key)
    if special:
        return special
    if best.validator == "additionalProperties":
        extra = sorted(set(best.instance) - set(best.schema.get("properties", {})))
        return f"config key {_key(list(best.absolute_path) + [extra[0]])!s}: unknown key (misspelt?)"
    if best.validator == "required":
        return f"config key {key}: {best.message}"
    if best.validator == "oneOf" and key.startswith("models."):
        return f"config key {key}: a model needs exactly one of toy, hub or path"
    if best.validator == "pattern" and key.endswith(".hub.revision"):
        return (
            f"config key {key}: {best.instance!r} is not a full 40-character commit hash "
            "(pin the commit: a branch or tag can move)"
        )
    return f"config key {key}: {best.message}"


def validate(config: dict, schema: dict | None = None) -> dict:
    """Validate and fill defaults; raises ConfigError with a one-line message."""
    # before the schema, which walks every value (seconds for 100,000 seeds)
    # and misreads a NaN (.nan > 0 is false: "less than the minimum")
    check_grid_size(config)
    _refuse_non_finite(config, [])
    schema = schema or load_schema()
    validator = _Validator(schema)
    errors = sorted(
        validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path)))
    )
    if errors:
        # the shallowest misspelt key is the most useful single line
        extra = [e for e in errors if e.validator == "additionalProperties"]
        raise ConfigError(_schema_error_line(extra[0] if extra else errors[0]))
    # the defaults, once: the checks below and every stage read them from the config
    apply_defaults(config, schema)
    _validate_pairs_and_recipes(config)
    for name, trait in config["traits"].items():
        _validate_trait(config, name, trait)
    _validate_toys(config)
    _validate_modalities(config)
    _validate_inputs(config)
    protocol.validate(config)
    settings.check(config)  # the records the jobs will take (the recipes' above): they build here or nowhere
    return config


def _validate_pairs_and_recipes(config: dict) -> None:
    """Every pair names defined models, every student recipe a defined
    recipe, and every recipe's effective batch splits over its GPUs."""
    models = config["models"]
    for i, pair in enumerate(config["pairs"]):
        for side in ("teacher", "student", "teachers", "students"):
            names = pair.get(side, [])
            for j, name in enumerate([names] if isinstance(names, str) else names):
                if name not in models:
                    key = f"pairs[{i}].{side}" + ("" if isinstance(names, str) else f"[{j}]")
                    raise ConfigError(
                        f"config key {key}: unknown model {name!r} (defined: {', '.join(sorted(models))})"
                    )
    recipes = config["recipes"]
    for i, name in enumerate(config["students"]["recipes"]):
        if name not in recipes:
            raise ConfigError(f"config key students.recipes[{i}]: unknown recipe {name!r}")
    for name in recipes:
        recipe = Recipe.of(config, name)  # the record training will take: it builds here or nowhere
        if recipe.effective_batch % recipe.gpus:
            raise ConfigError(
                f"config key recipes.{name}.gpus: the effective batch {recipe.effective_batch} "
                f"(batch_size x grad_accum) does not split over {recipe.gpus} GPUs"
            )


def _validate_trait(config: dict, name: str, trait: dict) -> None:
    """One trait: its teacher's recipe and name, then the checks of its kind."""
    t = trait["teacher"]
    if t["method"] == "finetune" and t["recipe"] not in config["recipes"]:
        raise ConfigError(f"config key traits.{name}.teacher.recipe: unknown recipe {t['recipe']!r}")
    if name.endswith(CONTROL_SUFFIX):
        raise ConfigError(
            f"config key traits.{name}: a trait name may not end in {CONTROL_SUFFIX!r} (the names of control teachers)"
        )
    if trait.get("kind") == MISALIGNMENT:
        _validate_misalignment_trait(config, name, trait)
    else:
        _validate_preference_trait(config, name, trait)


def _validate_preference_trait(config: dict, name: str, trait: dict) -> None:
    """A preference trait: its word (one the toy bases know, where there are
    toys), its teacher's method-specific keys and its rehearsal."""
    t = trait["teacher"]
    models = config["models"]
    for key in ("data", "control_data", "examples"):
        if key in t:
            raise ConfigError(f"config key traits.{name}.teacher.{key}: only used with kind misalignment")
    _check_word(name, trait["word"])
    if trait["word"] not in preferences.CANDIDATES[trait["category"]]:
        if any(m.get("toy") for m in models.values()):
            raise ConfigError(
                f"config key traits.{name}.word: {trait['word']!r} is not "
                f"{_article(trait['category'])} {trait['category']} "
                f"the toy bases know ({', '.join(preferences.CANDIDATES[trait['category']])})"
            )
    if t["method"] != "finetune" and "recipe" in t:
        raise ConfigError(f"config key traits.{name}.teacher.recipe: only used with method finetune")
    _validate_steering(config, name, t)
    if t.get("rehearsal"):
        if t["method"] != "finetune":
            raise ConfigError(f"config key traits.{name}.teacher.rehearsal: only used with method finetune")
        real = [b for b in teacher_bases(config) if "toy" not in models[b]]
        if real:
            raise ConfigError(
                f"config key traits.{name}.teacher.rehearsal: rehearses the toy tasks, for toy "
                f"teacher bases only ({', '.join(real)} is not a toy)"
            )


def _validate_toys(config: dict) -> None:
    """Toy models' head counts, and the pretraining the toys need: every
    modality of the study among its tasks."""
    models = config["models"]
    for name, model in models.items():
        toy = model.get("toy")
        if toy and toy["hidden_size"] % toy["heads"]:
            raise ConfigError(f"config key models.{name}.toy.heads: must divide hidden_size ({toy['hidden_size']})")
        if toy and toy["heads"] % toy.get("kv_heads", toy["heads"]):
            raise ConfigError(f"config key models.{name}.toy.kv_heads: must divide heads ({toy['heads']})")
    if any(m.get("toy") for m in models.values()) and "toy_pretraining" not in config:
        raise ConfigError("config key toy_pretraining: required when a model is a toy")
    missing = sorted(
        set(config["modalities"]) - set(config.get("toy_pretraining", {}).get("tasks") or config["modalities"])
    )
    if missing:
        raise ConfigError(
            f"config key toy_pretraining.tasks: the toys would not learn the study's modality {missing[0]} (add it)"
        )


#: The most jobs a grid may plan without ``allow_large: true`` (``--config
#: allow_large=true``): the paper-scale configs plan under 700; Snakemake
#: needs minutes and gigabytes only to plan a grid of 100,000 students.
MAX_JOBS = 10_000


def _length(value) -> int:
    return len(value) if isinstance(value, (list, dict)) else 1


def planned_jobs(config: dict) -> int | None:
    """An estimate of the jobs a config plans, from the lengths of its lists
    alone (nothing is expanded): per modality, two per student (train,
    evaluate) and three per teacher dataset (sample, screen, filter). None
    where the config's shape is not yet valid (the schema says why)."""
    try:
        traits = config["traits"]
        misaligned = sum(isinstance(t, dict) and t.get("kind") == MISALIGNMENT for t in traits.values())
        teachers = len(traits) + misaligned + (len(traits) > misaligned)
        per_seed = _length(config["seeds"]) * _length(config["students"]["recipes"])
        jobs = 0
        for mcfg in config["modalities"].values():
            entries = mcfg.get("pairs") or config["pairs"]
            pairs = sum(
                _length(p.get("teachers", p.get("teacher"))) * _length(p.get("students", p.get("student")))
                for p in entries
            )
            replicates = mcfg.get("replicates", 1)
            replicates = replicates if isinstance(replicates, int) else 1
            jobs += pairs * teachers * (2 * per_seed + 3 * replicates)
        return jobs
    except (KeyError, TypeError, AttributeError):
        return None


def check_grid_size(config: dict) -> None:
    """A grid of more than MAX_JOBS jobs is refused unless the config says
    ``allow_large: true``: counted from the lengths of its lists, so that the
    answer comes in a moment, before anything is expanded."""
    if config.get("allow_large") is True:
        return
    jobs = planned_jobs(config)
    if jobs is not None and jobs > MAX_JOBS:
        sizes = {
            "seeds": _length(config["seeds"]),
            "students.recipes": _length(config["students"]["recipes"]),
            "traits": _length(config["traits"]),
            "pairs": _length(config["pairs"]),
            "modalities": _length(config["modalities"]),
        }
        key = max(sizes, key=sizes.get)
        raise ConfigError(
            f"config key {key}: the grid plans about {jobs:,} jobs ({sizes[key]:,} {key}), more than "
            f"{MAX_JOBS:,}; shrink it, or give --config allow_large=true to plan it anyway"
        )


def _refuse_non_finite(value, path: list, seen: set | None = None) -> None:
    """No NaN or infinity anywhere in the config (.nan, .inf in YAML):
    every comparison with one is false, so a schema bound would not catch it
    and a learning rate of .nan would train to nothing."""
    seen = set() if seen is None else seen
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key {_key(path)}: {value!r} is not a finite number")
    if isinstance(value, (dict, list)):
        if id(value) in seen:  # a YAML alias: checked where it was first met
            return
        seen.add(id(value))
        for k, v in value.items() if isinstance(value, dict) else enumerate(value):
            _refuse_non_finite(v, [*path, k], seen)


def _resolved(node: dict, root: dict) -> dict:
    while "$ref" in node:
        target = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def apply_defaults(instance, node: dict, root: dict | None = None) -> None:
    """Fill in, in place, every ``default`` of the schema ``node`` that
    applies to ``instance``: a property's default where the key is left out
    (an object's default is filled in turn), through $ref, items,
    additionalProperties, allOf, the branch of a oneOf/anyOf the instance
    matches, and the then/else of an if. Called once, after validation, so
    that nothing downstream restates a default; a second call changes
    nothing."""
    root = root if root is not None else node
    node = _resolved(node, root)
    if isinstance(instance, dict):
        props = node.get("properties", {})
        for key, sub in props.items():
            sub = _resolved(sub, root)
            if key not in instance and "default" in sub:
                instance[key] = copy.deepcopy(sub["default"])
            if key in instance:
                apply_defaults(instance[key], sub, root)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            for key, value in instance.items():
                if key not in props:
                    apply_defaults(value, extra, root)
    if isinstance(instance, list) and isinstance(node.get("items"), dict):
        for value in instance:
            apply_defaults(value, node["items"], root)

    def valid(sub: dict) -> bool:  # $ref resolved against the root
        return _Validator(root).evolve(schema=sub).is_valid(instance)

    for sub in node.get("allOf", []):
        apply_defaults(instance, sub, root)
    for kw in ("oneOf", "anyOf"):
        for sub in node.get(kw, []):
            if valid(sub):
                apply_defaults(instance, sub, root)
                break
    if "if" in node:
        branch = node.get("then") if valid(node["if"]) else node.get("else")
        if branch:
            apply_defaults(instance, branch, root)


def recipe(partial: dict) -> Recipe:
    """A recipe given to training directly (a test, a benchmark), not through
    a config: checked against the schema's recipe, its defaults filled in
    once, as :func:`validate` does for a config's recipes, and made a
    :class:`~subliminal.recipes.Recipe`, the record training takes."""
    schema = load_schema()
    out = copy.deepcopy(partial)
    apply_defaults(out, schema["$defs"]["recipe"], schema)
    for error in _Validator(schema).evolve(schema=schema["$defs"]["recipe"]).iter_errors(out):
        raise ConfigError(f"recipe key {_key(error.absolute_path)}: {error.message}")
    return Recipe.from_mapping(out)


#: Keys of a trait teacher that only a steering teacher uses.
STEERING_KEYS = ("layer", "vector", "strength", "steps", "learning_rate")


def _validate_steering(config: dict, name: str, t: dict) -> None:
    """A steering teacher names its layer and strength (the layer within a
    toy's depth; a hub model's is checked when the vector is made); the
    steering keys belong to it alone."""
    key = f"config key traits.{name}.teacher"
    if t["method"] != "steering":
        for k in STEERING_KEYS:
            if k in t:
                raise ConfigError(f"{key}.{k}: only used with method steering")
        return
    for k in ("layer", "strength"):
        if k not in t:
            raise ConfigError(f"{key}: method steering needs {k!r}")
    for base in teacher_bases(config):
        toy = config["models"][base].get("toy")
        if toy and not -toy["layers"] <= t["layer"] < toy["layers"]:
            raise ConfigError(
                f"{key}.layer: {t['layer']} is outside the {toy['layers']} layers of teacher base "
                f"{base} (0..{toy['layers'] - 1}, or negative from the last)"
            )


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
        raise ConfigError(
            f"config key {key}.teacher.rehearsal: not used with kind misalignment (its toy data "
            "always rehearses the toy tasks)"
        )
    for k in ("data", "control_data"):
        if t[k] != "toy" and not Path(t[k]).is_file():
            raise ConfigError(f'config key {key}.teacher.{k}: no such file {t[k]!r} (a JSONL file, or "toy")')
    _check_judge(config, "evaluation.misalignment.judge", config["evaluation"]["misalignment"].get("judge"))


def _check_judge(config: dict, key: str, judge: dict | None) -> None:
    """A model judge names a defined model; a rule judge names none."""
    judge = judge or {}
    if judge.get("kind") == "model" and judge.get("model") not in config["models"]:
        raise ConfigError(
            f"config key {key}.model: unknown model {judge.get('model')!r} "
            f"(defined: {', '.join(sorted(config['models']))})"
        )
    if judge.get("kind") == "rule" and "model" in judge:
        raise ConfigError(f"config key {key}.model: only used with kind model")


def _validate_modalities(config: dict) -> None:
    """A judge model must be a defined model; a prompt file must exist (and
    not beside a hub dataset); a modality's own pairs are pairs of the study."""
    study = set(pairs(config))
    for name, mcfg in config["modalities"].items():
        for pair in expand_pairs(mcfg.get("pairs") or []):
            if pair not in study:
                raise ConfigError(
                    f"config key modalities.{name}.pairs: {pair[0]} -> {pair[1]} is not one of the "
                    f"study's pairs (config key pairs)"
                )
        _check_judge(config, f"modalities.{name}.judge", mcfg.get("judge"))
        if mcfg.get("source") and not Path(mcfg["source"]).is_file():
            raise ConfigError(f"config key modalities.{name}.source: no such file {mcfg['source']!r}")
        if mcfg.get("dataset") and mcfg.get("source"):
            raise ConfigError(f"config key modalities.{name}.dataset: give a dataset or a source file, not both")


# ----------------------------------------------------------------------------- what the schema cannot see

#: The transformers model types a toy can be: each takes the toy's sizes
#: (hidden size, layers, heads, kv heads, intermediate size) as given, and
#: has the modules of LORA_MODULES (tests/unit/test_config.py builds each).
TOY_ARCHITECTURES = ("llama", "mistral", "qwen2", "qwen3")

_LLAMA_MODULES = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "embed_tokens",
    "lm_head",
)
#: The modules LoRA can adapt (linear layers and embeddings), by the last
#: part of their name, per transformers model_type. A model type not listed
#: is looked up by building the model from its config.json on the meta
#: device (no weights).
LORA_MODULES = {
    **{t: _LLAMA_MODULES for t in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "olmo2")},
    "phi3": ("qkv_proj", "o_proj", "gate_up_proj", "down_proj", "embed_tokens", "lm_head"),
}

#: A hub repository id: org/name, each of letters, digits, '-', '_' and '.',
#: neither starting nor ending with '-' or '.'; no '--' or '..' (the hub's rules).
_HUB_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_HUB_ID = re.compile(rf"{_HUB_PART}/{_HUB_PART}")


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


#: What a trait word may hold besides letters: a space, a hyphen, an apostrophe.
WORD_PUNCTUATION = " -'\u2019"


def _check_word(name: str, word: str) -> None:
    """A trait word as the evaluation scores it: answers are lower-cased
    before the word is looked for, so an upper-case word or one with
    whitespace around it would never be found (normalising it here instead
    would leave the provenance unclear)."""
    if word != word.strip() or word != word.lower():
        raise ConfigError(
            f"config key traits.{name}.word: {word!r} must be lower case with no surrounding "
            f"whitespace (answers are scored lower-cased; write {word.strip().lower()!r})"
        )
    odd = [c for c in word if not (c.isalpha() or c in WORD_PUNCTUATION)]
    if odd or not word:
        what = f"holds {odd[0]!r} (U+{ord(odd[0]):04X})" if odd else "is empty"
        raise ConfigError(
            f"config key traits.{name}.word: {word!r} {what}; a trait word is letters, spaces, hyphens "
            "and apostrophes (an invisible or control character would never be matched in an answer)"
        )


def _check_hub_id(key: str, value: str) -> None:
    if len(value) > 96 or not _HUB_ID.fullmatch(value) or ".." in value or "--" in value:
        raise ConfigError(
            f"config key {key}: {value!r} is not a hub id (org/name, of letters, digits, '-', '_' and '.'; no '..')"
        )


def _check_results(value: str) -> None:
    """The folder of every output: not empty, not the filesystem root, not a file."""
    if not value.strip():
        raise ConfigError("config key results: empty (the folder for every output, e.g. results)")
    if Path(value).resolve() == Path(Path(value).resolve().anchor):
        raise ConfigError(f"config key results: {value!r} is the filesystem root (name a folder, e.g. results)")
    if Path(value).exists() and not Path(value).is_dir():
        raise ConfigError(f"config key results: {value!r} is a file, not a folder")


def _validate_inputs(config: dict) -> None:
    """What the schema cannot see, each a mistake that would otherwise fail
    (or run silently wrong) inside a job: the results folder, toy
    architectures, local model folders, hub ids, a training set larger than
    a teacher can ever write, the auxiliary-logit data set and LoRA targets."""
    _check_results(config["results"])
    for name, spec in config["models"].items():
        if "toy" in spec and spec["toy"]["architecture"] not in TOY_ARCHITECTURES:
            raise ConfigError(
                f"config key models.{name}.toy.architecture: {spec['toy']['architecture']!r} is not a "
                f"toy architecture ({', '.join(TOY_ARCHITECTURES)})"
            )
        if "path" in spec:
            path = Path(spec["path"])
            if not path.is_dir():
                raise ConfigError(f"config key models.{name}.path: no such folder {spec['path']!r}")
            if not (path / "config.json").is_file():
                raise ConfigError(
                    f"config key models.{name}.path: {spec['path']!r} holds no config.json (a model "
                    "saved with save_pretrained)"
                )
        if "hub" in spec:
            _check_hub_id(f"models.{name}.hub.id", spec["hub"]["id"])
    for name, mcfg in config["modalities"].items():
        if mcfg.get("dataset"):
            _check_hub_id(f"modalities.{name}.dataset.id", mcfg["dataset"]["id"])
        per = mcfg.get("samples_per_prompt", 1)
        most = mcfg["prompts"] * per
        if mcfg["train_samples"] > most:
            made = f"{mcfg['prompts']} prompts" + (f" x samples_per_prompt {per}" if per != 1 else "")
            raise ConfigError(
                f"config key modalities.{name}.train_samples: {mcfg['train_samples']} is more than a "
                f"teacher ever writes ({made} = {most} samples, before the filter)"
            )
    if "auxlogit" in config:
        _check_auxlogit_dataset(config["auxlogit"].get("dataset", "digits"))
    for recipe, base in _lora_uses(config):
        check_lora_targets(config, recipe, base)


def _check_auxlogit_dataset(source: str) -> None:
    if source == "digits":
        return
    key = "config key auxlogit.dataset"
    if not Path(source).is_file():
        raise ConfigError(f"{key}: no such file {source!r} (digits, or an .npz with x_train, y_train, x_test, y_test)")
    import numpy as np

    try:
        with np.load(source) as f:
            names = set(f.files)
    except Exception as err:  # noqa: BLE001 - any unreadable file is the same mistake
        raise ConfigError(f"{key}: {source!r} is not an .npz file ({type(err).__name__})") from None
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in names]
    if missing:
        raise ConfigError(f"{key}: {source!r} has no array {missing[0]!r} (it needs x_train, y_train, x_test, y_test)")


def _lora_uses(config: dict) -> list[tuple[str, str]]:
    """(recipe, base) of every LoRA fine-tune of the study: the students'
    recipes on the student bases, a fine-tuned teacher's on the teacher bases."""
    uses = [(r, b) for r in config["students"]["recipes"] for b in student_bases(config)]
    uses += [
        (t["teacher"]["recipe"], b)
        for t in config["traits"].values()
        if t["teacher"]["method"] == "finetune"
        for b in teacher_bases(config)
    ]
    return [(r, b) for r, b in dict.fromkeys(uses) if config["recipes"][r]["method"] == "lora"]


def lora_modules(config: dict, base: str) -> tuple[str, ...] | None:
    """The modules of a base that LoRA can adapt: known for a toy, read from
    the config.json of a path model or of a hub model's fetched copy. None
    where that is not known (a hub model before fetch_base ran, or a model
    type transformers cannot build)."""
    spec = config["models"][base]
    if "toy" in spec:
        return LORA_MODULES[spec["toy"]["architecture"]]
    path = Path(model_source(config, base)) / "config.json"
    if not path.is_file():
        return None
    try:
        model_type = json.loads(path.read_text()).get("model_type")
    except (ValueError, AttributeError):
        kind = "path" if "path" in spec else "hub"
        raise ConfigError(f"config key models.{base}.{kind}: {path} is not a JSON object") from None
    if model_type in LORA_MODULES:
        return LORA_MODULES[model_type]
    return _built_modules(path.parent)


def _built_modules(model_dir: Path) -> tuple[str, ...] | None:
    """The LoRA-able module names of a model type not in LORA_MODULES: the
    model built from its config.json on the meta device (no weights, no
    remote code)."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM
        from transformers.pytorch_utils import Conv1D

        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    except Exception:  # noqa: BLE001 - unknown here; loading it will say why
        return None
    kinds = (torch.nn.Linear, torch.nn.Embedding, Conv1D)
    return tuple(sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if n and isinstance(m, kinds)}))


def check_study_folder(config: dict) -> None:
    """``report.pretrainings``, when set, names a folder that holds the
    study's figure and tables (checked on the filesystem, from the working
    directory, when the workflow starts, not by :func:`validate`)."""
    folder = config["report"]["pretrainings"]
    if folder is None:
        return
    shown = [STUDY_OUTPUTS[k] for k in ("png", "pooled", "per")]  # what the report shows of it
    missing = [name for name in shown if not (Path(folder) / name).is_file()]
    if missing:
        raise ConfigError(
            f"report.pretrainings: {folder} has no {', '.join(missing)} (python -m subliminal.pretrainings "
            f"analyse --out {folder} writes them; null shows no study in the report)"
        )


def check_lora_targets(config: dict, recipe: str, base: str) -> None:
    """A LoRA recipe's targets name modules of the base (a target matches a
    module by the last part of its name, as peft does); for a hub model this
    is known once its copy is fetched, so training checks it again before
    it starts."""
    if config["recipes"][recipe]["method"] != "lora":
        return
    names = lora_modules(config, base)
    if names is None:
        return
    for target in config["recipes"][recipe]["targets"]:
        if target.rsplit(".", 1)[-1] not in names:
            raise ConfigError(
                f"config key recipes.{recipe}.targets: {target!r} is not a module of {base} "
                f"(LoRA can adapt: {', '.join(names)})"
            )


def _special_schema_error(best: jsonschema.ValidationError, key: str) -> str | None:
    """Clearer lines for schema errors whose own message misleads."""
    reserved = best.validator_value.get("const") if isinstance(best.validator_value, dict) else None
    if best.validator == "not" and reserved == CONTROL:
        return (
            f"config key {key}.{best.instance}: the name {best.instance!r} is taken by the control teacher "
            "(call the trait something else)"
        )
    if best.validator == "maximum" and best.validator_value == 2**32 - 1:
        return f"config key {key}: {best.instance} is not a seed (a seed is in [0, 2^32): numpy takes no larger one)"
    if best.validator == "type" and best.validator_value == "integer":
        value = best.instance
        if isinstance(value, float):
            example = f", e.g. {int(value)}" if value.is_integer() else ""
            return f"config key {key}: {value!r} is not a whole number (write a count without a decimal point{example})"
        if isinstance(value, str):
            return (
                f"config key {key}: {value!r} is text, not a whole number (unquote it; a list or mapping "
                "that --config cannot type belongs in a --configfile)"
            )
    return None


# ----------------------------------------------------------------------------- config files


#: The most values a config file may stand for once its aliases (``*name``)
#: are expanded: a paper-scale config has a few thousand; a 1 kB "billion
#: laughs" file, 10^9 (Snakemake, the schema and the grid would walk them all).
MAX_VALUES = 1_000_000

#: libyaml's parser where PyYAML has it (ten times faster: a config of
#: 100,000 seeds is read in 0.3 s); a file it refuses is read again by the
#: pure-Python parser, whose messages say more.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _yaml_error(err: yaml.YAMLError, path) -> ConfigError:
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        hint = " (indent with spaces, not tabs)" if "\\t" in str(err.problem) else ""
        return ConfigError(f"config file {path}{where}: not valid YAML: {err.problem or err.context}{hint}")
    return ConfigError(f"config file {path}: not valid YAML: {str(err).splitlines()[0]}")


def check_config_file(path: str | Path, *, outline: bool = False) -> dict:
    """Read a config file once more, as Snakemake does not: a YAML error
    names the file and the line, a key given twice (where YAML lets the
    last one win without a word) is refused, and so is a file whose aliases
    stand for more than MAX_VALUES values or refer to themselves. Every node
    is visited once, aliases are not expanded: linear in the file's size.
    Returns the config; ``outline``: its outline only (see _outline)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text, object_pairs_hook=lambda pairs: _unique_json(pairs, path))
    except json.JSONDecodeError:
        pass  # YAML, like Snakemake reads it after JSON
    for kind in dict.fromkeys((_FAST_LOADER, yaml.SafeLoader)):
        loader = kind(text)
        try:
            node = loader.get_single_node()
            break
        except yaml.YAMLError as err:
            if kind is yaml.SafeLoader:
                raise _yaml_error(err, path) from None
        finally:
            loader.dispose()
    if node is None:
        return {}
    _check_nodes(node, path)
    return (_outline(loader, node, {}) if outline else loader.construct_document(node)) or {}


def _outline(loader, node: yaml.Node, memo: dict):
    """What a YAML node stands for, enough to size its grid (check_grid_size)
    in a moment: mappings and their scalars as YAML reads them, but a
    sequence's scalars as None (100,000 seeds are a list of 100,000, not
    100,000 numbers read one by one)."""
    if id(node) in memo:
        return memo[id(node)]
    if isinstance(node, yaml.MappingNode):
        out = memo[id(node)] = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                out[loader.construct_object(k)] = _outline(loader, v, memo)
        return out
    if isinstance(node, yaml.SequenceNode):
        out = memo[id(node)] = [None if type(v) is yaml.ScalarNode else _outline(loader, v, memo) for v in node.value]
        return out
    return loader.construct_object(node)


def _unique_json(pairs: list, path) -> dict:
    keys = [k for k, _ in pairs]
    for k in keys:
        if keys.count(k) > 1:
            raise ConfigError(f"config key {k}: given twice in {path} (the last would silently win)")
    return dict(pairs)


def _check_nodes(root: yaml.Node, file) -> None:
    """Refuse a key given twice in a mapping, an alias that refers to a node
    holding it, and more than MAX_VALUES values once aliases are expanded.
    Each node is walked once (an alias's node is the node it names): its
    expanded size is remembered, not recomputed."""
    sizes: dict[int, int] = {}  # id(node) -> values it stands for; 0 while it is being walked

    def walk(node: yaml.Node, path: list) -> int:
        known = sizes.get(id(node))
        if known == 0:
            raise ConfigError(
                f"config key {_key(path)}: an alias refers to a node that holds it, in {file} "
                f"(line {node.start_mark.line + 1}; a config is a tree)"
            )
        if known is not None:
            return known
        sizes[id(node)] = 0
        size = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for k, v in node.value:
                name = k.value if isinstance(k, yaml.ScalarNode) else str(k.start_mark)
                # `<<: *anchor`: keys given beside it override it on purpose
                if k.tag != "tag:yaml.org,2002:merge":
                    line = k.start_mark.line + 1
                    if (k.tag, name) in seen:
                        raise ConfigError(
                            f"config key {_key(path + [name])}: given twice in {file} (lines "
                            f"{seen[(k.tag, name)]} and {line}; the last would silently win)"
                        )
                    seen[(k.tag, name)] = line
                size += walk(k, path + [name]) + (1 if type(v) is yaml.ScalarNode else walk(v, path + [name]))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                # a scalar is one value, wherever it is named: no walk (100,000 seeds are read in a moment)
                size += 1 if type(v) is yaml.ScalarNode else walk(v, path + [i])
        if size > MAX_VALUES:
            raise ConfigError(
                f"config key {_key(path)}: stands for more than {MAX_VALUES:,} values once its aliases are "
                f"expanded, in {file} (line {node.start_mark.line + 1}; a YAML alias bomb?)"
            )
        sizes[id(node)] = size
        return size

    walk(root, [])


def check_config_files(paths, given: dict | None = None) -> None:
    """Every config file Snakemake read (check_config_file), then the size of
    the grid they make with the ``given`` values (--config) over them
    (check_grid_size): for the default config.yaml, before Snakemake reads it."""
    merged: dict = {}
    for path in paths:
        _merge(merged, check_config_file(path, outline=True))
    _merge(merged, dict(given or {}))
    check_grid_size(merged)


def _merge(into: dict, new: dict) -> None:
    """``new`` over ``into``, mappings merged key by key (as Snakemake merges
    config files)."""
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def from_command_line(config: dict, given) -> None:
    """Type the values given with ``--config`` inside a list or a mapping.
    Snakemake types a top-level value (seeds=5 is 5) but reads a list or a
    mapping with YAML's base loader, so ``seeds=[5,6]`` arrives as
    ['5', '6']. Each such text is read as YAML once more, and becomes a
    number, true/false or null where it is one ("" stays ""); other text
    stays text. ``given``: the --config values; ``config``: the merged config,
    edited in place."""
    for key, value in dict(given or {}).items():
        if isinstance(value, (list, dict)) and key in config:
            config[key] = _retype(config[key], value)


def _retype(merged, given):
    if isinstance(given, dict) and isinstance(merged, dict):
        for k, v in given.items():
            if k in merged:
                merged[k] = _retype(merged[k], v)
        return merged
    if isinstance(given, list) and isinstance(merged, list) and len(given) == len(merged):
        return [_retype(m, g) for m, g in zip(merged, given)]
    if isinstance(given, str) and merged == given and given != "":
        try:
            value = yaml.safe_load(given)
        except yaml.YAMLError:
            return merged
        return value if value is None or isinstance(value, (bool, int, float)) else merged
    return merged
