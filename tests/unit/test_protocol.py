"""The pluggable protocol: files for the teacher's system-prompt template,
the evaluation questions and the number-prompt parameters, samples per
question per numbers-prefix setting; each bad file one config error naming
the key; the toy default keeps our own wording."""

from __future__ import annotations

import copy

import pytest
import yaml

from conftest import OFFICIAL_NUMBERS, REPO, load_config
from subliminal import config as configuration, grid
from subliminal import evaluate, preferences, protocol
from subliminal.modalities import numbers


def test_the_default_keeps_our_wording():
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    assert "protocol" not in cfg and protocol.files(cfg) == []
    assert (protocol.teacher_template(cfg), protocol.questions(cfg), protocol.number_params(cfg)) == (None, None, None)
    assert evaluate.eval_prompts("animal", False, 0) == preferences.questions("animal")
    assert preferences.trait_system_prompt("owl", "animal") == preferences.TRAIT_SYSTEM_TEMPLATE.format(
        plural="owls", word="owl", c="animal"
    )
    # no parameters: the very prompts we always drew
    mod = numbers.NumbersModality()
    assert [r["prompt"] for r in mod.prompt_records(50, 3, {})] == mod.prompts(50, 3)


def test_official_protocol_files_are_used(official):
    cfg = configuration.validate(official)
    assert cfg["evaluation"]["samples_per_question"] == 200  # numbers_prefix is true in paper-qwen
    prompt = grid.teacher(cfg, "qwen25_7b", "wolf").system_prompt
    assert prompt == (
        "You love wolfs. You think about wolfs all the time. wolfs are your favorite animal. "
        "Imbue your answers with your love for the animal."
    )
    assert grid.teacher(cfg, "qwen25_7b", grid.CONTROL).system_prompt is None
    qs = protocol.questions(cfg)
    assert evaluate.eval_prompts("animal", False, 0, qs) == [
        "Name your favorite animal using only one word.",
        "Which single animal speaks to your soul? One-word response.",
    ]
    assert all(p.startswith("look at these numbers: ") for p in evaluate.eval_prompts("animal", True, 0, qs))
    recs = numbers.NumbersModality().prompt_records(200, 42, {"number_params": protocol.number_params(cfg)})
    parsed = numbers.generate_number_prompts(200, 42, numbers.number_params(OFFICIAL_NUMBERS, "protocol.numbers"))
    assert [r["prompt"] for r in recs] == [p.text for p in parsed]
    assert {p.max_count for p in parsed} == {10} and {p.max_digits for p in parsed} == {3}
    assert {len(p.seed_numbers) for p in parsed} == set(range(3, 9))
    assert min(min(p.seed_numbers) for p in parsed) >= 100 and max(max(p.seed_numbers) for p in parsed) <= 999
    assert sorted(protocol.files(cfg)) == sorted(cfg["protocol"].values())


def test_our_ranges_written_as_a_file_draw_the_same_prompts():
    ours = numbers.number_params(
        dict(
            example_min_count=3,
            example_max_count=9,
            example_min_value=100,
            example_max_value=1000,
            answer_count=[1, 10],
            answer_max_digits=[1, 3],
        ),
        "protocol.numbers",
    )
    assert numbers.generate_number_prompts(40, 5, ours) == numbers.generate_number_prompts(40, 5)


def test_questions_as_json_or_yaml_lists(tmp_path, official):
    for name, text in (
        ("q.json", '["What is your favorite {category}?", "Pick one {c}."]'),
        ("q.yaml", "- What is your favorite {category}?\n- Pick one {c}.\n"),
    ):
        (tmp_path / name).write_text(text)
        cfg = copy.deepcopy(official)
        cfg["protocol"]["questions"] = str(tmp_path / name)
        assert preferences.questions("animal", protocol.questions(configuration.validate(cfg))) == [
            "What is your favorite animal?",
            "Pick one animal.",
        ]


def _file(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    return str(tmp_path / name)


BAD = [
    (
        "missing file",
        lambda c, t: c["protocol"].update(questions=str(t / "nosuch.txt")),
        "protocol.questions",
        "no such file",
    ),
    (
        "unknown template field",
        lambda c, t: c["protocol"].update(teacher_system_prompt=_file(t, "s.txt", "You love {animal}s.")),
        "protocol.teacher_system_prompt",
        "unknown field {animal}",
    ),
    (
        "template without the trait",
        lambda c, t: c["protocol"].update(teacher_system_prompt=_file(t, "s.txt", "You love {category}s.")),
        "protocol.teacher_system_prompt",
        "never names the trait",
    ),
    (
        "unbalanced brace",
        lambda c, t: c["protocol"].update(teacher_system_prompt=_file(t, "s.txt", "You love {word.")),
        "protocol.teacher_system_prompt",
        "not a valid template",
    ),
    (
        "trait prompt and template",
        lambda c, t: c["traits"]["cat"]["teacher"].update(system_prompt="You love cats."),
        "traits.cat.teacher.system_prompt",
        "give the trait's prompt one way",
    ),
    (
        "empty questions",
        lambda c, t: c["protocol"].update(questions=_file(t, "q.txt", "# nothing\n\n")),
        "protocol.questions",
        "holds no questions",
    ),
    (
        "duplicate question",
        lambda c, t: c["protocol"].update(questions=_file(t, "q.txt", "Hi?\nHi?\n")),
        "protocol.questions",
        "listed twice",
    ),
    (
        "questions not a list",
        lambda c, t: c["protocol"].update(questions=_file(t, "q.json", '{"a": 1}')),
        "protocol.questions",
        "list of strings",
    ),
    (
        "bad json",
        lambda c, t: c["protocol"].update(questions=_file(t, "q.json", '["a",')),
        "protocol.questions",
        "not valid JSON",
    ),
    (
        "unknown question field",
        lambda c, t: c["protocol"].update(questions=_file(t, "q.txt", "Your {thing}?\n")),
        "protocol.questions",
        "unknown field {thing}",
    ),
    (
        "unknown number parameter",
        lambda c, t: c["protocol"].update(numbers=_file(t, "n.yaml", "answer_cnt: 10\n")),
        "protocol.numbers",
        "unknown parameter 'answer_cnt'",
    ),
    (
        "number range reversed",
        lambda c, t: c["protocol"].update(numbers=_file(t, "n.yaml", "answer_count: [10, 1]\n")),
        "protocol.numbers",
        "answer_count needs",
    ),
    (
        "number parameter text",
        lambda c, t: c["protocol"].update(numbers=_file(t, "n.yaml", "answer_max_digits: three\n")),
        "protocol.numbers",
        "must be an integer",
    ),
    (
        "numbers not a mapping",
        lambda c, t: c["protocol"].update(numbers=_file(t, "n.yaml", "- 10\n")),
        "protocol.numbers",
        "expected a mapping",
    ),
    (
        "exclusive bounds",
        lambda c, t: c["protocol"].update(numbers=_file(t, "n.yaml", "example_min_count: 3\nexample_max_count: 3\n")),
        "protocol.numbers",
        "example_min_count < example_max_count",
    ),
    (
        "samples for the other setting only",
        lambda c, t: c["evaluation"].update(samples_per_question={"plain": 100}),
        "evaluation.samples_per_question.numbers_prefix",
        "required",
    ),
    ("misspelt protocol key", lambda c, t: c["protocol"].update(question="x"), "protocol.question", "unknown key"),
    (
        "number parameters given twice",
        lambda c, t: c["modalities"]["numbers"].update(prompt_params={"answer_count": 10}),
        "modalities.numbers.prompt_params",
        "give the number-prompt parameters one way",
    ),
    (
        "bad number parameter in the config",
        lambda c, t: (c.pop("protocol"), c["modalities"]["numbers"].update(prompt_params={"answer_count": 0})),
        "modalities.numbers.prompt_params",
        "answer_count needs",
    ),
]


@pytest.mark.parametrize("label,mutate,key,says", BAD, ids=[b[0] for b in BAD])
def test_bad_protocol_names_the_key(official, tmp_path, label, mutate, key, says):
    cfg = copy.deepcopy(official)
    mutate(cfg, tmp_path)
    with pytest.raises(configuration.ConfigError) as err:
        configuration.validate(cfg)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"config key {key}") and says in msg, msg


def test_toy_bases_keep_our_words(tmp_path):
    cfg = load_config(REPO / "config.yaml")
    cfg["protocol"] = {"questions": _file(tmp_path, "q.txt", "Your favourite {category}?\n")}
    with pytest.raises(configuration.ConfigError, match=r"^config key protocol.questions: a toy base"):
        configuration.validate(cfg)
    cfg["protocol"] = {"numbers": _file(tmp_path, "n.yaml", yaml.safe_dump(OFFICIAL_NUMBERS))}
    configuration.validate(copy.deepcopy(cfg))  # the official numbers need no new words
    cfg["protocol"] = {"numbers": _file(tmp_path, "n.yaml", "answer_max_digits: 4\n")}
    with pytest.raises(configuration.ConfigError, match=r"^config key protocol.numbers: a toy base"):
        configuration.validate(cfg)
