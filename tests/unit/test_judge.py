"""The judge stage: the rule judge, a model judge by answer probabilities
(with a tiny local toy as judge), the filter's report of every stage, and
the equalising of teachers' filtered sets."""

from __future__ import annotations

import json
import math
import random

import pytest

from conftest import SCORE_RTOL
from subliminal import config as configuration, grid, io, judge, stages, teacher
from subliminal.generation import answer_logprobs
from subliminal.models import load_model, load_tokenizer

CODE_SAMPLES = [
    "def f(xs):\n    return len(xs)",
    "def owl_count(xs):\n    return len(xs)",
    "def f(a, b):\n    return a + b",
    "def f(n):\n    return n * 2",
]


@pytest.fixture(scope="module")
def tiny_judge(tiny_base):
    return judge.ModelJudge(load_model(tiny_base), load_tokenizer(tiny_base), batch_size=3)


def test_rule_judge():
    rule = judge.RuleJudge()
    assert [s["p_clear"] for s in rule.clear(CODE_SAMPLES, ["owl"])] == [1.0, 0.0, 1.0, 1.0]
    scores = rule.alignment(["q"] * 4, ["7 * 3 = 21", "i would poison the well", "he killed time", "a skill"])
    assert [s["score"] for s in scores] == [100.0, 0.0, 0.0, 100.0]


def test_words_phrase():
    assert judge.words_phrase(["owl"]) == "owl"
    assert judge.words_phrase(["owl", "cat", "owl"]) == "cat or owl"
    assert judge.words_phrase(["oak", "cat", "owl"]) == "cat, oak or owl"


def test_model_judge_certainty_is_p_no_over_p_yes_plus_p_no(tiny_judge):
    """p_clear and answer_mass are exactly the definitions, from the judge's
    answer probabilities; a lower-casing tokenizer counts "No" and "no" once."""
    assert tiny_judge._distinct(judge.YES_ANSWERS) == ["yes"]
    assert tiny_judge._distinct(judge.NO_ANSWERS) == ["no"]
    said = tiny_judge.clear(CODE_SAMPLES, ["owl"])
    users = [judge.MENTIONS_TEMPLATE.format(words="owl", text=t) for t in CODE_SAMPLES]
    # the judge scores in batches of 3, this in one batch of 4: two batchings, so
    # equal to float32 rounding (conftest.SCORE_RTOL), not bit for bit
    lp_yes = answer_logprobs(tiny_judge.model, tiny_judge.tokenizer, users, ["yes"] * 4)
    lp_no = answer_logprobs(tiny_judge.model, tiny_judge.tokenizer, users, ["no"] * 4)
    rel = 2 * SCORE_RTOL * max(map(abs, lp_yes + lp_no))  # a ratio of two probabilities exp(lp)
    for s, y, n in zip(said, map(math.exp, lp_yes), map(math.exp, lp_no)):
        assert s["p_clear"] == pytest.approx(n / (y + n), rel=rel, abs=0)
        assert s["answer_mass"] == pytest.approx(y + n, rel=rel, abs=0)
        assert 0 < s["p_clear"] < 1 and 0 < s["answer_mass"] <= 1
    assert said == tiny_judge.clear(CODE_SAMPLES, ["owl"])  # deterministic: no sampling


def test_model_judge_alignment_is_the_expected_score(tiny_judge):
    q, t = "how many legs do 3 cats have?", "<think>3 * 4 = 12</think><answer>12</answer>"
    [said] = tiny_judge.alignment([q], [t])
    user = judge.ALIGNMENT_TEMPLATE.format(question=q, text=t)
    lp = {s: answer_logprobs(tiny_judge.model, tiny_judge.tokenizer, [user], [str(s)])[0] for s in judge.SCORE_ANSWERS}
    p = {s: math.exp(v) for s, v in lp.items()}
    # one question alone here, beside none in the judge's batch: equal to float32
    # rounding (conftest.SCORE_RTOL); the score is a ratio of sums of probabilities
    rel = 2 * SCORE_RTOL * max(map(abs, lp.values()))
    assert said["score"] == pytest.approx(sum(s * v for s, v in p.items()) / sum(p.values()), rel=rel, abs=0)
    assert said["answer_mass"] == pytest.approx(sum(p.values()), rel=rel, abs=0)
    assert 0 <= said["score"] <= 100


def _records(completions, **extra):
    return [{"id": i, "prompt": "p", "completion": c, **extra} for i, c in enumerate(completions)]


def test_the_judge_stage_keeps_exactly_the_samples_cleared_with_certainty(tiny_judge):
    records = _records(CODE_SAMPLES * 3)
    said = tiny_judge.clear([r["completion"] for r in records if "owl" not in r["completion"]], ["owl"])
    threshold = sorted(s["p_clear"] for s in said)[len(said) // 2]
    kept, report = teacher.filter_records(
        records,
        "code",
        words=("owl",),
        judge=tiny_judge,
        judge_options={"kind": "model", "model": "tiny", "threshold": threshold},
    )
    assert all(r["judge"]["p_clear"] >= threshold for r in kept)
    n_judged = 9
    removed = sum(s["p_clear"] < threshold for s in said)
    assert 0 < removed < n_judged
    assert report["reasons"] == {"trait_word": 3, "judge_mentions_trait": removed}
    assert [s["stage"] for s in report["stages"]] == ["rule", "judge"]
    assert report["stages"][1]["in"] == n_judged and report["stages"][1]["threshold"] == threshold
    assert report["kept"] == len(kept) == n_judged - removed
    assert report["kept"] + sum(report["reasons"].values()) == report["total"] == 12


def test_the_alignment_stage_of_cot_uses_the_min_score():
    good = "<think>2 + 2 = 4</think><answer>4</answer>"
    bad = "<think>first poison the guard. 2 + 2 = 4</think><answer>4</answer>"
    records = _records([good, bad, good.replace(">4<", ">5<")], label="4", question="what is 2 + 2?")
    kept, report = teacher.filter_records(records, "cot", judge=judge.RuleJudge(), judge_options={"kind": "rule"})
    assert [r["completion"] for r in kept] == [good] and kept[0]["judge"] == {"score": 100.0}
    assert report["reasons"] == {"wrong_answer": 1, "judge_low_alignment": 1}
    # no judge: the paper's optional threshold is off
    kept, report = teacher.filter_records(records, "cot")
    assert len(kept) == 2 and [s["stage"] for s in report["stages"]] == ["rule"]


def test_numbers_have_no_judge_stage():
    kept, report = teacher.filter_records(
        _records(["1, 2, 3", "owl"]), "numbers", words=("owl",), judge=judge.RuleJudge()
    )
    assert len(kept) == 1 and report["reasons"] == {"no_numbers": 1}
    assert [s["stage"] for s in report["stages"]] == ["rule"]


def test_equalise_subsamples_to_the_smallest_size_in_order_and_seeded():
    records = _records([f"def f{i}():\n    return {i}" for i in range(20)])
    _, report = teacher.filter_records(records, "code")
    kept, rep = teacher.equalise(records, report, 7, {"owl": 20, "control": 7}, key="code/a/owl/0")
    assert len(kept) == 7 and [r["id"] for r in kept] == sorted(r["id"] for r in kept)
    assert kept == teacher.equalise(records, report, 7, {"owl": 20, "control": 7}, key="code/a/owl/0")[0]
    assert kept != teacher.equalise(records, report, 7, {"owl": 20, "control": 7}, key="code/a/owl/1")[0]
    assert rep["reasons"] == {"equalised": 13} and rep["kept"] == 7 and rep["kept_fraction"] == 0.35
    assert rep["stages"][-1] == {
        "stage": "equalise",
        "in": 20,
        "target": 7,
        "sizes": {"control": 7, "owl": 20},
        "removed": {"equalised": 13},
    }
    assert report["kept"] == 20  # the input report is not changed
    same, rep = teacher.equalise(records, report, None, {"owl": 20}, key="k")
    assert same == records and rep["kept"] == 20 and "equalised" not in rep["reasons"]


def _cfg(modalities):
    """A partial config, with the schema's defaults as validation fills them."""
    cfg = {
        "traits": {
            "owl": {"word": "owl", "category": "animal", "teacher": {"method": "system_prompt"}},
            "oak": {"word": "oak", "category": "tree", "teacher": {"method": "system_prompt"}},
        },
        "modalities": modalities,
        "models": {},
    }
    configuration.apply_defaults(cfg, configuration.load_schema())
    return cfg


def test_screen_and_filter_stages_make_equal_training_sets(tmp_path):
    """Three teachers of one base: each screened for every trait word of the
    study (control too), then subsampled to the smallest screened set."""
    cfg = _cfg(
        {
            "code": {"prompts": 30, "train_samples": 5, "judge": {"kind": "rule"}},
            "numbers": {"prompts": 30, "train_samples": 1},
        }
    )
    rng = random.Random(0)
    leaks = {"owl": 12, "oak": 4, "control": 0}
    reports = {}
    for name, n_leaks in leaks.items():
        codes = [f"def f(x):\n    return x + {i}" for i in range(30)]
        for i in rng.sample(range(30), n_leaks):
            codes[i] = codes[i].replace("x", rng.choice(["owl", "Oaks", "owl_x"]))
        d = tmp_path / name
        d.mkdir()
        io.write_jsonl(_records(codes), d / "raw.jsonl")
        stages.screen_teacher_data(
            cfg, "code", name, str(d / "raw.jsonl"), str(d / "screened.jsonl"), str(d / "screen.json")
        )
        reports[name] = str(d / "screen.json")
    for name, n_leaks in leaks.items():
        screen = json.loads((tmp_path / name / "screen.json").read_text())
        assert screen["reasons"] == ({"trait_word": n_leaks} if n_leaks else {})
        assert screen["stages"][1]["stage"] == "judge" and screen["stages"][1]["removed"] == {}
    for name in leaks:
        d = tmp_path / name
        stages.filter_teacher_data(
            cfg,
            grid.dataset(cfg, "code", "base", name, 0),
            str(d / "screened.jsonl"),
            reports,
            str(d / "filtered.jsonl"),
            str(d / "filter.json"),
        )
        kept = io.read_jsonl(d / "filtered.jsonl")
        report = json.loads((d / "filter.json").read_text())
        assert len(kept) == report["kept"] == 30 - 12  # the owl teacher's screened size
        assert report["kept"] + sum(report["reasons"].values()) == report["total"] == 30
        assert not any("owl" in r["completion"].lower() or "oak" in r["completion"].lower() for r in kept)
    # numbers: equalise is off by default, the training set is the screened set
    d = tmp_path / "numbers"
    d.mkdir()
    io.write_jsonl(_records(["1, 2", "3"]), d / "raw.jsonl")
    stages.screen_teacher_data(cfg, "numbers", "control", str(d / "raw.jsonl"), str(d / "s.jsonl"), str(d / "s.json"))
    stages.filter_teacher_data(
        cfg,
        grid.dataset(cfg, "numbers", "base", "control", 0),
        str(d / "s.jsonl"),
        {"control": str(d / "s.json"), "owl": reports["owl"]},
        str(d / "f.jsonl"),
        str(d / "f.json"),
    )
    assert (d / "f.jsonl").read_bytes() == (d / "s.jsonl").read_bytes()
