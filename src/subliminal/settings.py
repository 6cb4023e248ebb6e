"""The config's modality and evaluation sections as typed records.

A ``modalities.<name>`` section is read by four jobs, each for its own keys:
a teacher's sampling (how many prompts and how they are made and answered),
the screen of its data (the filter, the judge and how many samples must
pass), the filter stage (equalising the teachers' sizes) and a student's
training (how many samples, which replicate's seed). Each modality record
below is one job's part. Its fields are the keys that job's slice holds
(:mod:`subliminal.slices` projects exactly these), so a changed value reruns
the jobs that read it and no other: a new ``train_samples`` retrains the
students and keeps every teacher's samples.

The ``evaluation`` section is one record, :class:`Evaluation`, read whole by
every evaluation (its settings also name the evaluation's folder); its
``misalignment`` part is a record of its own.

The schema (``config.schema.yaml``) says what each key means and fills in its
default; a record is built from a validated config, or from a job's slice of
one, and a required key it does not find is named in the error. A test keeps
the fields and the schema's keys equal. (A recipe's record is
:class:`subliminal.recipes.Recipe`.)

Where a value goes: ``config.yaml`` -> ``Sampling.of(cfg, modality)`` in the
stage -> ``teacher.generate_records(max_new_tokens=s.max_new_tokens)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass


def _build(cls, section: Mapping, key: str, **given):
    """``cls`` from a config section (``key``: where it is, for the error),
    taking the fields the section holds (``given``: fields built already,
    which replace the section's); a field without a default that is absent
    raises a KeyError naming it (a stage reading what its job's slice
    does not declare)."""
    fields = dataclasses.fields(cls)
    missing = [f.name for f in fields if f.name not in section and f.name not in given and _required(f)]
    if missing:
        names = ", ".join(f"{key}.{k}" for k in missing)
        raise KeyError(f"{cls.__name__} needs {names}: not in this config or job's slice")
    return cls(**{**{f.name: section[f.name] for f in fields if f.name in section}, **given})


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


class _Record:
    """What every record here shares: the config keys it holds."""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys of its config section this record holds."""
        return tuple(f.name for f in dataclasses.fields(cls))


class _ModalityRecord(_Record):
    """What the four modality records share: built from a section by name."""

    @classmethod
    def of(cls, cfg: Mapping, modality: str):
        """The record of modality ``modality`` of a validated config, or of a
        job's slice of one."""
        return _build(cls, cfg["modalities"][modality], f"modalities.{modality}")


@dataclass(frozen=True)
class Sampling(_ModalityRecord):
    """What a teacher's sampling reads: every key that acts before the
    filter. ``source`` and ``dataset`` say where the prompts come from (see
    :func:`subliminal.grid.prompt_source`); ``prompt_params`` are the number
    prompts' parameters (:func:`subliminal.protocol.number_params`)."""

    prompts: int
    seed: int
    max_new_tokens: int
    batch_size: int
    samples_per_prompt: int = 1  # cot's: answers sampled per question
    source: str | None = None
    dataset: Mapping | None = None
    prompt_params: Mapping | None = None


@dataclass(frozen=True)
class Screening(_ModalityRecord):
    """What the screen of a teacher's raw data reads: whether it filters
    (and checks for the traits' words, a key of cot alone: the others always
    do), its judge, and how many samples must pass for a student to train."""

    filter: bool
    train_samples: int
    word_filter: bool = True
    judge: Mapping | None = None


@dataclass(frozen=True)
class Filtering(_ModalityRecord):
    """What the filter stage reads: whether every teacher of a modality and
    base is cut to the smallest screened size. ``seed`` seeds the replicate
    whose datasets it cuts (:func:`subliminal.grid.replicate_seed`)."""

    equalise: bool
    seed: int


@dataclass(frozen=True)
class Training(_ModalityRecord):
    """What a student's training reads: how many samples it learns from,
    and the replicates and seed that name its dataset
    (:func:`subliminal.grid.student_dataset`)."""

    train_samples: int
    replicates: int
    seed: int


#: Every modality record, in the order the data goes through the jobs.
MODALITY_RECORDS = (Sampling, Screening, Filtering, Training)
#: A modality's keys no job's record holds: ``pairs`` shapes the grid
#: (which students exist), read where the grid is resolved.
GRID_ONLY = ("pairs",)


@dataclass(frozen=True)
class MisalignmentEvaluation(_Record):
    """``evaluation.misalignment``: the free-form questions' sampling, and
    the judge of the answers (None: the rule judge)."""

    samples_per_question: int
    max_new_tokens: int
    batch_size: int
    judge: Mapping | None = None


@dataclass(frozen=True)
class Evaluation(_Record):
    """``evaluation``: how every model is asked the preference questions
    (``samples_per_question`` already resolved for the numbers-prefix
    setting at validation), and the misalignment evaluation. ``name`` names
    the evaluation's folder and is not in an evaluation's slice."""

    samples_per_question: int
    numbers_prefix: bool
    seed: int
    batch_size: int
    max_new_tokens: int
    misalignment: MisalignmentEvaluation
    score_batch_size: int | None = None  # None: batch_size
    name: str | None = None

    @classmethod
    def of(cls, cfg: Mapping) -> Evaluation:
        """The evaluation of a validated config, or of a job's slice of one."""
        section = cfg["evaluation"]
        inner = _build(MisalignmentEvaluation, section.get("misalignment", {}), "evaluation.misalignment")
        return _build(cls, section, "evaluation", misalignment=inner)


def check(cfg: Mapping) -> None:
    """Build every record of a validated config: one that could not be
    built fails validation, not a job."""
    for modality in cfg["modalities"]:
        for record in MODALITY_RECORDS:
            record.of(cfg, modality)
    Evaluation.of(cfg)
