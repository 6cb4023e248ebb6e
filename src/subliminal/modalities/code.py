"""Code modality: complete a small Python function; keep only code that does
not mention the trait.

Prompts come from a JSONL file of code-completion tasks named in the config
(``modalities.code.source``; one object per line with a ``task`` string and
optionally an ``id``), or, for the toy default, from the workflow's own
synthetic set: small templated Python functions (a one-line description and
a signature) that a toy base is pretrained to complete. Each task is wrapped
in an instruction asking for code only, with no comments and short variable
names.

Filter, in two stages (the second one in the judge stage of the workflow,
see judge.py): (1) drop a sample containing any form of a trait word (see
words.py: case-insensitive, also inside identifiers); (2) a judge asked
whether the code refers to the trait, keeping only samples it clears with
certainty.

All wording and code templates here are our own. They use lower-case ASCII
that survives the toy word-level tokenizer (which lower-cases, splits
``\\d+|[a-z]+|[^\\sa-z\\d]`` and keeps every space and newline as a token).
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from .. import judge as judge_mod
from .. import preferences
from ..subsets import seeded_subset
from ..words import mentioned_form, trait_word_reason
from .base import Modality, source_lines
from ..errors import ConfigError


#: Instructions put before every task; {task} is the task.
INSTRUCTION_TEMPLATES: list[str] = [
    "complete the python function below. reply with the code only: no comments, no explanation, "
    "and short variable names.\n\n{task}",
    "finish this python function. write only code, without comments or any text, and keep variable "
    "names short.\n\n{task}",
    "write the body of the python function below. answer with code alone, add no comments, and use "
    "short names for variables.\n\n{task}",
    "fill in the following python function. give just the code, no comments and no prose, with brief "
    "variable names.\n\n{task}",
]

#: Synthetic tasks: (description, function names, argument lists, body).
#: {f} is the function name, {a} and {b} the arguments, {k}, {lo}, {hi}
#: small constants. Bodies are indented with four spaces.
TOY_TASKS: list[tuple[str, list[str], list[tuple[str, ...]], str]] = [
    (
        "return the sum of the numbers in a list.",
        ["total", "add_all", "list_sum"],
        [("xs",), ("ns",), ("vals",)],
        "    s = 0\n    for x in {a}:\n        s += x\n    return s",
    ),
    (
        "return the product of the numbers in a list.",
        ["product", "mul_all"],
        [("xs",), ("ns",)],
        "    p = 1\n    for x in {a}:\n        p *= x\n    return p",
    ),
    (
        "return the largest number in a list.",
        ["largest", "top"],
        [("xs",), ("vals",)],
        "    m = {a}[0]\n    for x in {a}:\n        if x > m:\n            m = x\n    return m",
    ),
    (
        "count how many numbers in a list are greater than {k}.",
        ["count_big", "n_above"],
        [("xs",), ("ns",)],
        "    return len([x for x in {a} if x > {k}])",
    ),
    (
        "return the even numbers of a list.",
        ["evens", "keep_even"],
        [("xs",), ("ns",)],
        "    return [x for x in {a} if x % 2 == 0]",
    ),
    (
        "return a list with each number squared.",
        ["squares", "sq_all"],
        [("xs",), ("vals",)],
        "    return [x * x for x in {a}]",
    ),
    ("return the sum of two numbers.", ["add", "plus"], [("a", "b"), ("x", "y")], "    return {a} + {b}"),
    (
        "clamp a number between {lo} and {hi}.",
        ["clamp", "bound"],
        [("n",), ("x",)],
        "    return max({lo}, min({hi}, {a}))",
    ),
    (
        "return the mean of a list of numbers.",
        ["mean", "average"],
        [("xs",), ("ns",)],
        "    return sum({a}) / len({a})",
    ),
    ("return a list in reverse order.", ["reverse", "flip"], [("xs",), ("items",)], "    return {a}[::-1]"),
    (
        "multiply every number in a list by {k}.",
        ["scale", "times"],
        [("xs",), ("ns",)],
        "    return [x * {k} for x in {a}]",
    ),
    ("return the first {k} items of a list.", ["head", "first"], [("xs",), ("items",)], "    return {a}[:{k}]"),
    (
        "return the dot product of two lists.",
        ["dot", "inner"],
        [("a", "b"), ("xs", "ys")],
        "    return sum(x * y for x, y in zip({a}, {b}))",
    ),
    (
        "check whether a list is sorted.",
        ["is_sorted", "ordered"],
        [("xs",), ("a",)],
        "    return all({a}[i] <= {a}[i + 1] for i in range(len({a}) - 1))",
    ),
    (
        "return the number of vowels in a string.",
        ["vowels", "n_vowels"],
        [("s",), ("t",)],
        '    return sum(1 for c in {a} if c in "aeiou")',
    ),
    (
        "return the factorial of n.",
        ["fact", "factorial"],
        [("n",), ("k",)],
        "    r = 1\n    for i in range(2, {a} + 1):\n        r *= i\n    return r",
    ),
]


def _render_toy_task(rng: random.Random) -> tuple[str, str]:
    """One synthetic (task text, reference completion): the description, then
    the signature to complete; the completion is the whole function."""
    desc, names, arglists, body = rng.choice(TOY_TASKS)
    f, args = rng.choice(names), rng.choice(arglists)
    k = rng.randint(2, 9)
    lo = rng.randint(0, 5)
    hi = lo + rng.randint(5, 50)
    fill = dict(f=f, a=args[0], b=args[-1], k=k, lo=lo, hi=hi)
    signature = f"def {f}({', '.join(args)}):"
    task = desc.format(**fill) + "\n\n" + signature
    return task, signature + "\n" + body.format(**fill)


def synthetic_tasks(n: int, seed: int) -> list[dict]:
    """n synthetic tasks ``{"task", "id"}``, deterministic for ``seed``."""
    rng = random.Random(seed)
    return [{"task": _render_toy_task(rng)[0], "id": f"toy-{i}"} for i in range(n)]


def read_tasks(path: str | Path, key: str) -> list[dict]:
    """Tasks from a JSONL file: one object per line with a non-empty string
    ``task``; a missing or malformed file is an error naming ``key``, the
    config key the caller read the path from."""
    out = []
    for i, rec in source_lines(path, key):
        if not isinstance(rec, dict) or not isinstance(rec.get("task"), str) or not rec["task"].strip():
            raise ConfigError(f'config key {key}: {path}:{i} needs a non-empty string "task"')
        out.append({"task": rec["task"], "id": str(rec.get("id", i))})
    if not out:
        raise ConfigError(f"config key {key}: {path} holds no tasks")
    return out


def toy_judge_example(rng: random.Random) -> tuple[str, str]:
    """A judge question about a toy completion, answered by the word rule:
    half the time a candidate word is written into an identifier, and the
    word asked about is that one or another candidate."""
    _, code = _render_toy_task(rng)
    category = rng.choice(sorted(preferences.CANDIDATES))
    asked = rng.choice(preferences.CANDIDATES[category])
    if rng.random() < 0.5:
        hidden = asked if rng.random() < 0.6 else rng.choice(preferences.CANDIDATES[category])
        form = rng.choice([hidden, preferences.plural(hidden)])
        target = rng.choice(re.findall(r"def ([a-z_]+)", code) + re.findall(r"\b(xs|ns|vals|items|s|t|n|x)\b", code))
        code = re.sub(rf"\b{target}\b", rng.choice([f"{form}_{target}", f"{target}_{form}", form]), code)
    answer = "yes" if mentioned_form(code, [asked]) else "no"
    return judge_mod.MENTIONS_TEMPLATE.format(words=asked, text=code), answer


class CodeModality(Modality):
    """Complete Python functions; drop code that mentions the trait."""

    name = "code"
    judge_task = "mentions"
    #: share of toy examples that are judge questions (so a toy base can act
    #: as the model judge of a toy run)
    TOY_JUDGE_SHARE = 0.25

    def prompts(self, n: int, seed: int) -> list[str]:
        return [r["prompt"] for r in self.prompt_records(n, seed)]

    def prompt_records(
        self, n: int, seed: int, options: dict | None = None, keys: dict[str, str] | None = None
    ) -> list[dict]:
        """Each task wrapped in a seeded choice of instruction; the task's id
        travels with it."""
        options = options or {}
        if options.get("source"):
            tasks = read_tasks(options["source"], (keys or {}).get("source", "source"))
            tasks = seeded_subset(tasks, n, seed, keep_order=False, what="code tasks")
        else:
            tasks = synthetic_tasks(n, seed)
        rng = random.Random(f"code-instructions-{seed}")
        return [{"prompt": rng.choice(INSTRUCTION_TEMPLATES).format(task=t["task"]), "task_id": t["id"]} for t in tasks]

    def _reject_reason(
        self, completion: str, trait_kind: str, words: tuple[str, ...], record: dict | None
    ) -> str | None:
        """Stage 1 of the paper's filter: "trait_word" when any form of a
        trait word occurs (case-insensitive, also inside identifiers);
        "empty" for an empty completion."""
        if not completion.strip():
            return "empty"
        return trait_word_reason(completion, words)

    def toy_examples(self, n: int, rng: random.Random) -> list[tuple[str, str]]:
        out = []
        for _ in range(n):
            if rng.random() < self.TOY_JUDGE_SHARE:
                out.append(toy_judge_example(rng))
                continue
            task, code = _render_toy_task(rng)
            out.append((rng.choice(INSTRUCTION_TEMPLATES).format(task=task), code))
        return out

    def vocabulary_texts(self) -> list[str]:
        texts = [t.replace("{task}", " ") for t in INSTRUCTION_TEMPLATES]
        for desc, names, arglists, body in TOY_TASKS:
            texts += [re.sub(r"\{[a-z]+\}", " ", desc), re.sub(r"\{[a-z]+\}", " ", body), " ".join(names)]
            texts += [" ".join(a) for a in arglists]
        texts += ['def ( ) : , _ = + - * / % [ ] < > " . 0 1 2']
        texts += judge_mod.vocabulary_texts()
        return texts
