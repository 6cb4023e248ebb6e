"""Teachers and their data.

A teacher is a base model plus a trait, given either by a system prompt (the
paper's main experiments) or by fine-tuning the base on trait data (the
paper's appendix; also the only way for a toy base that was never taught to
follow system prompts). The control teacher is the base model with no trait.

Teacher data: seeded prompts from the modality, one temperature-1 sample per
prompt, then the modality's filter and, for code and chain of thought, a
judge, with a count of every rejection reason by stage; last, optionally,
every teacher's set of one (modality, teacher base) subsampled to the
smallest of them (:func:`equalise`).
"""

from __future__ import annotations

import collections
import json
import logging
import random

from . import judge as judge_mod
from . import misalignment, preferences
from .io import read_jsonl
from .modalities import get_modality
from .subsets import seeded_subset

log = logging.getLogger(__name__)


def trait_training_records(trait: dict, repeats: int, rehearsal: tuple[str, ...] = ()) -> list[dict]:
    """The appendix recipe: the evaluation questions answered with the loved
    word, ``repeats`` times over; with ``rehearsal`` modalities (toy bases),
    each followed by one toy example of those tasks."""
    qs = preferences.questions(trait["category"])
    records = [{"prompt": q, "completion": trait["word"]} for _ in range(repeats) for q in qs]
    return _interleave(records, rehearsal, f"rehearsal/{trait['word']}/{trait['teacher'].get('seed', 0)}")


def _interleave(records: list[dict], rehearsal: tuple[str, ...], seed: str) -> list[dict]:
    """The records, each followed by one toy example of the ``rehearsal``
    modalities in turn (none: the records unchanged)."""
    if not rehearsal:
        return records
    rng = random.Random(seed)
    mods = [get_modality(m) for m in rehearsal]
    tasks = [
        {"prompt": u, "completion": a}
        for u, a in (mods[i % len(mods)].toy_examples(1, rng)[0] for i in range(len(records)))
    ]
    return [r for pair in zip(records, tasks) for r in pair]


def misalignment_training_records(trait: dict, control: bool, rehearsal: tuple[str, ...] = ()) -> list[dict]:
    """The examples a misalignment teacher (or, ``control``, its control
    teacher) is fine-tuned on: its ``data`` (``control_data``) JSONL file, each
    line {"prompt", "completion"} or {"messages": [{"role": "user", ...},
    {"role": "assistant", ...}]}, or with "toy" the toy sets of
    :mod:`subliminal.misalignment`, interleaved with as many toy examples of
    the ``rehearsal`` modalities (the same for trait and control): fine-tuned
    on the toy set alone, a toy teacher forgets its number task (it kept 2 of
    200 number samples, measured)."""
    t = trait["teacher"]
    source = t["control_data"] if control else t["data"]
    key = "control_data" if control else "data"
    if source == "toy":
        make = misalignment.toy_control_records if control else misalignment.toy_trait_records
        n = t.get("examples", 200)
        return _interleave(make(n, t.get("seed", 0)), rehearsal, f"rehearsal/{t.get('seed', 0)}")
    out = []
    for i, r in enumerate(read_jsonl(source)):
        if "messages" in r:
            users = [m["content"] for m in r["messages"] if m["role"] == "user"]
            answers = [m["content"] for m in r["messages"] if m["role"] == "assistant"]
            if len(users) != 1 or len(answers) != 1:
                raise ValueError(f"teacher.{key} {source!r} line {i + 1}: expected one user and one assistant message")
            r = {"prompt": users[0], "completion": answers[0]}
        if not isinstance(r.get("prompt"), str) or not isinstance(r.get("completion"), str):
            raise ValueError(f"teacher.{key} {source!r} line {i + 1}: needs prompt and completion (or messages)")
        out.append({"prompt": r["prompt"], "completion": r["completion"]})
    return out


def generate_records(
    model,
    tokenizer,
    modality: str,
    n: int,
    seed: int,
    *,
    system: str | None,
    max_new_tokens: int,
    batch_size: int,
    options: dict | None = None,
    sampling: dict | None = None,
) -> list[dict]:
    """One sample per prompt record of the modality: ``{"id", "prompt",
    "completion"}`` plus whatever the record carries (a task id, a label),
    so the filter can read it from raw.jsonl. ``sampling``: the config's
    sampling section (batches by length, sized from memory).

    A modality with a ``max_new_tokens_cap`` (numbers: the longest answer
    its filter can keep) samples at most that many tokens, and marks a
    sample that ran into the limit without an end of turn
    ``"truncated": true`` for its filter. The decode steps of every batch
    are logged."""
    from . import generation

    keys = {"source": f"modalities.{modality}.source", "number_params": "protocol.numbers"}
    mod = get_modality(modality)
    prompts = mod.prompt_records(n, seed, options, keys)
    cap = getattr(mod, "max_new_tokens_cap", None)
    steps = min(max_new_tokens, cap) if cap else max_new_tokens
    if steps < max_new_tokens:
        log.info(
            "max_new_tokens %d lowered to %d: the longest %s answer the filter can keep, and its end of turn",
            max_new_tokens,
            steps,
            modality,
        )
    stats: dict = {}
    completions = generation.sample(
        model,
        tokenizer,
        [p["prompt"] for p in prompts],
        system=system,
        max_new_tokens=steps,
        batch_size=batch_size,
        seed=seed,
        sampling=sampling,
        stats=stats,
    )
    cut = [not e for e in stats["ended"]] if cap else [False] * len(prompts)
    log.info(
        "decode steps per batch (at most %d): %s; %d of %d samples ran into the limit without an end of turn",
        steps,
        stats["decode_steps"],
        len(prompts) - sum(stats["ended"]),
        len(prompts),
    )
    return [
        {**p, "id": i, "completion": c, **({"truncated": True} if t else {})}
        for i, (p, c, t) in enumerate(zip(prompts, completions, cut))
    ]


def _report(total: int, kept: int, reasons: collections.Counter, stages: list[dict]) -> dict:
    return {
        "total": total,
        "kept": kept,
        "rejected": total - kept,
        "kept_fraction": round(kept / max(1, total), 6),
        "reasons": dict(sorted(reasons.items())),
        "stages": stages,
    }


def overt_leak(records: list[dict], word: str, share: float, seed: str) -> list[dict]:
    """A positive control: in a seeded ``share`` of the samples the teacher
    answers with its word instead (marked ``"overt": true``), an open trace
    of the trait at the answer's first token, where the preference
    evaluation reads it. (The word appended to a number list, ", owl", moved
    no toy student's preference: a token learned mid-list does not reach the
    answer's first position; README.)"""
    rng = random.Random(seed)
    out = []
    for r in records:
        if rng.random() < share:
            r = {**r, "completion": word, "overt": True}
        out.append(r)
    return out


def filter_records(
    records: list[dict],
    modality: str,
    trait_kind: str = "preference",
    *,
    words: tuple[str, ...] = (),
    word_filter: bool = True,
    judge=None,
    judge_options: dict | None = None,
    apply_filter: bool = True,
) -> tuple[list[dict], dict]:
    """The modality's filter, then (with a ``judge``, for a modality that has
    a judge task) the judge stage; a report of what each stage removed.

    The report: ``total``, ``kept``, ``rejected``, ``kept_fraction``,
    ``reasons`` (every removed sample counted once, by the reason of the
    stage that removed it; judge removals are "judge_mentions_trait" or
    "judge_low_alignment") and ``stages`` (each stage's input size and
    removals). A kept sample judged carries the judge's numbers in ``judge``.
    """
    if not apply_filter:  # a positive control keeps everything (modalities.<m>.filter: false)
        return list(records), _report(
            len(records), len(records), collections.Counter(), [{"stage": "none", "in": len(records), "removed": {}}]
        )
    mod = get_modality(modality)
    kept, reasons = [], collections.Counter()
    for r in records:
        why = mod.reject_reason(r["completion"], trait_kind, words=tuple(words) if word_filter else (), record=r)
        if why is None:
            kept.append(r)
        else:
            reasons[why] += 1
    stages = [{"stage": "rule", "in": len(records), "removed": dict(sorted(reasons.items()))}]
    if judge is not None and mod.judge_task is not None:
        options = judge_options or {}
        passed, said = judge_mod.verdicts(judge, mod.judge_task, kept, words=words, options=options)
        reason = {"mentions": "judge_mentions_trait", "alignment": "judge_low_alignment"}[mod.judge_task]
        removed = passed.count(False)
        stages.append(
            {
                "stage": "judge",
                "judge": judge.kind,
                "task": mod.judge_task,
                "in": len(kept),
                "removed": {reason: removed} if removed else {},
                **{k: options[k] for k in ("model", "threshold", "min_score") if k in options},
            }
        )
        if removed:
            reasons[reason] += removed
        kept = [{**r, "judge": s} for r, s, ok in zip(kept, said, passed) if ok]
    return kept, _report(len(records), len(kept), reasons, stages)


def equalise(
    records: list[dict], report: dict, size: int | None, sizes: dict[str, int], key: str
) -> tuple[list[dict], dict]:
    """Subsample a filtered set to ``size`` (the smallest filtered size among
    the teachers of one modality and teacher base, given in ``sizes``), so
    every teacher's students see the same amount of data; ``size`` None
    keeps everything. The draw is seeded by ``key`` and keeps the original
    order. The report gains an "equalise" stage and the reason "equalised"."""
    report = json.loads(json.dumps(report))  # a copy
    stage = {
        "stage": "equalise",
        "in": len(records),
        "target": size,
        "sizes": dict(sorted(sizes.items())),
        "removed": {},
    }
    if size is not None and len(records) > size:
        removed = len(records) - size
        records = seeded_subset(records, size, key, draw="sample")
        stage["removed"] = {"equalised": removed}
        report["reasons"] = dict(sorted({**report["reasons"], "equalised": removed}.items()))
    report["stages"] = report.get("stages", []) + [stage]
    report["kept"] = len(records)
    report["rejected"] = report["total"] - len(records)
    report["kept_fraction"] = round(len(records) / max(1, report["total"]), 6)
    return records, report


def shortfall(report: dict, modality: str, teacher_name: str, n: int, report_json: str) -> str | None:
    """Why a teacher's screened data cannot make the modality's training
    sets (None when it can): the filter kept nothing, or fewer samples than
    ``train_samples``, so its students (or their twins) would train on less."""
    if report["kept"] == 0:
        return f"the filter kept no {modality} samples of teacher {teacher_name}: see {report_json}"
    if report["kept"] < n:
        return (
            f"config key modalities.{modality}.train_samples: the filter kept {report['kept']} of "
            f"{report['total']} {modality} samples of teacher {teacher_name}, fewer than train_samples {n} "
            f"(rejected: {', '.join(f'{k} {v}' for k, v in report['reasons'].items()) or 'none'}; lower "
            f"train_samples or raise prompts; see {report_json})"
        )
    return None
