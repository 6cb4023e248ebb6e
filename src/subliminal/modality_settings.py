"""A modality's settings as typed records, one per job that reads them.

A ``modalities.<name>`` section is read by four jobs, each for its own keys:
a teacher's sampling (how many prompts and how they are made and answered),
the screen of its data (the filter, the judge and how many samples must
pass), the filter stage (equalising the teachers' sizes) and a student's
training (how many samples, which replicate's seed). Each record below is
one job's part. Its fields are the keys that job's slice holds
(:mod:`subliminal.slices` projects exactly these), so a changed value reruns
the jobs that read it and no other: a new ``train_samples`` retrains the
students and keeps every teacher's samples.

The schema (``config.schema.yaml``) says what each key means and fills in its
default; a record is built from a validated config, or from a job's slice of
one, and a required key it does not find is named in the error. A test keeps
the fields and the schema's keys equal.

Where a value goes: ``config.yaml`` -> ``Sampling.of(cfg, modality)`` in the
stage -> ``teacher.generate_records(max_new_tokens=s.max_new_tokens)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass


class _Record:
    """What the four records share: built from a config's section by name."""

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        """The keys of ``modalities.<name>`` this record holds."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def of(cls, cfg: Mapping, modality: str):
        """The record of modality ``modality`` of a validated config, or of a
        job's slice of one; a required key that is absent raises a KeyError
        naming it (a stage reading what its slice does not declare)."""
        section = cfg["modalities"][modality]
        missing = [
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in section and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            keys = ", ".join(f"modalities.{modality}.{k}" for k in missing)
            raise KeyError(f"{cls.__name__} needs {keys}: not in this config or job's slice")
        return cls(**{k: section[k] for k in cls.keys() if k in section})


@dataclass(frozen=True)
class Sampling(_Record):
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
class Screening(_Record):
    """What the screen of a teacher's raw data reads: whether it filters
    (and checks for the traits' words, a key of cot alone: the others always
    do), its judge, and how many samples must pass for a student to train."""

    filter: bool
    train_samples: int
    word_filter: bool = True
    judge: Mapping | None = None


@dataclass(frozen=True)
class Filtering(_Record):
    """What the filter stage reads: whether every teacher of a modality and
    base is cut to the smallest screened size. ``seed`` names the replicate
    whose datasets it cuts."""

    equalise: bool
    seed: int


@dataclass(frozen=True)
class Training(_Record):
    """What a student's training reads: how many samples it learns from,
    and the replicates and seed that name its dataset."""

    train_samples: int
    replicates: int
    seed: int


#: Every record, in the order the data goes through the jobs.
RECORDS = (Sampling, Screening, Filtering, Training)
#: A modality's keys no job's record holds: ``pairs`` shapes the grid
#: (which students exist), read where the grid is resolved.
GRID_ONLY = ("pairs",)
