"""The grid: what a validated config resolves to. Which teachers, datasets
and students exist, what each is (trait, role, method, the system prompt a
teacher samples with, the folder it is loaded from), and how each pair of
bases relates. Rules, stages and the analysis read these; nothing else
re-derives them. Paths: :mod:`subliminal.layout`.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

from . import preferences, protocol
from .layout import STUDENT, Layout

CONTROL = "control"
#: A misalignment trait's own control teacher is named <trait> + this.
CONTROL_SUFFIX = "_control"
MISALIGNMENT = "misalignment"
PREFERENCE = "preference"
#: The role of an evaluated model: an untrained base, a teacher (a trait's,
#: or a control teacher), a student of a trait's teacher or of a control.
BASE, TEACHER, CONTROL_TEACHER, TRAIT = "base", "teacher", "control_teacher", "trait"


@dataclass(frozen=True)
class Student:
    modality: str
    teacher_base: str
    teacher: str  # a trait name or CONTROL
    student_base: str
    recipe: str
    seed: int

    @property
    def fields(self) -> dict:
        return dict(
            modality=self.modality,
            teacher_base=self.teacher_base,
            teacher=self.teacher,
            student_base=self.student_base,
            recipe=self.recipe,
            seed=self.seed,
        )

    @property
    def path(self) -> str:
        """Its name, and its folder below students/."""
        return STUDENT.format(**self.fields)

    def twin(self, teacher: str) -> Student:
        """The same student of another teacher (its control twin)."""
        return Student(self.modality, self.teacher_base, teacher, self.student_base, self.recipe, self.seed)

    @property
    def role(self) -> str:
        return CONTROL if is_control(self.teacher) else TRAIT


def is_control(teacher: str) -> bool:
    """The shared control teacher, or a misalignment trait's own."""
    return teacher == CONTROL or teacher.endswith(CONTROL_SUFFIX)


def misalignment_traits(config: dict) -> list[str]:
    return sorted(n for n, t in config["traits"].items() if t.get("kind") == MISALIGNMENT)


def preference_traits(config: dict) -> list[str]:
    return sorted(n for n, t in config["traits"].items() if t["kind"] != MISALIGNMENT)


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
    return PREFERENCE if trait is None else config["traits"][trait]["kind"]


def teacher_names(config: dict) -> list[str]:
    """Every teacher: the traits, the control teachers of misalignment traits,
    and the shared control (when a preference trait needs it)."""
    mis = misalignment_traits(config)
    return (
        sorted(config["traits"]) + [t + CONTROL_SUFFIX for t in mis] + ([CONTROL] if preference_traits(config) else [])
    )


def teacher_bases(config: dict, modality: str | None = None) -> list[str]:
    """The teacher bases of the study's pairs (or of one modality's pairs)."""
    return sorted({t for t, _ in pairs(config, modality)})


def student_bases(config: dict) -> list[str]:
    return sorted({s for _, s in pairs(config)})


def expand_pairs(entries: list[dict]) -> list[tuple[str, str]]:
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
    return expand_pairs(own if own is not None else config["pairs"])


SAME_BASE, SAME_ARCHITECTURE, DIFFERENT_ARCHITECTURE, DIFFERENT_BASE = (
    "same_base",
    "same_architecture",
    "different_architecture",
    "different_base",
)


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
    return {(p.teacher_base, p.student_base): p.relation for p in study_pairs(config)}


def datasets(config: dict) -> list[tuple[str, str, str]]:
    """Every (modality, teacher base, teacher) dataset: each generated once,
    whatever the number of students that learn from it."""
    return [
        (m, b, t) for m in sorted(config["modalities"]) for b in teacher_bases(config, m) for t in teacher_names(config)
    ]


def students(config: dict) -> list[Student]:
    """Every student: each trait student has a control twin (same pair,
    modality, recipe, seed) trained on the control teacher's data; one control
    student serves every trait."""
    out = []
    for modality in sorted(config["modalities"]):
        for (tb, sb), recipe, seed, teacher in itertools.product(
            pairs(config, modality),
            config["students"]["recipes"],
            config["seeds"],
            teacher_names(config),
        ):
            out.append(Student(modality, tb, teacher, sb, recipe, int(seed)))
    return out


#: The columns every evaluation table opens with: which evaluation, which
#: model, and where that model sits in the design. A base's pair, teacher,
#: modality and recipe are empty and its seed and replicate -1; a teacher's
#: student base, modality and recipe are empty.
IDENTITY = (
    "evaluation",
    "model",
    "role",
    "teacher_base",
    "student_base",
    "teacher",
    "modality",
    "recipe",
    "seed",
    "replicate",
)


@dataclass(frozen=True)
class Evaluated:
    """A model the workflow evaluates, as its evaluation table names it
    (:data:`IDENTITY`): ``model`` is its name (``base/<base>``,
    ``teacher/<base>/<teacher>`` or the student's path), ``role`` one of
    base, teacher, control_teacher, trait, control."""

    model: str
    role: str
    teacher_base: str = ""
    student_base: str = ""
    teacher: str = ""
    modality: str = ""
    recipe: str = ""
    seed: int = -1
    replicate: int = -1

    @property
    def student(self) -> Student | None:
        """The student it is (None: a base or a teacher)."""
        fields = (self.modality, self.teacher_base, self.teacher, self.student_base, self.recipe, self.seed)
        return Student(*fields) if self.modality else None

    def identity(self, evaluation: str) -> dict:
        """Its identity columns in the evaluation ``evaluation`` (its id)."""
        return {"evaluation": evaluation, **{k: getattr(self, k) for k in IDENTITY[1:]}}


def evaluated_base(base: str) -> Evaluated:
    return Evaluated(f"{BASE}/{base}", BASE, student_base=base)


def evaluated_teacher(base: str, teacher: str) -> Evaluated:
    role = CONTROL_TEACHER if is_control(teacher) else TEACHER
    return Evaluated(f"{TEACHER}/{base}/{teacher}", role, teacher_base=base, teacher=teacher)


def evaluated_student(config: dict, s: Student) -> Evaluated:
    return Evaluated(s.path, s.role, **s.fields, replicate=replicate_of(config, s))


def evaluated(config: dict, kind: str) -> list[Evaluated]:
    """Every model evaluated on one kind of trait (preference, misalignment):
    the students of its traits (and their controls), their untrained student
    bases, and the teachers of its datasets on each teacher base."""
    studs = [s for s in students(config) if trait_kind(config, s.teacher) == kind]
    out = [evaluated_base(b) for b in sorted({s.student_base for s in studs})]
    out += [evaluated_student(config, s) for s in studs]
    teachers = sorted({(b, t) for _, b, t in datasets(config) if trait_kind(config, t) == kind})
    return out + [evaluated_teacher(b, t) for b, t in teachers]


def n_replicates(config: dict, modality: str) -> int:
    """How many independently seeded datasets each teacher writes for a modality."""
    return config["modalities"][modality]["replicates"]


def replicate_of(config: dict, student: Student) -> int:
    """The teacher-data replicate a student learns from: its seed mod R (its
    control twin has the same seed, so it reads the control teacher's
    replicate of the same index)."""
    return student.seed % n_replicates(config, student.modality)


def replicate_seed(config: dict, modality: str, replicate: int) -> int:
    """The seed of a replicate's prompt set and sampling: the modality's seed
    for replicate 0 (a study without replicates is unchanged), a seed derived
    from it and the replicate's index otherwise."""
    seed = config["modalities"][modality]["seed"]
    if replicate == 0:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}/replicate/{replicate}".encode()).digest()[:4], "big")


@dataclass(frozen=True)
class Dataset:
    """One teacher's data of one replicate: sampled once, screened once, made
    a training set once; ``seed`` seeds its prompt set and sampling."""

    modality: str
    teacher_base: str
    teacher: str
    replicate: int
    seed: int

    @property
    def fields(self) -> dict:
        return dict(
            modality=self.modality, teacher_base=self.teacher_base, teacher=self.teacher, replicate=self.replicate
        )


def teacher_datasets(config: dict) -> list[Dataset]:
    """Every (modality, teacher base, teacher, replicate): what sample_teacher makes."""
    return [dataset(config, m, b, t, r) for m, b, t in datasets(config) for r in range(n_replicates(config, m))]


def dataset(config: dict, modality: str, base: str, teacher: str, replicate: int) -> Dataset:
    return Dataset(modality, base, teacher, replicate, replicate_seed(config, modality, replicate))


def student_dataset(config: dict, student: Student) -> Dataset:
    """The dataset a student learns from: its teacher's, of the replicate its seed picks."""
    return dataset(config, student.modality, student.teacher_base, student.teacher, replicate_of(config, student))


@dataclass(frozen=True)
class Teacher:
    """A teacher on one base: which trait it holds (None: the shared
    control), its role (trait or control), its trait's kind, how it holds it
    (control: the base itself; system_prompt; finetune; steering), the system
    prompt it samples and is evaluated with, the folder its weights are
    loaded from, and the files the workflow makes for it (a fine-tuned
    model, a steering vector)."""

    base: str
    name: str
    trait: str | None
    role: str
    kind: str
    method: str
    system_prompt: str | None
    model_dir: str
    steering: str | None

    @property
    def made(self) -> list[str]:
        """The files a job that loads this teacher waits for."""
        out = [self.model_dir] if self.method == "finetune" else []
        return out + ([self.steering] if self.steering else [])


def teacher(config: dict, base: str, name: str) -> Teacher:
    """What the teacher ``name`` (a trait, a misalignment trait's control, or
    the shared control) on ``base`` is."""
    trait, role = teacher_trait(config, name)
    spec = None if trait is None else config["traits"][trait]
    method = teacher_method(config, name)
    layout = Layout(config["results"])  # no evaluation path: no evaluation id
    return Teacher(
        base=base,
        name=name,
        trait=trait,
        role=role,
        kind=trait_kind(config, name),
        method=method,
        system_prompt=preferences.teacher_system_prompt(
            spec, config["chat"]["teacher_system_prompt"], protocol.teacher_template(config)
        ),
        model_dir=layout.teacher("model", base, name) if method == "finetune" else model_source(config, base),
        steering=layout.teacher("steering.safetensors", base, name) if method == "steering" else None,
    )


@dataclass(frozen=True)
class Pair:
    """A teacher base and a student base, and how they relate."""

    teacher_base: str
    student_base: str
    relation: str

    @property
    def matched(self) -> bool:
        return self.relation == SAME_BASE


def study_pairs(config: dict) -> list[Pair]:
    return [Pair(t, s, relation(config, t, s)) for t, s in pairs(config)]


def teacher_method(config: dict, teacher: str) -> str:
    """How a teacher holds its trait: "control" (the base itself),
    "system_prompt", "finetune" (a misalignment trait's control teacher too)
    or "steering"."""
    trait, _ = teacher_trait(config, teacher)
    return "control" if trait is None else config["traits"][trait]["teacher"]["method"]


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
        return Layout(config["results"]).prompts("questions.jsonl", modality)
    return mcfg.get("source")


def toy_recipe(config: dict, base: str) -> dict:
    """Everything a toy base is made from: its spec, the pretraining, the
    study's modalities (its tokenizer and corpus) and whether the study has a
    misalignment trait (its vocabulary). The build reads this, and the
    workflow declares it as the build's params, so a config edit rebuilds."""
    pretraining = {k: v for k, v in config["toy_pretraining"].items() if k != "tasks"}
    return {
        "spec": config["models"][base]["toy"],
        "pretraining": pretraining,
        "modalities": toy_tasks(config),
        "misalignment": bool(misalignment_traits(config)),
    }


def toy_tasks(config: dict) -> list[str]:
    """The tasks the toys are pretrained on: toy_pretraining.tasks, else the
    study's modalities."""
    return sorted(config["toy_pretraining"].get("tasks") or config["modalities"])


def model_source(config: dict, name: str) -> str:
    """Where a base model is loaded from: the toy's build folder, the local
    copy of a hub model (made once by the fetch_base rule: no job loads from
    the hub), or a local path."""
    spec = config["models"][name]
    if "path" in spec:
        return spec["path"]
    return Layout(config["results"]).base_model(name)


def base_record(config: dict, name: str) -> dict:
    """What a base model is, for provenance records: its kind and spec (hub
    id and pinned revision, toy architecture and seed, or path)."""
    spec = config["models"][name]
    kind = next(k for k in ("toy", "hub", "path") if k in spec)
    return {
        "name": name,
        "kind": kind,
        **{k: v for k, v in spec.items() if k != kind},
        kind: dict(spec[kind]) if isinstance(spec[kind], dict) else spec[kind],
    }


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
