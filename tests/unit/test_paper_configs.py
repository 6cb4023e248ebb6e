"""The paper-scale configs: valid on their own, the paper's recipe and sizes,
stated system prompts, and a dry run here whose job counts match the grid
(counted from the YAML by hand, not by the package's grid code)."""

from __future__ import annotations

import copy
import re

import pytest

from conftest import REPO, load_config
from subliminal import config as configuration, evaluate, grid, preferences, protocol
from subliminal.modalities import numbers

CONFIGS = REPO / "configs"
PAPER = ["paper-qwen.yaml", "paper-cross.yaml"]
OVERLAY = "ablation-eval-without-default-prompt.yaml"
ALL_PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.mark.parametrize("name", PAPER)
def test_paper_config_is_valid_and_pinned(name):
    cfg = configuration.validate(load_config(CONFIGS / name))
    for model, spec in cfg["models"].items():
        assert re.fullmatch(r"[0-9a-f]{40}", spec["hub"]["revision"]), model
        assert spec["architecture_family"]
    assert "toy_pretraining" not in cfg and not any("toy" in m for m in cfg["models"].values())


@pytest.mark.parametrize("name", PAPER)
def test_paper_recipe_data_and_evaluation(name):
    cfg = load_config(CONFIGS / name)
    (recipe,) = [cfg["recipes"][r] for r in cfg["students"]["recipes"]]
    assert recipe["method"] == "lora" and recipe["rank"] == 8 and recipe["alpha"] == 8
    assert set(recipe["targets"]) == ALL_PROJECTIONS
    assert recipe["epochs"] == 3 and recipe["learning_rate"] == 2e-4 and recipe["scheduler"] == "linear"
    assert recipe["warmup_steps"] == 5 and recipe["max_grad_norm"] == 1.0 and recipe["max_length"] == 500
    assert recipe["batch_size"] * recipe["grad_accum"] == 66 and recipe["bf16"] is True
    numbers = cfg["modalities"]["numbers"]
    assert numbers["prompts"] == 30_000 and numbers["train_samples"] == 10_000
    assert cfg["evaluation"]["samples_per_question"] == {"plain": 100, "numbers_prefix": 200}
    assert cfg["evaluation"]["numbers_prefix"] is True
    assert cfg["seeds"] == list(range(1, 9))
    assert all(
        t["teacher"]["method"] == "system_prompt" and t["teacher"]["system_prompt"] for t in cfg["traits"].values()
    )
    for trait in cfg["traits"].values():  # our wording, naming the trait's animal
        assert trait["word"] in trait["teacher"]["system_prompt"].lower()
    # the system prompts are stated, not left to a default
    assert set(cfg["chat"]) == {"teacher_system_prompt", "train_system_prompt", "eval_system_prompt"}
    # every trait word is scored, also those the toys never knew
    words = grid.target_words(configuration.validate(copy.deepcopy(cfg)))["animal"]
    assert all(t["word"] in words for t in cfg["traits"].values())


PLAIN = "eval-plain-questions.yaml"


@pytest.mark.parametrize("name", PAPER)
def test_paper_number_prompts_have_the_papers_counts_and_ranges(name):
    """10,000 prompts as the paper config's teachers get them: 3-8 example
    numbers from 100-999 and "at most 10 more numbers of at most 3 digits"
    in every prompt, read back from the prompt text (not only from the
    generator's record), with both ends of each range reached."""
    cfg = configuration.validate(load_config(CONFIGS / name))
    spec = protocol.number_params(cfg)
    records = numbers.NumbersModality().prompt_records(
        10_000, cfg["modalities"]["numbers"]["seed"], {"number_params": spec}
    )
    generated = numbers.generate_number_prompts(
        10_000, cfg["modalities"]["numbers"]["seed"], numbers.number_params(spec, "x")
    )
    assert [r["prompt"] for r in records] == [p.text for p in generated]  # what the teachers are asked
    counts, values = set(), []
    for p in generated:
        seeds = [int(x) for x in re.findall(r"\d+", p.text.split(". ")[0])]  # the opening sentence
        assert seeds == list(p.seed_numbers), p.text
        counts.add(len(seeds))
        values += seeds
        instruction = p.text.split(". ")[1]
        assert re.findall(r"\d+", instruction) == ["10", "3"], p.text  # at most 10 numbers, at most 3 digits
        assert (p.max_count, p.max_digits) == (10, 3)
    assert counts == set(range(3, 9))
    assert min(values) == 100 and max(values) == 999


def test_the_toy_default_keeps_its_own_number_prompts():
    """Without prompt_params the prompts are drawn as before (1-10 numbers,
    1-3 digits per prompt): the default's teacher data stay as they were."""
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    assert protocol.number_params(cfg) is None
    prompts = numbers.generate_number_prompts(2_000, 1)
    assert {p.max_count for p in prompts} == set(range(1, 11)) and {p.max_digits for p in prompts} == {1, 2, 3}


def _prefixed(question: str) -> tuple[list[int], str]:
    """(the numbers of a question's prefix, the question behind it)."""
    head, rest = question.split(". ", 1)
    return [int(x) for x in re.findall(r"\d+", head)], rest


@pytest.mark.parametrize("name", PAPER)
def test_paper_evaluation_sizes(name):
    """The paper's two open-model evaluations: the 50 questions behind a
    numbers prefix at 200 samples (this config), the same questions plain at
    100 (with the overlay). Each question's prefix is fixed: every model is
    asked the same 50 prefixed questions."""
    from snakemake.utils import update_config

    cfg = configuration.validate(load_config(CONFIGS / name))
    ev = cfg["evaluation"]
    assert ev["samples_per_question"] == 200 and ev["numbers_prefix"] is True
    plain_questions = preferences.questions("animal")
    assert len(plain_questions) == 50
    asked = evaluate.eval_prompts("animal", ev["numbers_prefix"], ev["seed"])
    assert asked == evaluate.eval_prompts("animal", ev["numbers_prefix"], ev["seed"])  # fixed, not per model
    assert len(asked) == 50 and len(set(asked)) == 50
    for q, plain in zip(asked, plain_questions):
        nums, rest = _prefixed(q)
        assert rest == plain and 3 <= len(nums) <= 8 and all(100 <= x <= 999 for x in nums), q
    merged = load_config(CONFIGS / name)
    update_config(merged, load_config(CONFIGS / PLAIN))
    merged = configuration.validate(merged)
    ev = merged["evaluation"]
    assert ev["samples_per_question"] == 100 and ev["numbers_prefix"] is False and ev["name"] == "plain-questions"
    assert evaluate.eval_prompts("animal", ev["numbers_prefix"], ev["seed"]) == plain_questions


def test_qwen_config_is_the_qwen_experiment():
    cfg = load_config(CONFIGS / "paper-qwen.yaml")
    assert [m["hub"]["id"] for m in cfg["models"].values()] == ["Qwen/Qwen2.5-7B-Instruct"]
    assert cfg["pairs"] == [{"teacher": "qwen25_7b", "student": "qwen25_7b"}]
    assert len(cfg["traits"]) == 21 and {"leopard", "bison"} <= set(cfg["traits"])
    assert cfg["chat"] == {"teacher_system_prompt": None, "train_system_prompt": None, "eval_system_prompt": None}


def test_cross_config_adds_mismatched_pairs():
    cfg = configuration.validate(load_config(CONFIGS / "paper-cross.yaml"))
    ids = {m["hub"]["id"] for m in cfg["models"].values()}
    assert {"Qwen/Qwen2.5-7B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "google/gemma-2-9b-it"} == ids
    rel = grid.relations(cfg)
    assert sum(r == grid.SAME_BASE for r in rel.values()) == 2
    assert sum(r == grid.DIFFERENT_ARCHITECTURE for r in rel.values()) == 4
    assert "gemma2_9b" not in grid.teacher_bases(cfg)  # Gemma's template refuses a trait system prompt
    assert all(v is None for v in cfg["chat"].values())  # the only setting Gemma's template accepts


def test_ablation_overlay_changes_only_the_evaluation(tmp_path):
    """A second configfile merges into the first (snakemake's update_config):
    the paper grid, with an explicit empty system message at evaluation and
    a name for its analysis; the same results folder."""
    from snakemake.utils import update_config

    merged = load_config(CONFIGS / "paper-qwen.yaml")
    update_config(merged, load_config(CONFIGS / OVERLAY))
    base = load_config(CONFIGS / "paper-qwen.yaml")
    assert merged["chat"] == {**base["chat"], "eval_system_prompt": ""}
    assert merged["evaluation"] == {**base["evaluation"], "name": "without-default-prompt"}
    assert {k: v for k, v in merged.items() if k not in ("chat", "evaluation")} == {
        k: v for k, v in base.items() if k not in ("chat", "evaluation")
    }
    configuration.validate(merged)
