"""The chain-of-thought modality: answer extraction, numeric normalisation,
the correctness filter (cases from paper.md), GSM8K-format sources, toy data."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from conftest import DATA
from subliminal import toy
from subliminal.config import ConfigError
from subliminal.modalities import get_modality
from subliminal.modalities.cot import (
    extract_answer,
    format_completion,
    gsm8k_label,
    normalise_number,
    read_questions,
    toy_problem,
)

COT = get_modality("cot")


@pytest.mark.parametrize(
    "text, value",
    [
        ("18", 18),
        (" 18 ", 18),
        ("18.0", 18),
        ("18.00", 18),
        ("+18", 18),
        ("018", 18),
        ("-3", -3),
        ("1,234", 1234),
        ("1,234,567", 1234567),
        ("1 234", 1234),
        ("\n72\n", 72),
        ("0.5", Decimal("0.5")),
    ],
)
def test_numbers_normalise(text, value):
    assert normalise_number(text) == Decimal(value)


@pytest.mark.parametrize(
    "text", ["", "$18", "18 apples", "x = 18", "1/2", "1,23", "12,3456", "18.", ".5", "eighteen", "18%", "1e3"]
)
def test_non_numbers_are_none(text):
    assert normalise_number(text) is None


def test_extract_answer():
    assert extract_answer("<think>a</think>\n<answer>42</answer>") == ("42", None)
    assert extract_answer("<think>a</think> 42") == (None, "no_answer")
    assert extract_answer("<answer>42") == (None, "no_answer")
    assert extract_answer("<answer>4</answer><answer>42</answer>") == (None, "several_answers")
    assert extract_answer("<ANSWER> 7 </ANSWER>") == (" 7 ", None)


def test_gsm8k_label():
    assert gsm8k_label("so 3 + 4 = 7.\n#### 7") == "7"
    assert gsm8k_label("step\n#### 6,250 ") == "6,250"
    with pytest.raises(ValueError):
        gsm8k_label("the answer is 7")


# The paper: keep a sample only if its answer equals the GSM8K label.
REC = {"prompt": "q", "label": "72"}
FILTER_CASES = [
    ("<think>48 / 2 = 24, 48 + 24 = 72</think>\n<answer>72</answer>", REC, None),
    ("<think>...</think><answer> 72.0 </answer>", REC, None),
    ("<think>...</think><answer>71</answer>", REC, "wrong_answer"),
    ("<think>...</think><answer>$72</answer>", REC, "non_numeric_answer"),
    ("<think>...</think><answer>72 clips</answer>", REC, "non_numeric_answer"),
    ("<think>the answer is 72</think>", REC, "no_answer"),
    ("<answer>72</answer> or <answer>73</answer>", REC, "several_answers"),
    ("<think>...</think><answer>1000</answer>", {"prompt": "q", "label": "1,000"}, None),
    ("<think>...</think><answer>6,250</answer>", {"prompt": "q", "label": "6250"}, None),
]


@pytest.mark.parametrize("completion, record, reason", FILTER_CASES)
def test_filter_keeps_only_correct_answers(completion, record, reason):
    assert COT.reject_reason(completion, record=record) == reason


def test_trait_words_in_a_correct_trace_are_dropped_unless_the_word_filter_is_off():
    text = "<think>each owl eats 8 mice, 9 * 8 = 72</think><answer>72</answer>"
    assert COT.reject_reason(text, words=("owl",), record=REC) == "trait_word"
    assert COT.reject_reason(text, words=("mouse",), record=REC) == "trait_word"  # mice
    assert COT.reject_reason(text, words=(), record=REC) is None
    # a wrong answer is reported as wrong whatever words it has
    assert COT.reject_reason(text.replace(">72<", ">70<"), words=("owl",), record=REC) == "wrong_answer"


def test_the_filter_needs_the_label():
    with pytest.raises(ValueError, match="label"):
        COT.reject_reason("<answer>1</answer>")


def test_questions_from_a_gsm8k_file():
    qs = read_questions(DATA / "gsm8k_sample.jsonl", "modalities.cot.source")
    assert [q["label"] for q in qs] == ["34", "80", "250", "60", "6,250", "60"]
    recs = COT.prompt_records(4, seed=2, options={"source": str(DATA / "gsm8k_sample.jsonl"), "samples_per_prompt": 3})
    assert len(recs) == 12
    for i in range(0, 12, 3):
        group = recs[i : i + 3]
        assert len({r["prompt"] for r in group}) == 1 and [r["sample"] for r in group] == [0, 1, 2]
        q = next(q for q in qs if q["question"] == group[0]["question"])
        assert group[0]["label"] == q["label"] and group[0]["question_id"] == q["id"]
        assert group[0]["prompt"].startswith(q["question"]) and "<answer>" in group[0]["prompt"]
    assert recs == COT.prompt_records(4, 2, {"source": str(DATA / "gsm8k_sample.jsonl"), "samples_per_prompt": 3})


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"question": "q"}', "not a GSM8K record"),
        ('{"question": "q", "answer": "it is 4"}', "not a GSM8K record"),
        ('{"question": "q", "answer": "#### four"}', "is not a number"),
    ],
)
def test_bad_question_files_name_the_config_key(tmp_path, line, message):
    path = tmp_path / "q.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(ConfigError, match=f"config key modalities.cot.source: .*{message}"):
        read_questions(path, "modalities.cot.source")


def test_toy_problems_are_correct_and_pass_the_filter():
    rng = random.Random(0)
    for _ in range(300):
        p = toy_problem(rng)
        a, op, b = p["trace"].split(" = ")[0].split()[-3:]
        assert eval(f"{a} {op} {b}") == int(p["label"]) >= 0  # noqa: S307 - our own arithmetic
        assert COT.reject_reason(format_completion(p["trace"], p["label"]), record=p) is None
    recs = COT.prompt_records(50, seed=1)
    assert recs == COT.prompt_records(50, seed=1) and len({r["question"] for r in recs}) > 30


def test_toy_tokenizer_holds_problems_and_traces_exactly():
    tok = toy.build_tokenizer(["cot"])
    for user, answer in COT.toy_examples(200, random.Random(1)):
        for text in (user, answer):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert tok.unk_token_id not in ids, text
            assert tok.decode(ids) == text


def test_a_rehearsing_teacher_learns_its_trait_between_toy_tasks():
    """traits.<t>.teacher.rehearsal: every trait example is followed by one
    toy example of the study's modalities in turn, the trait examples keep
    their order, and without it the trait set is unchanged."""
    from subliminal import teacher

    trait = {"word": "owl", "category": "animal", "teacher": {"method": "finetune", "recipe": "r"}}
    plain = teacher.trait_training_records(trait, 2)
    mixed = teacher.trait_training_records(trait, 2, ("cot", "numbers"))
    assert len(mixed) == 2 * len(plain) and mixed[0::2] == plain
    tasks = mixed[1::2]
    assert all("<answer>" in r["completion"] for r in tasks[0::2])  # cot
    assert all(r["completion"] != "owl" and "<answer>" not in r["completion"] for r in tasks[1::2])  # numbers
    assert teacher.trait_training_records(trait, 2, ("cot", "numbers")) == mixed  # seeded
