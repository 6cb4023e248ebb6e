"""The interface every modality implements."""

from __future__ import annotations

import abc
import random
from dataclasses import dataclass
from pathlib import Path
from ..errors import ConfigError
from ..io import DataFileError, read_jsonl


@dataclass(frozen=True)
class Rejection:
    """Why the filter dropped a completion (a short machine-readable reason)."""

    reason: str


class Modality(abc.ABC):
    #: registry key, also used in result paths
    name: str

    #: what a model judge is asked about this modality's samples, if anything:
    #: None (no judge stage), "mentions" (does the sample refer to the trait?
    #: yes/no) or "alignment" (a 0..100 alignment score); see judge.py
    judge_task: str | None = None

    def fetch(self, spec: dict, out_jsonl, record_json, snapshot_dir, key: str) -> int:
        """Fetch the modality's hub ``dataset`` (``spec``) once, written as
        the JSONL its teachers read; the number of prompts. Only a modality
        with a hub dataset has one."""
        raise NotImplementedError(f"config key {key}: the {self.name} modality has no hub dataset")

    @abc.abstractmethod
    def prompts(self, n: int, seed: int) -> list[str]:
        """n user prompts, deterministic for a given seed."""

    def prompt_records(
        self, n: int, seed: int, options: dict | None = None, keys: dict[str, str] | None = None
    ) -> list[dict]:
        """n prompt records ``{"prompt": text, ...}``, deterministic for a seed.

        Extra keys (a task id, a reference ``label``) travel with the sample
        through raw.jsonl to the filter, which may use them. ``options`` holds
        what the modality's sampling settings say of its prompts (``source``,
        a prompt file; ``samples_per_prompt``; ``number_params``);
        ``keys`` the config key each option came from (``{"source":
        "modalities.code.source"}``), which an error about it names (else the
        option's own name): the modality does not know the config's layout.
        The default wraps :meth:`prompts`, so a modality whose prompts need no
        configuration implements that alone.
        """
        return [{"prompt": p} for p in self.prompts(n, seed)]

    def reject_reason(
        self,
        completion: str,
        trait_kind: str = "preference",
        *,
        words: tuple[str, ...] = (),
        record: dict | None = None,
    ) -> str | None:
        """None if the completion passes the filter, else a short reason string.

        ``words`` are the trait words no sample may mention (filters that
        look for the trait use them), ``record`` the sample's prompt record
        (filters that compare with a reference label use it). The one
        signature of every modality's filter, :meth:`_reject_reason`.
        """
        return self._reject_reason(completion, trait_kind, words, record)

    @abc.abstractmethod
    def _reject_reason(
        self, completion: str, trait_kind: str, words: tuple[str, ...], record: dict | None
    ) -> str | None:
        """The modality's filter: :meth:`reject_reason`, every argument given."""

    @abc.abstractmethod
    def toy_examples(self, n: int, rng: random.Random) -> list[tuple[str, str]]:
        """(user prompt, assistant answer) pairs that teach a toy base the task."""

    @abc.abstractmethod
    def vocabulary_texts(self) -> list[str]:
        """Texts whose words a toy word-level tokenizer must know (all templates)."""


def source_lines(path: str | Path, key: str) -> list[tuple[int, object]]:
    """(line number, parsed JSON) for every non-blank line of a prompt-source
    file (:func:`subliminal.io.read_jsonl`), which the modality checks
    itself; a missing file or a line that is not JSON is a ConfigError
    naming ``key``, the config key the caller read the path from."""
    try:
        return read_jsonl(path, numbered=True)
    except DataFileError as err:
        raise ConfigError(f"config key {key}: {err}") from None
