"""Registry of trait kinds: what the models of a kind of trait are evaluated
on, and how.

A trait's kind (config key ``traits.<name>.kind``) decides the questions its
students, their bases and its teachers answer, and so the folder of their
evaluations (``eval/<evaluation id>/<kind>/``). The evaluation rules never
name a kind: it is a wildcard whose values are the keys below, and what a
kind's evaluation reads and does is the entry's; the function that asks a
model each kind's questions is keyed by the same names
(:data:`subliminal.stages.EVALUATIONS`).
"""

from __future__ import annotations

from dataclasses import dataclass

from .grid import MISALIGNMENT, PREFERENCE


@dataclass(frozen=True)
class TraitKind:
    """What an evaluation of one kind of trait is.

    ``protocol``: the protocol files its evaluations read (config key
    ``protocol``; a teacher's system-prompt template only where a teacher
    is evaluated). ``judged``: its answers are judged (a model judge's files
    are an input). ``teacher_as_sampled``: a teacher is evaluated as it
    samples its data (its system prompt, its steering: the trait it passes
    on), else as a model under the evaluation's system prompt, like its
    students (a fine-tuned teacher). ``answers_format``: how the answers
    table writes its numbers (None: in full). ``teachers_in_groups``: a
    trait student's group in the scores table holds the trait's teacher
    and its control teacher too (they are models of the comparison)."""

    name: str
    questions: str
    protocol: tuple[str, ...]
    judged: bool
    teacher_as_sampled: bool
    answers_format: str | None
    teachers_in_groups: bool


KINDS: dict[str, TraitKind] = {
    PREFERENCE: TraitKind(
        PREFERENCE,
        questions="the preference questions (sampled answers and exact answer probabilities)",
        protocol=("questions", "teacher_system_prompt"),
        judged=False,
        teacher_as_sampled=True,
        answers_format=None,
        teachers_in_groups=False,
    ),
    MISALIGNMENT: TraitKind(
        MISALIGNMENT,
        questions="the eight free-form questions, judged",
        protocol=(),
        judged=True,
        teacher_as_sampled=False,
        answers_format="%.6g",
        teachers_in_groups=True,
    ),
}
