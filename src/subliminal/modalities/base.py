"""The interface every modality implements."""
from __future__ import annotations

import abc
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Rejection:
    """Why the filter dropped a completion (a short machine-readable reason)."""

    reason: str


class Modality(abc.ABC):
    #: registry key, also used in result paths
    name: str

    @abc.abstractmethod
    def prompts(self, n: int, seed: int) -> list[str]:
        """n user prompts, deterministic for a given seed."""

    @abc.abstractmethod
    def reject_reason(self, completion: str, trait_kind: str = "preference") -> str | None:
        """None if the completion passes the filter, else a short reason string."""

    @abc.abstractmethod
    def toy_examples(self, n: int, rng: random.Random) -> list[tuple[str, str]]:
        """(user prompt, assistant answer) pairs that teach a toy base the task."""

    @abc.abstractmethod
    def vocabulary_texts(self) -> list[str]:
        """Texts whose words a toy word-level tokenizer must know (all templates)."""
