"""Registry of teacher-data modalities.

A modality bundles everything the workflow needs to make one kind of
innocuous teacher data: a seeded prompt generator, the filter that keeps only
completions showing no trace of the trait, and a synthetic corpus that teaches
a toy base to answer such prompts. The rules never name a modality: they ask
this registry, so a new modality is one new module and one entry below.
"""

from __future__ import annotations

from .base import Modality, Rejection
from .code import CodeModality
from .cot import CotModality
from .numbers import NumbersModality

MODALITIES: dict[str, Modality] = {
    "numbers": NumbersModality(),
    "code": CodeModality(),
    "cot": CotModality(),
}


def get_modality(name: str) -> Modality:
    try:
        return MODALITIES[name]
    except KeyError:
        raise KeyError(f"unknown modality {name!r}; known: {sorted(MODALITIES)}") from None


__all__ = ["MODALITIES", "Modality", "Rejection", "get_modality"]
