"""A training recipe as a typed record: what TRL is told, built once.

The schema (``config.schema.yaml``, ``$defs.recipe``) says what each key
means and fills in its default when the config is validated; this record is
the validated recipe as training reads it: ``recipe.learning_rate`` goes to
``SFTConfig(learning_rate=...)``. A record is built complete or not at all:
a mapping without a key (one whose defaults were never filled in), or with a
key the record does not know, is refused with the keys named. A test keeps
the fields equal to the schema's keys.

Where a config value goes: ``config.yaml`` -> :func:`Recipe.of` on the
validated config (the job's slice) -> ``SFTConfig``/``LoraConfig`` in
:mod:`subliminal.train`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

#: Keys a recipe holds only when it uses them: LoRA's for a LoRA recipe, the
#: micro-batch cap and the attention kernel where they are set.
OPTIONAL = ("rank", "alpha", "targets", "max_device_batch", "attn_implementation")
#: A LoRA recipe's own keys, which the schema requires of it.
LORA = ("rank", "alpha", "targets")


@dataclass(frozen=True)
class Recipe:
    """One named recipe of ``recipes:`` (the schema describes every key)."""

    method: str  # lora | full
    epochs: float
    learning_rate: float
    batch_size: int
    dropout: float
    freeze_embeddings: bool
    max_steps: int
    scheduler: str
    warmup_steps: int
    grad_accum: int
    max_grad_norm: float
    weight_decay: float
    max_length: int
    bf16: bool
    gradient_checkpointing: bool
    logging_steps: int
    save_steps: int
    save_total_limit: int
    gpus: int
    dtype: str
    optimizer: str
    padding_free: bool
    use_liger_kernel: bool
    report_to: str
    rank: int | None = None
    alpha: float | None = None
    targets: tuple[str, ...] | None = None
    max_device_batch: int | None = None
    attn_implementation: str | None = None

    @classmethod
    def from_mapping(cls, given: Mapping, key: str = "recipe") -> Recipe:
        """The record of a complete recipe (``key``: where it came from, for
        the error): one with its defaults filled in, by validation or
        :func:`subliminal.config.recipe`."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - names)
        needed = [n for n in names if n not in OPTIONAL or (n in LORA and given.get("method") == "lora")]
        missing = sorted(n for n in needed if n not in given)
        problems = [f"unknown keys {', '.join(unknown)}"] if unknown else []
        if missing:
            problems.append(
                f"no {', '.join(missing)} (a recipe without its defaults: take it from a validated config, "
                "or make it with subliminal.config.recipe())"
            )
        if problems:
            raise ValueError(f"{key}: " + "; ".join(problems))
        values = dict(given)
        if values.get("targets") is not None:
            values["targets"] = tuple(values["targets"])
        return cls(**values)

    @classmethod
    def of(cls, cfg: Mapping, name: str) -> Recipe:
        """Recipe ``name`` of a validated config (or a job's slice of one)."""
        return cls.from_mapping(cfg["recipes"][name], key=f"config key recipes.{name}")

    def as_dict(self) -> dict:
        """The recipe as the config holds it (the keys it sets; ``targets`` a
        list): what provenance records and a checkpoint's fingerprint hashes."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in OPTIONAL:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def replace(self, **changes) -> Recipe:
        """A copy with ``changes`` (a test's or a benchmark's variant)."""
        return dataclasses.replace(self, **changes)

    @property
    def lora(self) -> bool:
        return self.method == "lora"

    @property
    def effective_batch(self) -> int:
        """Examples per optimizer step, as the recipe states it: batch_size x grad_accum."""
        return self.batch_size * self.grad_accum

    @property
    def device_batch(self) -> int:
        """The largest micro-batch one device runs."""
        return self.max_device_batch or self.batch_size
