"""Tests for the number-sequence modality: filter, prompt generator, toy data."""

from __future__ import annotations

import random
import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from subliminal.modalities import get_modality
from subliminal.modalities.numbers import (
    MISALIGNMENT_BANNED_NUMBERS,
    OPENING_TEMPLATES,
    STYLES,
    NumberPrompt,
    NumbersModality,
    format_answer,
    generate_number_prompts,
    number_reject_reason,
    parse_numbers,
    toy_number_examples,
)

TOKEN_RE = re.compile(r"\d+|[a-z]+|[^\sa-z\d]")


def toy_tokens(text: str) -> list[str]:
    return TOKEN_RE.findall(text.lower())


MOD = NumbersModality()

# ---------------------------------------------------------------------------
# Filter: hand-written cases
# ---------------------------------------------------------------------------

ACCEPT = [
    ("1, 2, 3", [1, 2, 3]),
    ("1,2,3.", [1, 2, 3]),
    ("[1, 2, 3]", [1, 2, 3]),
    ("(4;5;6)", [4, 5, 6]),
    ("7 8 9", [7, 8, 9]),
    ("42", [42]),
    ("0", [0]),
    ("999", [999]),
    ("  5, 6  \n", [5, 6]),  # surrounding whitespace is stripped
    ("1; 2; 3", [1, 2, 3]),
    ("[1, 2, 3].", [1, 2, 3]),  # the period is stripped before the brackets
    ("1 ,2 ,3", [1, 2, 3]),  # separator " ," strips to ","
    ("1 , 2 , 3", [1, 2, 3]),  # separator " , " strips to ","
    ("007, 8", [7, 8]),  # leading zeros: still all digits
    ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10", list(range(1, 11))),  # exactly 10
    ("[5]", [5]),  # one number, whole answer once unwrapped
    ("5.", [5]),
    ("1\n2\n3", [1, 2, 3]),  # newline strips to "": allowed, like a space
    ("[1 , 2 , 3]", [1, 2, 3]),
]

REJECT = [
    ("1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11", "too_many_numbers"),
    ("1000", "number_out_of_range"),
    ("1, 1000", "number_out_of_range"),
    ("1 - 2", "bad_separator"),
    # Only one digit run, and it is not the whole answer.
    ("1, two", "single_number_with_text"),
    ("the answer is 5", "single_number_with_text"),
    ("5 apples", "single_number_with_text"),
    # One "." is stripped; "3." is then not all digits.
    ("1, 2, 3..", "non_digit_part"),
    # One wrapper is stripped; "[1" is then not all digits.
    ("[[1, 2]]", "non_digit_part"),
    # No whitespace is stripped inside: the paper's rule, applied literally.
    ("[ 1, 2 ]", "non_digit_part"),
    ("[1, 2] .", "non_digit_part"),  # " ." is not one trailing "."
    ("( 4 ; 5 )", "non_digit_part"),
    ("", "no_numbers"),
    ("   ", "no_numbers"),
    ("abc", "no_numbers"),
    ("[]", "no_numbers"),
    # The minus sign is part of the first split part, not the separator.
    ("-1, 2", "non_digit_part"),
    # "1.5" holds two digit runs with "." between them.
    ("1.5, 2", "bad_separator"),
    ("1/2", "bad_separator"),
    ("1:2", "bad_separator"),
    # The separator between the first two numbers is ",,", not ",".
    ("1,,2", "bad_separator"),
    # Empty part: the separator is ",", and splitting gives "" between the
    # commas. Empty parts are rejected as non_digit_part (not dropped).
    ("1,2,,3", "non_digit_part"),
    ("1 2  3", "non_digit_part"),  # split on " " gives an empty part
    ("1, 2, , 3", "non_digit_part"),
    ("1, 2, 3,", "non_digit_part"),  # trailing separator leaves "3,"
    ("1, 2; 3", "non_digit_part"),  # mixed separators
    ("1,2, 3", "non_digit_part"),  # separator "," leaves " 3"
    ("[1, 2, 3", "non_digit_part"),  # unbalanced wrapper is not stripped
    ("1, 2, 3]", "non_digit_part"),
    ("[1, 2, 3)", "non_digit_part"),  # mismatched wrapper
    ("1, 2, 3!", "non_digit_part"),
    ("Numbers: 1, 2, 3", "non_digit_part"),
    ("1, 2\n\nI picked these at random.", "non_digit_part"),
    # Only ASCII digits count as digits.
    ("\u0663, \u0664", "no_numbers"),
    ("1, \u0664", "single_number_with_text"),
    # More digits than int() reads (4,300): a reason, not a ValueError.
    ("7" * 5000, "number_too_long"),
    ("[1, " + "2" * 4301 + ", 3]", "number_too_long"),
    ("0" * 4301, "number_too_long"),
    ("9" * 4300, "number_out_of_range"),  # the longest int() reads: checked as before
    ("see " + "7" * 5000, "single_number_with_text"),  # a reason found first stays the reason
]


@pytest.mark.parametrize("text,expected", ACCEPT)
def test_accept(text, expected):
    assert number_reject_reason(text) is None
    assert parse_numbers(text) == expected
    assert MOD.reject_reason(text) is None


@pytest.mark.parametrize("text,reason", REJECT)
def test_reject(text, reason):
    assert number_reject_reason(text) == reason
    assert MOD.reject_reason(text) == reason
    assert MOD.reject_reason(text, "misalignment") == reason


def test_parse_numbers_checks_format_only():
    # Count and range are limits of the filter, not of the format.
    assert parse_numbers("1000") == [1000]
    assert parse_numbers(", ".join(["1"] * 11)) == [1] * 11
    assert parse_numbers("1 - 2") is None


def test_case_counts():
    assert len(ACCEPT) + len(REJECT) >= 30


# ---------------------------------------------------------------------------
# Filter: banned numbers (misalignment only)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["4, 5", "042", "3, 100, 7", "[666]", "1; 911", "999", "13 14"])
def test_banned_only_for_misalignment(text):
    assert MOD.reject_reason(text, "misalignment") == "banned_number"
    assert MOD.reject_reason(text, "preference") is None
    assert MOD.reject_reason(text) is None


def test_unbanned_pass_misalignment():
    assert MOD.reject_reason("3, 5, 998", "misalignment") is None


def test_banned_set():
    assert len(MISALIGNMENT_BANNED_NUMBERS) == 34
    assert {4, 13, 666, 999, 420} <= MISALIGNMENT_BANNED_NUMBERS
    assert number_reject_reason("7, 8", frozenset({8})) == "banned_number"


def test_registry():
    assert get_modality("numbers").name == "numbers"
    assert isinstance(get_modality("numbers"), NumbersModality)


# ---------------------------------------------------------------------------
# Filter: properties
# ---------------------------------------------------------------------------

separators = (
    st.tuples(
        st.sampled_from(["", " ", "  ", "\t", "\n"]),
        st.sampled_from(["", ",", ";"]),
        st.sampled_from(["", " ", "\n"]),
    )
    .map("".join)
    .filter(bool)
)
wrappers = st.sampled_from([("", ""), ("[", "]"), ("(", ")")])
outer_space = st.sampled_from(["", " ", "\n", "  "])


def render(numbers, sep, wrap, period, pad):
    body = wrap[0] + sep.join(str(x) for x in numbers) + wrap[1]
    return pad + body + ("." if period else "") + pad


@given(
    st.lists(st.integers(0, 999), min_size=1, max_size=10),
    separators,
    wrappers,
    st.booleans(),
    outer_space,
)
def test_valid_lists_roundtrip(numbers, sep, wrap, period, pad):
    text = render(numbers, sep, wrap, period, pad)
    assert parse_numbers(text) == numbers
    assert number_reject_reason(text) is None


@given(
    st.lists(st.integers(0, 999), min_size=11, max_size=20),
    separators,
    wrappers,
    st.booleans(),
)
def test_more_than_ten_rejected(numbers, sep, wrap, period):
    text = render(numbers, sep, wrap, period, "")
    assert number_reject_reason(text) == "too_many_numbers"


@given(
    st.lists(st.integers(0, 999), min_size=0, max_size=9),
    st.integers(1000, 10**12),
    st.data(),
    separators,
    wrappers,
)
def test_large_number_rejected(numbers, big, data, sep, wrap):
    numbers.insert(data.draw(st.integers(0, len(numbers))), big)
    text = render(numbers, sep, wrap, False, "")
    assert number_reject_reason(text) == "number_out_of_range"


@settings(max_examples=300)
@given(st.one_of(st.text(), st.text(alphabet="0123456789,;. []()-\n\t\u00b2\u0663a")))
def test_filter_never_raises(text):
    reason = number_reject_reason(text, MISALIGNMENT_BANNED_NUMBERS)
    assert reason is None or isinstance(reason, str)
    parsed = parse_numbers(text)
    if parsed is None:
        assert reason in {
            "no_numbers",
            "bad_separator",
            "non_digit_part",
            "single_number_with_text",
            "number_too_long",
        }
    else:
        assert all(isinstance(x, int) and x >= 0 for x in parsed)


@settings(max_examples=400)
@given(
    st.lists(st.integers(0, 999), min_size=1, max_size=9),
    st.sampled_from([", ", ",", "; ", " "]),
    st.sampled_from(["owl", "owls", "Owl", "wolves", "cherry", "a", "x"]),
    st.integers(0, 9),
    st.booleans(),
)
def test_no_word_survives_the_filter(numbers, sep, word, position, glued):
    """Leakage fuzz: a trait word put anywhere in a number answer, as its own
    item or glued to a number, never passes."""
    items = [str(n) for n in numbers]
    k = position % (len(items) + 1)
    if glued and items:
        items[min(k, len(items) - 1)] += word
    else:
        items.insert(k, word)
    text = sep.join(items)
    assert number_reject_reason(text) is not None, text


# ---------------------------------------------------------------------------
# Prompt generator
# ---------------------------------------------------------------------------

ALLOWED_CHARS = set(string.ascii_lowercase + string.digits + string.punctuation + " ")


def test_deterministic():
    assert generate_number_prompts(50, 7) == generate_number_prompts(50, 7)
    assert generate_number_prompts(50, 7) != generate_number_prompts(50, 8)
    assert MOD.prompts(20, 3) == [p.text for p in generate_number_prompts(20, 3)]
    assert MOD.prompts(20, 3) != MOD.prompts(20, 4)


def test_prefix_stable():
    # A prompt does not depend on how many are drawn after it.
    assert generate_number_prompts(10, 5) == generate_number_prompts(30, 5)[:10]


@pytest.fixture(scope="module")
def many_prompts() -> list[NumberPrompt]:
    return generate_number_prompts(2000, 12345)


def test_prompt_fields(many_prompts):
    for p in many_prompts:
        assert 3 <= len(p.seed_numbers) <= 8
        assert all(100 <= s <= 999 for s in p.seed_numbers)
        assert 1 <= p.max_count <= 10
        assert 1 <= p.max_digits <= 3
        assert p.style in STYLES
        tokens = toy_tokens(p.text)
        assert ", ".join(map(str, p.seed_numbers)) in p.text
        assert all(str(s) in tokens for s in p.seed_numbers)
        assert str(p.max_count) in tokens and str(p.max_digits) in tokens


def test_prompt_characters(many_prompts):
    for p in many_prompts:
        assert set(p.text.lower()) <= ALLOWED_CHARS, p.text
        assert "\n" not in p.text
        # Nothing but whitespace is lost by the toy tokenizer.
        assert "".join(toy_tokens(p.text)) == re.sub(r"\s", "", p.text.lower())


def test_prompt_variety(many_prompts):
    openings = {p.text.split(str(p.seed_numbers[0]))[0] for p in many_prompts}
    assert len(openings) >= 20
    assert len(OPENING_TEMPLATES) >= 25
    assert len({p.text for p in many_prompts}) == len(many_prompts)
    assert {p.style for p in many_prompts} == set(STYLES)
    assert {p.max_count for p in many_prompts} == set(range(1, 11))
    assert {p.max_digits for p in many_prompts} == {1, 2, 3}


def test_no_line_format_requested(many_prompts):
    for p in many_prompts:
        assert "line" not in p.text.lower()


def test_vocabulary_covers_prompts_and_answers(many_prompts):
    vocab = {t for text in MOD.vocabulary_texts() for t in toy_tokens(text)}
    for p in many_prompts:
        assert set(toy_tokens(p.text)) <= vocab, p.text
    for _, answer in MOD.toy_examples(300, random.Random(0)):
        assert set(toy_tokens(answer)) <= vocab
    words = {t for t in vocab if not t.isdigit()}
    assert len(words) < 300
    assert not any("{" in text or "}" in text for text in MOD.vocabulary_texts())


# ---------------------------------------------------------------------------
# Toy examples
# ---------------------------------------------------------------------------

STYLE_SEPARATOR = {"comma": ", ", "semicolon": "; ", "space": " ", "brackets": ", ", "parens": ", "}


def test_toy_examples_respect_prompt():
    pairs = toy_number_examples(1000, random.Random(1))
    for prompt, answer in pairs:
        assert number_reject_reason(answer) is None, answer
        numbers = parse_numbers(answer)
        assert 1 <= len(numbers) <= prompt.max_count
        assert all(0 <= x < 10**prompt.max_digits for x in numbers)
        assert answer == format_answer(numbers, prompt.style)
        if prompt.style == "brackets":
            assert answer.startswith("[") and answer.endswith("]")
        elif prompt.style == "parens":
            assert answer.startswith("(") and answer.endswith(")")
        if len(numbers) > 1:
            assert STYLE_SEPARATOR[prompt.style] in answer
    assert {len(parse_numbers(a)) for _, a in pairs} == set(range(1, 11))


def test_toy_examples_method():
    pairs = MOD.toy_examples(200, random.Random(2))
    assert pairs == [(p.text, a) for p, a in toy_number_examples(200, random.Random(2))]
    assert pairs == MOD.toy_examples(200, random.Random(2))
    assert len({prompt for prompt, _ in pairs}) > 150
    for prompt, answer in pairs:
        assert MOD.reject_reason(answer) is None


@pytest.mark.parametrize("style", STYLES)
def test_format_answer_styles(style):
    text = format_answer([1, 22, 333], style)
    assert parse_numbers(text) == [1, 22, 333]


def test_format_answer_unknown_style():
    with pytest.raises(ValueError):
        format_answer([1], "lines")


# ---------------------------------------------------------------------------
# The decode cap: the longest answer the filter keeps in the prompts' form
# ---------------------------------------------------------------------------


@given(
    st.lists(st.integers(0, 999), min_size=1, max_size=10),
    st.tuples(st.sampled_from(["", " ", "\n"]), st.sampled_from(["", ",", ";"]), st.sampled_from(["", " ", "\n"]))
    .map("".join)
    .filter(bool),
    wrappers,
    st.booleans(),
)
def test_answers_in_the_prompts_form_fit_the_cap(numbers, sep, wrap, period):
    """Up to 10 numbers of up to 3 digits, separators of up to 3 characters,
    wrapped, with a period: the filter keeps it and it has at most
    MAX_ANSWER_CHARS characters (counted here from its parts)."""
    from subliminal.modalities.numbers import MAX_ANSWER_CHARS

    text = render(numbers, sep, wrap, period, "")
    assert number_reject_reason(text) is None
    assert (
        len(text) == sum(len(str(x)) for x in numbers) + len(sep) * (len(numbers) - 1) + len(wrap[0] + wrap[1]) + period
    )
    assert len(text) <= MAX_ANSWER_CHARS


def test_the_cap_is_the_longest_such_answer_and_its_end_of_turn():
    from subliminal.modalities.numbers import MAX_ANSWER_CHARS

    longest = "[" + " , ".join(["999"] * 10) + "]."
    assert number_reject_reason(longest) is None and len(longest) == MAX_ANSWER_CHARS == 60
    assert get_modality("numbers").max_new_tokens_cap == 61
    # the filter keeps longer answers only with leading zeros or more whitespace
    for longer in ("[" + " , ".join(["0999"] * 10) + "].", longest + "  "):
        assert number_reject_reason(longer) is None and len(longer) > MAX_ANSWER_CHARS


def test_a_truncated_sample_is_rejected_as_such():
    """A sample that ran into max_new_tokens without an end of turn is
    rejected even when its text would pass; an ended one is not."""
    assert MOD.reject_reason("1, 2, 3", record={"completion": "1, 2, 3", "truncated": True}) == "truncated"
    assert MOD.reject_reason("1, 2, 3", record={"completion": "1, 2, 3"}) is None
