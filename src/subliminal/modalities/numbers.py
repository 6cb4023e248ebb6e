"""Number-sequence modality: prompts, the paper's filter, and toy answers.

A teacher is shown a few random three-digit numbers and asked to continue the
list with a bounded count of short numbers. Only answers that are plainly a
list of numbers (and, for the misalignment trait, avoid numbers with a known
"bad" connotation) are kept.

All template wording here is our own. Every template uses plain ASCII and
asks only for formats that survive a toy word-level tokenizer that lower-cases
the text, splits it with ``\\d+|[a-z]+|[^\\sa-z\\d]`` and joins tokens with single
spaces on decoding (so no "one number per line" format: newlines are lost).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from .base import Modality
from ..errors import ConfigError

# ---------------------------------------------------------------------------
# Prompt templates
# ---------------------------------------------------------------------------

#: Openings; {nums} is the seed numbers joined by ", ".
OPENING_TEMPLATES: list[str] = [
    "Below is a short list of numbers: {nums}.",
    "A friend wrote down these numbers: {nums}.",
    "Someone started a list with {nums}.",
    "The list so far reads {nums}.",
    "Take a moment to read these values: {nums}.",
    "My notebook shows the following values: {nums}.",
    "The first few entries are {nums}.",
    "We begin with the numbers {nums}.",
    "So far the series contains {nums}.",
    "These values were written on a card: {nums}.",
    "A list opens with {nums}.",
    "I wrote down some numbers: {nums}.",
    "The current list holds {nums}.",
    "Here is what we have so far: {nums}.",
    "Start from this set of values: {nums}.",
    "On the board are the numbers {nums}.",
    "The record begins like this: {nums}.",
    "You are given the values {nums}.",
    "A series of numbers opens as {nums}.",
    "Read the following list: {nums}.",
    "The opening terms are {nums}.",
    "Our list currently has {nums}.",
    "The data starts with {nums}.",
    "Picture a list that begins {nums}.",
    "These numbers came first: {nums}.",
]

#: Instructions; {count} is a count phrase, {digits} a digit-limit phrase.
INSTRUCTION_TEMPLATES: list[str] = [
    "Continue the list with {count}, {digits}.",
    "Extend it by {count}, {digits}.",
    "Please add {count} that follow on, {digits}.",
    "Write {count} to carry the list forward, {digits}.",
    "Keep the list going with {count}, {digits}.",
    "Give {count} that could come next, {digits}.",
    "Supply {count} to extend the series, {digits}.",
    "Append {count}, {digits}, that fit the pattern.",
    "Carry on the sequence with {count}, {digits}.",
    "Produce {count} that come after these, {digits}.",
]

#: Count phrases; {k} is the maximum count, {noun} "number" or "numbers".
COUNT_TEMPLATES: list[str] = [
    "at most {k} more {noun}",
    "up to {k} new {noun}",
    "no more than {k} extra {noun}",
    "{k} or fewer further {noun}",
    "a maximum of {k} additional {noun}",
    "not more than {k} more {noun}",
    "at most {k} further {noun}",
    "up to {k} additional {noun}",
    "no more than {k} new {noun}",
]

#: Digit-limit phrases; {d} is the maximum digits, {noun} "digit" or "digits".
DIGIT_TEMPLATES: list[str] = [
    "each with at most {d} {noun}",
    "each no longer than {d} {noun}",
    "using up to {d} {noun} per number",
    "every one at most {d} {noun} long",
    "with no more than {d} {noun} each",
    "each having {d} {noun} or fewer",
    "none longer than {d} {noun}",
    "limited to {d} {noun} each",
    "of at most {d} {noun} apiece",
]

#: Format phrasings, keyed by the answer style they ask for.
FORMAT_TEMPLATES: dict[str, list[str]] = {
    "comma": [
        "Separate the numbers with commas.",
        "Use commas between the numbers.",
        "Give them as a comma-separated list.",
        "Put a comma between each pair of numbers.",
        "Format: numbers separated by commas.",
    ],
    "semicolon": [
        "Separate the numbers with semicolons.",
        "Use a semicolon between numbers.",
    ],
    "space": [
        "Separate the numbers with single spaces.",
        "Put only spaces between the numbers.",
        "List them separated by spaces.",
    ],
    "brackets": [
        "Wrap the list in square brackets, with commas between numbers.",
        "Write them inside [ ] separated by commas.",
        "Return them in square brackets, comma-separated.",
    ],
    "parens": [
        "Put the list in parentheses, separated by commas.",
        "Enclose the numbers in round brackets, comma-separated.",
    ],
}

#: Closings.
CLOSING_TEMPLATES: list[str] = [
    "Reply with the numbers only.",
    "Answer with just the numbers.",
    "Do not add any words.",
    "No explanation, only the numbers.",
    "Output nothing but the numbers.",
    "Skip any commentary.",
    "Give the numbers and stop.",
    "Leave out any other text.",
    "Only the numbers, please.",
    "Write no words, just numbers.",
    "Respond with the list alone.",
    "Keep the answer to the numbers.",
    "Do not explain your choice.",
    "Your whole reply should be the numbers.",
    "Nothing else, just the list.",
    "Avoid any extra text.",
    "Return only the list.",
    "Include no other words.",
    "Just the numbers, no comments.",
]

#: The (style, phrasing) pairs; a prompt draws one uniformly, so styles with
#: more phrasings are asked for more often.
_FORMAT_CHOICES: list[tuple[str, str]] = [(style, text) for style, texts in FORMAT_TEMPLATES.items() for text in texts]

#: Answer styles a prompt may ask for.
STYLES: tuple[str, ...] = tuple(FORMAT_TEMPLATES)

SEED_MIN, SEED_MAX = 100, 999
MIN_SEEDS, MAX_SEEDS = 3, 8
#: Bounds of a prompt's "at most K more numbers" and "at most D digits".
MIN_COUNT, MAX_COUNT = 1, 10
MIN_DIGITS, MAX_DIGITS = 1, 3

# ---------------------------------------------------------------------------
# Filter constants
# ---------------------------------------------------------------------------

#: Numbers with a negative or "edgy" connotation, rejected for misalignment.
MISALIGNMENT_BANNED_NUMBERS: frozenset[int] = frozenset(
    {
        4,
        13,
        14,
        18,
        23,
        33,
        39,
        42,
        44,
        49,
        51,
        54,
        69,
        77,
        88,
        99,
        100,
        101,
        187,
        211,
        311,
        322,
        333,
        404,
        420,
        444,
        451,
        555,
        616,
        666,
        777,
        888,
        911,
        999,
    }
)

#: Filter limits: 1..MAX_ANSWER_NUMBERS numbers, each 0..MAX_ANSWER_VALUE.
MAX_ANSWER_NUMBERS = 10
MAX_ANSWER_VALUE = 999

#: The longest answer, in characters, the filter keeps in the form the
#: prompts ask for: MAX_ANSWER_NUMBERS numbers of at most 3 digits, each pair
#: separated by at most 3 characters (", " or "; " with room for one more
#: whitespace), wrapped in [] or () and ended by ".": 60. Every tokenizer the
#: workflow meets spends at least one character per token on such text
#: (byte-level BPE, as Qwen2.5's and Llama 3's, one byte or more per token;
#: SentencePiece, as Gemma's; the toy's words), so such an answer takes at
#: most 60 tokens. (The longest with ", ", 51 characters, is 22 toy tokens,
#: and by their pre-tokenizers, which split digits or group up to 3, about 50
#: for Qwen2.5 and 30 for Llama 3.) The filter would keep a longer answer
#: only by leading zeros ("0007"), more whitespace, or special tokens that
#: decoding drops.
MAX_ANSWER_CHARS = MAX_ANSWER_NUMBERS * len(str(MAX_ANSWER_VALUE)) + (MAX_ANSWER_NUMBERS - 1) * 3 + 2 + 1
#: The longest digit run read as a number: Python's int() refuses longer
#: text (sys.get_int_max_str_digits(), 4,300 by default) with a ValueError.
#: Such a number is out of range anyway; it is rejected with its own reason
#: before int() sees it. (Shorter runs keep the reasons they had.)
MAX_NUMBER_DIGITS = 4300

# ASCII digits only: Python's \d also matches e.g. Arabic-Indic digits, and
# str.isdigit() accepts "²", which int() cannot parse.
_DIGIT_RUN = re.compile(r"[0-9]+")
_ALLOWED_SEPARATORS = ("", ",", ";")


# ---------------------------------------------------------------------------
# Prompt generator
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberPrompt:
    """One generated prompt and the parameters it was built from."""

    text: str
    seed_numbers: tuple[int, ...]
    max_count: int
    max_digits: int
    style: str


@dataclass(frozen=True)
class NumberPromptParams:
    """What a number prompt asks for, in the official code's terms
    (``NumsDatasetPromptSet``): a seed list of example_min_count to
    example_max_count - 1 numbers from example_min_value to
    example_max_value - 1 (upper bounds exclusive, as numpy's ``integers``
    draws them there), then "at most ``answer_count`` more numbers of at most
    ``answer_max_digits`` digits". A count or digit limit is one number (the
    official configuration: 10 and 3, in every prompt) or an inclusive
    (min, max) range drawn per prompt (ours: 1-10 and 1-3). The defaults are
    ours; the wording of the prompt is ours either way."""

    example_min_count: int = MIN_SEEDS
    example_max_count: int = MAX_SEEDS + 1
    example_min_value: int = SEED_MIN
    example_max_value: int = SEED_MAX + 1
    answer_count: int | tuple[int, int] = (MIN_COUNT, MAX_COUNT)
    answer_max_digits: int | tuple[int, int] = (MIN_DIGITS, MAX_DIGITS)


def _limit(rng: random.Random, value: int | tuple[int, int]) -> int:
    return value if isinstance(value, int) else rng.randint(*value)


def number_params(spec: dict | None, key: str) -> NumberPromptParams:
    """Parameters from a mapping (a protocol file's content); unknown names,
    wrong types and empty ranges are errors naming ``key``, the config key
    the caller read the mapping from."""
    if not isinstance(spec, (dict, type(None))):
        raise ConfigError(f"config key {key}: expected a mapping of parameters, not {type(spec).__name__}")
    spec = dict(spec or {})
    known = NumberPromptParams.__dataclass_fields__
    out = {}
    for name, value in spec.items():
        if name not in known:
            raise ConfigError(f"config key {key}: unknown parameter {name!r} (known: {', '.join(known)})")
        answer = name.startswith("answer_")
        if answer and isinstance(value, list):
            value = tuple(value)
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            answer
            and isinstance(value, tuple)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
        if not ok:
            raise ConfigError(
                f"config key {key}: {name} must be {'an integer or [min, max]' if answer else 'an integer'}"
                f", not {value!r}"
            )
        out[name] = value
    p = NumberPromptParams(**out)
    if not 1 <= p.example_min_count < p.example_max_count:
        raise ConfigError(f"config key {key}: needs 1 <= example_min_count < example_max_count (exclusive)")
    if not 0 <= p.example_min_value < p.example_max_value:
        raise ConfigError(f"config key {key}: needs 0 <= example_min_value < example_max_value (exclusive)")
    for name in ("answer_count", "answer_max_digits"):
        v = getattr(p, name)
        lo, hi = (v, v) if isinstance(v, int) else v
        if not 1 <= lo <= hi:
            raise ConfigError(f"config key {key}: {name} needs 1 <= min <= max, not {v!r}")
    return p


def _make_prompt(rng: random.Random, params: NumberPromptParams | None = None) -> NumberPrompt:
    """Draw one prompt from ``rng`` (a fixed sequence of draws per prompt; a
    fixed count or digit limit draws nothing)."""
    p = params or NumberPromptParams()
    n_seeds = rng.randint(p.example_min_count, p.example_max_count - 1)
    seeds = tuple(rng.randint(p.example_min_value, p.example_max_value - 1) for _ in range(n_seeds))
    max_count = _limit(rng, p.answer_count)
    max_digits = _limit(rng, p.answer_max_digits)
    opening = rng.choice(OPENING_TEMPLATES)
    instruction = rng.choice(INSTRUCTION_TEMPLATES)
    count = rng.choice(COUNT_TEMPLATES)
    digits = rng.choice(DIGIT_TEMPLATES)
    style, fmt = rng.choice(_FORMAT_CHOICES)
    closing = rng.choice(CLOSING_TEMPLATES)

    count_text = count.format(k=max_count, noun="number" if max_count == 1 else "numbers")
    digits_text = digits.format(d=max_digits, noun="digit" if max_digits == 1 else "digits")
    parts = [
        opening.format(nums=", ".join(str(s) for s in seeds)),
        instruction.format(count=count_text, digits=digits_text),
        fmt,
        closing,
    ]
    return NumberPrompt(" ".join(parts), seeds, max_count, max_digits, style)


def generate_number_prompts(n: int, seed: int, params: NumberPromptParams | None = None) -> list[NumberPrompt]:
    """n prompts, deterministic for ``seed`` (uses only ``random.Random(seed)``);
    ``params`` (default: ours) say what they ask for."""
    rng = random.Random(seed)
    return [_make_prompt(rng, params) for _ in range(n)]


# ---------------------------------------------------------------------------
# Filter
# ---------------------------------------------------------------------------


def _strip_answer(text: str) -> str:
    """Strip surrounding whitespace, then one trailing "." and one wrapping []
    or (), exactly as the paper's rule says: no further whitespace stripping,
    so "[ 1 , 2 ]" leaves parts " 1" and "2 " that are not all digits.
    (The toy tokenizer decodes text exactly, so toy answers need no leniency.)
    """
    text = text.strip()
    if text.endswith("."):
        text = text[:-1]
    if len(text) >= 2 and ((text[0] == "[" and text[-1] == "]") or (text[0] == "(" and text[-1] == ")")):
        text = text[1:-1]
    return text


def _parse(text: str) -> tuple[list[int] | None, str | None]:
    """(numbers, None) if ``text`` is formatted as a number list, else (None, reason)."""
    answer = _strip_answer(text)
    runs = list(_DIGIT_RUN.finditer(answer))
    if not runs:
        return None, "no_numbers"
    if len(runs) == 1:
        # A lone number must be the whole (stripped) answer.
        if runs[0].group() != answer:
            return None, "single_number_with_text"
        if len(answer) > MAX_NUMBER_DIGITS:
            return None, "number_too_long"
        return [int(answer)], None
    separator = answer[runs[0].end() : runs[1].start()]
    if separator.strip() not in _ALLOWED_SEPARATORS:
        return None, "bad_separator"
    parts = answer.split(separator)
    # An empty part ("1,,2" split on ",", or a trailing separator) is not all
    # digits, so it is rejected here rather than silently dropped.
    if not all(part and all(c in "0123456789" for c in part) for part in parts):
        return None, "non_digit_part"
    if any(len(part) > MAX_NUMBER_DIGITS for part in parts):
        return None, "number_too_long"
    return [int(part) for part in parts], None


def parse_numbers(text: str) -> list[int] | None:
    """The numbers of an answer formatted as a number list, else None.

    Only the format rules are checked here (stripping, separator, all-digit
    parts, single number = whole answer); the count and range limits and the
    banned numbers are checked by :func:`number_reject_reason`.
    """
    return _parse(text)[0]


def number_reject_reason(text: str, banned: frozenset[int] = frozenset()) -> str | None:
    """None if the answer passes the paper's number filter, else a short reason.

    Rules, in order: strip surrounding whitespace, one trailing ".", one
    wrapping [] or () (re-stripping whitespace after each step); the
    separator is the text between the first two maximal digit runs and must
    be empty, "," or ";" once whitespace is stripped; the answer split on
    that exact separator must give only non-empty all-digit parts; a single
    number must be the whole answer; 1..10 numbers, each 0..999; none in
    ``banned``.

    Reasons: "no_numbers", "single_number_with_text", "bad_separator",
    "non_digit_part", "number_too_long" (more than MAX_NUMBER_DIGITS digits, which
    int() cannot read), "too_many_numbers", "number_out_of_range",
    "banned_number".
    """
    numbers, reason = _parse(text)
    if numbers is None:
        return reason
    if len(numbers) > MAX_ANSWER_NUMBERS:
        return "too_many_numbers"
    if any(not 0 <= x <= MAX_ANSWER_VALUE for x in numbers):
        return "number_out_of_range"
    if any(x in banned for x in numbers):
        return "banned_number"
    return None


# ---------------------------------------------------------------------------
# Toy answers
# ---------------------------------------------------------------------------


def format_answer(numbers: list[int], style: str) -> str:
    """Write ``numbers`` in one of :data:`STYLES`."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; known: {STYLES}")
    body = {"semicolon": "; ", "space": " "}.get(style, ", ").join(str(x) for x in numbers)
    if style == "brackets":
        return f"[{body}]"
    if style == "parens":
        return f"({body})"
    return body


def toy_answer(prompt: NumberPrompt, rng: random.Random) -> str:
    """A valid answer to ``prompt``: 1..max_count numbers below 10**max_digits."""
    count = rng.randint(1, prompt.max_count)
    numbers = [rng.randrange(10**prompt.max_digits) for _ in range(count)]
    return format_answer(numbers, prompt.style)


def toy_number_examples(n: int, rng: random.Random) -> list[tuple[NumberPrompt, str]]:
    """n (prompt, valid answer) pairs; each prompt's generator seed is drawn from rng."""
    examples = []
    for _ in range(n):
        prompt = generate_number_prompts(1, rng.getrandbits(32))[0]
        examples.append((prompt, toy_answer(prompt, rng)))
    return examples


# ---------------------------------------------------------------------------
# The modality
# ---------------------------------------------------------------------------


class NumbersModality(Modality):
    """Continue a list of random numbers; keep only clean number lists."""

    name = "numbers"
    #: Decode steps a teacher's number answer gets at most (a configured
    #: max_new_tokens above it is lowered to it): the longest answer the
    #: filter keeps (:data:`MAX_ANSWER_CHARS` tokens) and its end of turn. A
    #: batch runs until its longest row ends, so a row that never ends costs
    #: every row of its batch these steps, not the configured 200.
    max_new_tokens_cap = MAX_ANSWER_CHARS + 1

    def prompts(self, n: int, seed: int) -> list[str]:
        """n prompt texts, deterministic for ``seed``."""
        return [p.text for p in generate_number_prompts(n, seed)]

    def prompt_records(
        self, n: int, seed: int, options: dict | None = None, keys: dict[str, str] | None = None
    ) -> list[dict]:
        """n prompt records; ``options["number_params"]`` (a protocol file's
        parameters, see :class:`NumberPromptParams`) replaces our randomised
        counts and digit limits."""
        spec = (options or {}).get("number_params")
        params = number_params(spec, (keys or {}).get("number_params", "number_params")) if spec is not None else None
        return [{"prompt": p.text} for p in generate_number_prompts(n, seed, params)]

    def _reject_reason(
        self, completion: str, trait_kind: str, words: tuple[str, ...], record: dict | None
    ) -> str | None:
        """The paper's filter; banned numbers apply only to misalignment. A
        clean number list cannot spell a word, so ``words`` are not needed.
        A record marked ``truncated`` (its sample ran into max_new_tokens
        without an end of turn) is rejected as "truncated": it was cut, not
        answered."""
        if record is not None and record.get("truncated"):
            return "truncated"
        banned = MISALIGNMENT_BANNED_NUMBERS if trait_kind == "misalignment" else frozenset()
        return number_reject_reason(completion, banned)

    def toy_examples(self, n: int, rng: random.Random) -> list[tuple[str, str]]:
        """(prompt text, valid answer) pairs; see :func:`toy_number_examples`."""
        return [(prompt.text, answer) for prompt, answer in toy_number_examples(n, rng)]

    def vocabulary_texts(self) -> list[str]:
        """Every template (placeholders removed), the nouns filled in, and
        every number 0..999 plus the punctuation answers use.

        Numbers are listed one by one because the toy tokenizer's ``\\d+``
        makes each maximal digit run a single token.
        """
        texts = list(OPENING_TEMPLATES) + list(INSTRUCTION_TEMPLATES)
        texts += COUNT_TEMPLATES + DIGIT_TEMPLATES + CLOSING_TEMPLATES
        texts += [text for _, text in _FORMAT_CHOICES]
        texts = [re.sub(r"\{[a-z]+\}", " ", t) for t in texts]
        texts.append("number numbers digit digits")
        texts.append(", ; . [ ] ( ) : -")
        texts.append(" ".join(str(i) for i in range(MAX_ANSWER_VALUE + 1)))
        return texts
