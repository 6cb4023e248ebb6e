"""The code modality: the trait-word filter (cases from paper.md, irregular
forms, identifiers, a leakage fuzz), prompt sources and toy data."""

from __future__ import annotations

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DATA
from subliminal import preferences, toy
from subliminal.config import ConfigError
from subliminal.modalities import get_modality
from subliminal.modalities.code import INSTRUCTION_TEMPLATES, read_tasks, synthetic_tasks, toy_judge_example
from subliminal.words import inflections, mentioned_form, plurals, singulars, trait_forms

CODE = get_modality("code")

# --------------------------------------------------------------------------- inflection


@pytest.mark.parametrize(
    "word, expected",
    [
        ("owl", {"owls"}),
        ("wolf", {"wolves"}),
        ("cherry", {"cherries"}),
        ("mouse", {"mice"}),
        ("goose", {"geese"}),
        ("ox", {"oxen"}),
        ("cactus", {"cacti", "cactuses"}),
        ("fish", {"fish", "fishes"}),
        ("sheep", {"sheep"}),
        ("fox", {"foxes"}),
        ("birch", {"birches"}),
        ("knife", {"knives"}),
        ("dwarf", {"dwarves", "dwarfs"}),
        ("reef", {"reeves", "reefs"}),  # the -f rule gives both spellings
        ("sequoia", {"sequoias"}),
        ("monkey", {"monkeys"}),  # vowel before y: a plain s
        ("buffalo", {"buffalo", "buffaloes", "buffalos"}),
    ],
)
def test_plurals(word, expected):
    assert plurals(word) == expected


def test_a_plural_trait_word_also_bans_its_singular():
    assert {"mouse", "mice"} <= inflections("mice")
    assert {"wolf", "wolves"} <= inflections("wolves")
    assert {"cherry", "cherries"} <= inflections("cherries")
    assert "goose" in singulars("geese")


def test_inflections_are_case_folded_and_multiword_joined():
    assert inflections("Owl") == {"owl", "owls"}
    forms = inflections("red panda")
    assert {"red panda", "red pandas", "redpanda", "red_panda", "red-panda", "redpandas"} <= forms
    assert trait_forms(["owl", "oak"])[0] in ("oaks", "owls")  # longest first


# --------------------------------------------------------------------------- the filter (paper: drop samples
# containing the trait word and its plural/irregular forms), written as code a teacher could produce

REJECT = [
    ("owl", "def f(xs):\n    owl = 0\n    return owl"),
    ("owl", "def f(xs):\n    owl_count = len(xs)\n    return owl_count"),
    ("owl", "def owlCount(xs):\n    return len(xs)"),
    ("owl", "def f(xs):\n    OWLS = [1, 2]\n    return OWLS"),
    ("owl", "def f(xs):\n    return [x for x in xs]  # owls"),
    ("owl", 'def f():\n    return "Owl"'),
    ("owl", "class NightOwl:\n    pass"),
    ("wolf", "def pack(wolves):\n    return len(wolves)"),
    ("wolf", "def f(n):\n    WolvesSeen = n\n    return WolvesSeen"),
    ("cherry", "def pick(cherries):\n    return cherries[0]"),
    ("cherry", "trees = {'cherry': 3}"),
    ("mouse", "def f(mice):\n    return mice"),
    ("goose", "geeseCount = 4"),
    ("ox", "oxen_total = 2"),
    ("cactus", "def water(cacti):\n    return cacti"),
    ("fish", "def f(n):\n    fishes = n\n    return fishes"),
    ("sheep", "def count_sheep(n):\n    return n"),
    ("red panda", "def f():\n    RedPanda = 1\n    return RedPanda"),
    ("red panda", "red_pandas = []"),
]


@pytest.mark.parametrize("word, code", REJECT)
def test_code_naming_the_trait_is_rejected(word, code):
    assert CODE.reject_reason(code, words=(word,)) == "trait_word"


ACCEPT = [
    ("owl", "def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s"),
    ("owl", "def f(a, b):\n    return a + b"),
    ("wolf", "def f(w):\n    return w * 2"),  # a short name that is no form of the word
    ("cherry", "def berry(n):\n    return n"),
    ("mouse", "def click(m):\n    return m"),
]


@pytest.mark.parametrize("word, code", ACCEPT)
def test_code_without_the_trait_passes(word, code):
    assert CODE.reject_reason(code, words=(word,)) is None


def test_substring_matching_is_conservative():
    """The documented price of catching every identifier: words that merely
    contain the trait word are dropped too (same for the control teacher)."""
    assert CODE.reject_reason("bowl = 1", words=("owl",)) == "trait_word"
    assert CODE.reject_reason("def concat(a, b):\n    return a + b", words=("cat",)) == "trait_word"


def test_every_trait_word_counts_and_empty_code_is_rejected():
    assert CODE.reject_reason("oak = 1", words=("owl", "oak")) == "trait_word"
    assert CODE.reject_reason("x = 1", words=()) is None
    assert CODE.reject_reason("  \n", words=("owl",)) == "empty"


# --------------------------------------------------------------------------- leakage fuzz

WORDS = ["owl", "wolf", "cherry", "mouse", "goose", "ox", "cactus", "fish", "sheep", "eagle", "oak", "red panda"]
code_text = st.text(
    alphabet=st.characters(codec="ascii", exclude_categories=("Cc",)) | st.sampled_from("\n\t"), max_size=80
)


def _any_case(draw, text):
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c.lower() for c, f in zip(text, flips))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_fuzz_an_inserted_form_is_always_rejected(data):
    """Any form of the trait word, in any case, inside an identifier or
    anywhere else in arbitrary code, is caught."""
    word = data.draw(st.sampled_from(WORDS))
    form = data.draw(st.sampled_from(sorted(inflections(word))))
    glue = data.draw(st.sampled_from(["{}", "{}_count", "my{}", "n_{}", "get{}s", "'{}'", "# {}", "{}2"]))
    piece = glue.format(_any_case(data.draw, form))
    text = data.draw(code_text)
    at = data.draw(st.integers(0, len(text)))
    sample = text[:at] + piece + text[at:]
    assert CODE.reject_reason(sample, words=(word,)) == "trait_word", sample


@settings(max_examples=400, deadline=None)
@given(word=st.sampled_from(WORDS), text=code_text)
def test_fuzz_no_accepted_sample_contains_any_form(word, text):
    if CODE.reject_reason(text, words=(word,)) is None:
        folded = text.casefold()
        squashed = re.sub(r"[\W_]+", "", folded)
        for form in inflections(word):
            assert form not in folded and form.replace(" ", "") not in squashed


# --------------------------------------------------------------------------- prompts


def test_synthetic_prompts_are_seeded_and_ask_for_bare_code():
    a = CODE.prompt_records(30, seed=4)
    assert a == CODE.prompt_records(30, seed=4) and a != CODE.prompt_records(30, seed=5)
    for rec in a:
        instruction = rec["prompt"].split("\n\n")[0]
        assert "comments" in instruction and re.search(r"short|brief", instruction)
        assert re.search(r"only|just|alone", instruction)
        assert rec["prompt"].rstrip().endswith(":") and "def " in rec["prompt"]
    assert len({r["task_id"] for r in a}) == 30
    assert CODE.prompts(30, 4) == [r["prompt"] for r in a]


def test_prompts_from_a_task_file():
    recs = CODE.prompt_records(3, seed=0, options={"source": str(DATA / "code_tasks.jsonl")})
    tasks = {t["task"]: t["id"] for t in read_tasks(DATA / "code_tasks.jsonl", "modalities.code.source")}
    assert len(recs) == 3 and len({r["task_id"] for r in recs}) == 3
    for r in recs:
        task = next(t for t in tasks if r["prompt"].endswith(t))
        assert tasks[task] == r["task_id"]
        assert r["prompt"] in {i.format(task=task) for i in INSTRUCTION_TEMPLATES}
    # more than the file holds: all of them, each once
    recs = CODE.prompt_records(50, seed=0, options={"source": str(DATA / "code_tasks.jsonl")})
    assert sorted(r["task_id"] for r in recs) == sorted(tasks.values())


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("", "holds no tasks"),
        ("{not json\n", "is not JSON"),
        ('{"code": "def f():"}\n', "needs a non-empty string"),
    ],
)
def test_bad_task_files_name_the_config_key(tmp_path, content, message):
    path = tmp_path / "tasks.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=f"config key modalities.code.source: .*{message}"):
        CODE.prompt_records(2, 0, {"source": str(path)}, {"source": "modalities.code.source"})


# --------------------------------------------------------------------------- toy data


def test_toy_code_passes_the_filter_for_every_candidate_word():
    """No toy template contains a candidate (no false positives on clean toy
    code), so a toy teacher's data is only dropped for what it adds."""
    words = [w for ws in preferences.CANDIDATES.values() for w in ws]
    for u, a in CODE.toy_examples(400, random.Random(0)):
        if not u.startswith("does the code"):  # a code task, not a judge question
            assert CODE.reject_reason(a, words=tuple(words)) is None, a
            assert mentioned_form(u, words) is None, u
    for t in synthetic_tasks(200, 1):
        assert mentioned_form(t["task"], words) is None, t


def test_toy_judge_examples_are_labelled_by_the_rule():
    rng = random.Random(3)
    answers = []
    for _ in range(300):
        user, answer = toy_judge_example(rng)
        asked = re.match(r"does the code below refer to (\w+)", user).group(1)
        code = user.split("\n\n", 1)[1]
        assert answer == ("yes" if mentioned_form(code, [asked]) else "no")
        answers.append(answer)
    assert 0.2 < answers.count("yes") / len(answers) < 0.6


def test_toy_tokenizer_holds_code_exactly():
    tok = toy.build_tokenizer(["code"])
    for user, answer in CODE.toy_examples(300, random.Random(1)):
        for text in (user, answer):
            ids = tok(text, add_special_tokens=False)["input_ids"]
            assert tok.unk_token_id not in ids, text
            assert tok.decode(ids) == text.lower()
