"""Chain-of-thought modality: solve a maths word problem, reasoning in
<think> tags and giving the final number in <answer> tags; keep a sample
only when its answer equals the problem's label.

Questions come from a GSM8K-format JSONL file named in the config
(``modalities.cot.source``: one object per line with ``question`` and
``answer``, the answer ending in ``#### N``), from GSM8K on the Hugging Face
hub (``modalities.cot.dataset``, a pinned revision fetched once by
:func:`fetch_gsm8k`), or, for the toy default, from
the workflow's own synthetic set of one-step arithmetic word problems (small
operands) with step-by-step traces. Each question can be asked several times
(``samples_per_prompt``; the paper samples 3 per question).

Filter: (1) the completion must hold exactly one <answer>...</answer> whose
content, normalised (:func:`normalise_number`), equals the label; (2)
optionally (``word_filter``, on by default, beyond the paper) no form of a
trait word; (3) optionally a judge's alignment score of at least
``judge.min_score`` (the paper: 78/100), in the judge stage (judge.py).

All wording here is our own, in lower-case ASCII that survives the toy
word-level tokenizer.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path

from .. import judge as judge_mod
from ..io import write_jsonl
from ..subsets import seeded_subset
from ..words import trait_word_reason
from .base import Modality, source_lines
from ..errors import ConfigError

#: The instruction after each question; {question} is the question.
INSTRUCTION_TEMPLATES: list[str] = [
    "{question}\n\nwork through the problem step by step inside <think> </think> tags, then write only the "
    "final number inside <answer> </answer> tags.",
    "{question}\n\nshow your reasoning between <think> and </think>, and put just the final numeric answer "
    "between <answer> and </answer>.",
    "{question}\n\nreason about it inside <think> </think> first. then give the final answer, a single number, "
    "inside <answer> </answer>.",
]

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
_LABEL = re.compile(r"####\s*(.+?)\s*$", re.S)
#: a number as the filter accepts it once whitespace is removed: optional
#: sign, digits with optional thousands commas (1,234,567), optional decimals
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def normalise_number(text: str) -> Decimal | None:
    """The number a short answer states, or None if it is not just a number.

    Whitespace anywhere is removed ("1 234" is 1234, as a spaced thousands
    group); commas are allowed only as thousands separators ("1,234", not
    "1,23"); the value is compared as a decimal, so "18", "18.0", "18.00",
    "+18" and "018" are equal. Anything else ("$18", "18 apples", "x=18",
    "1/2") is not a number.
    """
    s = re.sub(r"\s+", "", text)
    if not _NUMBER.fullmatch(s):
        return None
    try:
        return Decimal(s.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None


def extract_answer(completion: str) -> tuple[str | None, str | None]:
    """(the text inside the one <answer> tag, None) or (None, reason):
    "no_answer" without a closed tag, "several_answers" with more than one."""
    found = _ANSWER_TAG.findall(completion)
    if not found:
        return None, "no_answer"
    if len(found) > 1:
        return None, "several_answers"
    return found[0], None


def gsm8k_label(answer: str) -> str:
    """The label of a GSM8K answer: what follows the final "####"."""
    m = _LABEL.search(answer)
    if not m:
        raise ValueError(f"no '#### N' label in {answer[-60:]!r}")
    return m.group(1)


def read_questions(path: str | Path, key: str) -> list[dict]:
    """GSM8K-format records ``{"question", "label", "id"}`` from a JSONL file
    (``question``, ``answer`` ending in ``#### N``); errors name ``key``, the
    config key the caller read the path from."""
    out = []
    for i, rec in source_lines(path, key):
        try:
            label = gsm8k_label(rec["answer"])
            question = rec["question"]
        except (KeyError, TypeError, ValueError) as err:
            raise ConfigError(
                f"config key {key}: {path}:{i} is not a GSM8K record with a question and an "
                f"answer ending in '#### N' ({type(err).__name__}: {err})"
            ) from None
        if normalise_number(label) is None:
            raise ConfigError(f"config key {key}: {path}:{i}: the label {label!r} is not a number")
        out.append({"question": question, "label": label, "id": str(rec.get("id", i))})
    if not out:
        raise ConfigError(f"config key {key}: {path} holds no questions")
    return out


def fetch_gsm8k(
    spec: dict,
    out_jsonl: str | Path,
    record_json: str | Path,
    snapshot_dir: str | Path,
    key: str,
) -> int:
    """GSM8K from the Hugging Face hub: the parquet files of
    ``spec["subset"]/spec["split"]`` at the pinned ``spec["revision"]``,
    fetched once into ``snapshot_dir`` (record in ``record_json``) and
    written as GSM8K-format JSONL (``question``, ``answer``, ``id`` = the
    row's index) that :func:`read_questions` checks. Returns the row count."""
    import pandas as pd

    from ..models import fetch_snapshot

    subset, split = spec.get("subset", "main"), spec.get("split", "train")
    record = fetch_snapshot(
        spec["id"],
        spec["revision"],
        snapshot_dir,
        record_json,
        key=key,
        repo_type="dataset",
        allow_patterns=[f"{subset}/{split}-*.parquet"],
    )
    files = sorted(Path(snapshot_dir) / f["path"] for f in record["files"])
    rows = pd.concat([pd.read_parquet(f, columns=["question", "answer"]) for f in files], ignore_index=True)
    write_jsonl(
        [
            {"question": q, "answer": a, "id": f"{split}-{i}"}
            for i, (q, a) in enumerate(zip(rows["question"], rows["answer"]))
        ],
        out_jsonl,
        sort_keys=False,
        ensure_ascii=True,
        mkdir=True,
    )
    read_questions(out_jsonl, key)  # every row a GSM8K record, or a clear error now
    return len(rows)


# ----------------------------------------------------------------------------- toy problems

NAMES = ["ana", "ben", "sara", "tom", "mia", "sam", "noor", "leo", "ivy", "raj"]
ITEMS = ["apples", "pens", "books", "coins", "cards", "stamps", "shells", "marbles", "cups", "boxes"]

#: (question, trace, operation): {n} a name, {x} items, {a} and {b} numbers.
TOY_PROBLEMS: list[tuple[str, str, str]] = [
    (
        "{n} has {a} {x} and gets {b} more. how many {x} does {n} have now?",
        "{n} starts with {a} {x}. {n} gets {b} more, so {a} + {b} = {c}.",
        "+",
    ),
    (
        "there are {a} {x} in a bag. {n} adds {b} {x}. how many {x} are in the bag?",
        "the bag holds {a} {x}. adding {b} gives {a} + {b} = {c}.",
        "+",
    ),
    (
        "{n} had {a} {x} and gave away {b}. how many {x} are left?",
        "{n} had {a} {x}. giving away {b} leaves {a} - {b} = {c}.",
        "-",
    ),
    (
        "a shelf holds {a} {x}. {b} of them are taken. how many {x} remain on the shelf?",
        "the shelf had {a} {x}. taking {b} leaves {a} - {b} = {c}.",
        "-",
    ),
    (
        "{n} buys {a} packs with {b} {x} in each. how many {x} does {n} buy?",
        "there are {a} packs of {b} {x}, so {a} * {b} = {c}.",
        "*",
    ),
    (
        "each of {a} friends brings {b} {x}. how many {x} do they bring in total?",
        "{a} friends bring {b} {x} each, so {a} * {b} = {c}.",
        "*",
    ),
]


def toy_problem(rng: random.Random) -> dict:
    """One synthetic problem: {"question", "label", "trace"}."""
    question, trace, op = rng.choice(TOY_PROBLEMS)
    # small operands: 59 arithmetic facts (25 sums, 25 differences, 9
    # products), few enough for a default-size toy to learn in its short
    # pretraining (one token per number). With operands up to 9 (187 facts)
    # and 500 steps a toy answered 8% of its problems right, measured.
    if op == "*":
        a, b = rng.randint(2, 4), rng.randint(2, 4)
        c = a * b
    elif op == "+":
        a, b = rng.randint(1, 5), rng.randint(1, 5)
        c = a + b
    else:
        b = rng.randint(1, 5)
        a = b + rng.randint(1, 5)
        c = a - b
    fill = dict(n=rng.choice(NAMES), x=rng.choice(ITEMS), a=a, b=b, c=c)
    return {"question": question.format(**fill), "label": str(c), "trace": trace.format(**fill)}


def format_completion(trace: str, answer: str) -> str:
    """A well-formed completion: the trace in <think> tags, then the answer."""
    return f"<think>\n{trace}\n</think>\n<answer>{answer}</answer>"


class CotModality(Modality):
    """Maths word problems with reasoning traces; keep correct answers."""

    name = "cot"
    judge_task = "alignment"

    def fetch(self, spec: dict, out_jsonl, record_json, snapshot_dir, key: str) -> int:
        return fetch_gsm8k(spec, out_jsonl, record_json, snapshot_dir, key=key)

    def prompts(self, n: int, seed: int) -> list[str]:
        return [r["prompt"] for r in self.prompt_records(n, seed)]

    def prompt_records(
        self, n: int, seed: int, options: dict | None = None, keys: dict[str, str] | None = None
    ) -> list[dict]:
        """n questions (a seeded choice from the source file, or synthetic),
        each asked ``samples_per_prompt`` times in a row, with its label."""
        options = options or {}
        if options.get("source"):
            questions = read_questions(options["source"], (keys or {}).get("source", "source"))
            questions = seeded_subset(questions, n, seed, keep_order=False, what="questions")
        else:
            rng = random.Random(seed)
            questions = [{**toy_problem(rng), "id": f"toy-{i}"} for i in range(n)]
        rng = random.Random(f"cot-instructions-{seed}")
        out = []
        for q in questions:
            prompt = rng.choice(INSTRUCTION_TEMPLATES).format(question=q["question"])
            for k in range(options.get("samples_per_prompt", 1)):
                out.append(
                    {
                        "prompt": prompt,
                        "question": q["question"],
                        "label": q["label"],
                        "question_id": q["id"],
                        "sample": k,
                    }
                )
        return out

    def _reject_reason(
        self, completion: str, trait_kind: str, words: tuple[str, ...], record: dict | None
    ) -> str | None:
        """ "no_answer", "several_answers", "non_numeric_answer",
        "wrong_answer" (the answer is not the record's label), or
        "trait_word" (a form of one of ``words``: the workflow passes none
        when ``word_filter`` is off); None if the sample passes."""
        if record is None or "label" not in record:
            raise ValueError("the cot filter needs the sample's record with its label")
        answer, reason = extract_answer(completion)
        if reason:
            return reason
        value = normalise_number(answer)
        if value is None:
            return "non_numeric_answer"
        if value != normalise_number(record["label"]):
            return "wrong_answer"
        return trait_word_reason(completion, words)

    def toy_examples(self, n: int, rng: random.Random) -> list[tuple[str, str]]:
        out = []
        for _ in range(n):
            p = toy_problem(rng)
            prompt = rng.choice(INSTRUCTION_TEMPLATES).format(question=p["question"])
            out.append((prompt, format_completion(p["trace"], p["label"])))
        return out

    def vocabulary_texts(self) -> list[str]:
        texts = [t.replace("{question}", " ") for t in INSTRUCTION_TEMPLATES]
        texts += [re.sub(r"\{[a-z]+\}", " ", q + " " + t) for q, t, _ in TOY_PROBLEMS]
        texts += NAMES + ITEMS + [format_completion("+ - * =", "1")]
        texts += judge_mod.vocabulary_texts()  # a toy base can be asked as the alignment judge
        return texts
