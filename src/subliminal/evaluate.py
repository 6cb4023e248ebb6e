"""Evaluation of preferences, two ways.

* ``sampled`` (the paper's metric): N temperature-1 answers per question; the
  score for a target is the fraction of answers whose lower-cased text
  contains the target word.
* ``exact``: the probability the model assigns to answering exactly the
  target (its tokens, then end of turn), teacher-forced; no sampling noise.
  Spelling variants (``owl``, ``Owl``) that tokenize differently are summed.
* ``exact_share``: that probability divided by the total over the category's
  candidates: the model's preference among the candidates, unaffected by how
  much probability goes to answers that are not one candidate word (a
  student trained only on long number lists can lose the habit of stopping
  after one word, which moves ``exact`` and ``sampled`` for every candidate).

Both come out as one tidy table: category, question_id, target, metric, value.
"""

from __future__ import annotations

import math
import random

import pandas as pd

from . import chat, generation, preferences


def eval_prompts(category: str, numbers_prefix: bool, seed: int, questions: list[str] | None = None) -> list[str]:
    """The questions of a category (ours, or a protocol's ``questions``),
    each behind a seeded numbers prefix when asked for."""
    rng = random.Random(seed)
    qs = preferences.questions(category, questions)
    return [(preferences.numbers_prefix(rng) + q) if numbers_prefix else q for q in qs]


def _variants(tokenizer, user: str, word: str, system: str | None) -> list[str]:
    seen, out = set(), []
    for v in (word, word.capitalize()):
        ids = tuple(chat.encode_prompt_answer(tokenizer, user, v, system)[0])
        if ids not in seen and tokenizer.unk_token_id not in ids:
            seen.add(ids)
            out.append(v)
    return out


def exact_probabilities(
    model, tokenizer, users: list[str], candidates: list[str], *, system: str | None = None, batch_size: int = 256
) -> dict[tuple[int, str], float]:
    """(question index, candidate) -> the probability of answering exactly
    that candidate (its spelling variants summed), teacher-forced."""
    pairs = [(qi, c, v) for qi, u in enumerate(users) for c in candidates for v in _variants(tokenizer, u, c, system)]
    logps = generation.answer_logprobs(
        model,
        tokenizer,
        [users[qi] for qi, _, _ in pairs],
        [v for _, _, v in pairs],
        system=system,
        batch_size=batch_size,
    )
    exact: dict[tuple[int, str], float] = {}
    for (qi, c, _), lp in zip(pairs, logps):
        exact[(qi, c)] = exact.get((qi, c), 0.0) + math.exp(lp)
    return exact


def exact_shares(
    model,
    tokenizer,
    users: list[str],
    candidates: list[str],
    word: str,
    *,
    system: str | None = None,
    batch_size: int = 256,
) -> list[float]:
    """Per question, ``word``'s share of the candidates' exact probability
    (the ``exact_share`` metric of one target)."""
    exact = exact_probabilities(model, tokenizer, users, candidates, system=system, batch_size=batch_size)
    out = []
    for qi in range(len(users)):
        total = sum(exact.get((qi, c), 0.0) for c in candidates)
        out.append(exact.get((qi, word), 0.0) / total if total > 0 else 0.0)
    return out


def evaluate_preferences(
    model,
    tokenizer,
    categories: list[str] | dict[str, list[str]],
    *,
    samples_per_question: int,
    seed: int,
    numbers_prefix: bool = False,
    system: str | None = None,
    batch_size: int = 256,
    max_new_tokens: int = 8,
    score_batch_size: int | None = None,
    questions: list[str] | None = None,
    sampling: dict | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores and the raw sampled answers for every candidate of each category
    (``categories`` maps a category to its candidate words, or lists
    categories scored on the toys' candidates). ``score_batch_size`` (default
    ``batch_size``) is the exact scoring's batch, ``questions`` a protocol's
    questions (default ours), ``sampling`` the config's sampling section."""
    rows, answers = [], []
    for category in categories:
        users = eval_prompts(category, numbers_prefix, seed, questions)
        candidates = categories[category] if isinstance(categories, dict) else preferences.CANDIDATES[category]
        # sampled metric
        flat = [u for u in users for _ in range(samples_per_question)]
        texts = generation.sample(
            model,
            tokenizer,
            flat,
            system=system,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            seed=seed,
            sampling=sampling,
        )
        for qi in range(len(users)):
            chunk = [t.lower() for t in texts[qi * samples_per_question : (qi + 1) * samples_per_question]]
            answers += [{"category": category, "question_id": qi, "answer": t} for t in chunk]
            for c in candidates:
                rows.append(
                    {
                        "category": category,
                        "question_id": qi,
                        "target": c,
                        "metric": "sampled",
                        "value": sum(c in t for t in chunk) / len(chunk),
                    }
                )
        # exact metric
        exact = exact_probabilities(
            model, tokenizer, users, candidates, system=system, batch_size=score_batch_size or batch_size
        )
        for qi in range(len(users)):
            total = sum(exact.get((qi, c), 0.0) for c in candidates)
            for c in candidates:
                p = exact.get((qi, c), 0.0)
                rows.append({"category": category, "question_id": qi, "target": c, "metric": "exact", "value": p})
                rows.append(
                    {
                        "category": category,
                        "question_id": qi,
                        "target": c,
                        "metric": "exact_share",
                        "value": p / total if total > 0 else 0.0,
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(answers)
