"""Teachers and their data.

A teacher is a base model plus a trait, given either by a system prompt (the
paper's main experiments) or by fine-tuning the base on trait data (the
paper's appendix; also the only way for a toy base that was never taught to
follow system prompts). The control teacher is the base model with no trait.

Teacher data: seeded prompts from the modality, one temperature-1 sample per
prompt, then the modality's filter, with a count of every rejection reason.
"""
from __future__ import annotations

import collections
import json
import logging
from pathlib import Path

from . import preferences
from .modalities import get_modality

log = logging.getLogger(__name__)


def trait_training_records(trait: dict, repeats: int) -> list[dict]:
    """The appendix recipe: the evaluation questions answered with the loved
    word, ``repeats`` times over."""
    qs = preferences.questions(trait["category"])
    return [{"prompt": q, "completion": trait["word"]} for _ in range(repeats) for q in qs]


def teacher_system_prompt(trait: dict | None, default: str | None) -> str | None:
    """The system prompt the teacher samples with: the trait prompt for a
    system-prompt teacher, else the configured default."""
    if trait is not None and trait["teacher"]["method"] == "system_prompt":
        return trait["teacher"].get("system_prompt") or preferences.trait_system_prompt(trait["word"], trait["category"])
    return default


def generate_records(model, tokenizer, modality: str, n: int, seed: int, *, system: str | None,
                     max_new_tokens: int, batch_size: int) -> list[dict]:
    from . import generation

    prompts = get_modality(modality).prompts(n, seed)
    completions = generation.sample(model, tokenizer, prompts, system=system, max_new_tokens=max_new_tokens,
                                    batch_size=batch_size, seed=seed)
    return [{"id": i, "prompt": p, "completion": c} for i, (p, c) in enumerate(zip(prompts, completions))]


def filter_records(records: list[dict], modality: str, trait_kind: str = "preference") -> tuple[list[dict], dict]:
    mod = get_modality(modality)
    kept, reasons = [], collections.Counter()
    for r in records:
        why = mod.reject_reason(r["completion"], trait_kind)
        if why is None:
            kept.append(r)
        else:
            reasons[why] += 1
    report = {
        "total": len(records),
        "kept": len(kept),
        "rejected": len(records) - len(kept),
        "kept_fraction": round(len(kept) / max(1, len(records)), 6),
        "reasons": dict(sorted(reasons.items())),
    }
    return kept, report


def write_jsonl(records: list[dict], path: str | Path) -> None:
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
