"""The paper-scale configs: valid on their own, the paper's recipe and sizes,
stated system prompts, and a dry run here whose job counts match the grid
(counted from the YAML by hand, not by the package's grid code)."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import pytest
import yaml

from conftest import dry_run, load_config, summary_outputs
from subliminal import config as configuration, evaluate, grid, preferences, protocol
from subliminal.modalities import numbers

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
PAPER = ["paper-qwen.yaml", "paper-cross.yaml"]
OVERLAY = "ablation-eval-without-default-prompt.yaml"
ALL_PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def planned(*configfiles: str, results: Path) -> dict[str, int]:
    """rule -> job count from `snakemake -n`, with the results folder moved
    to an empty place (a second configfile, merged last)."""
    override = results.parent / f"{results.name}.results.yaml"
    override.write_text(yaml.safe_dump({"results": str(results)}))
    return dry_run(configfiles=[*(CONFIGS / c for c in configfiles), override]).counts


@pytest.fixture(scope="module")
def dags(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper")
    return {name: planned(name, results=root / name.removesuffix(".yaml")) for name in PAPER}


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


@pytest.mark.parametrize("name", PAPER)
def test_dry_run_job_counts_follow_the_grid(dags, name):
    cfg = load_config(CONFIGS / name)
    jobs = dags[name]
    # the grid by hand: pairs as written (a {teachers, students} entry is a cross product)
    pairs = set()
    for p in cfg["pairs"]:
        pairs |= (
            {(p["teacher"], p["student"])} if "teacher" in p else {(t, s) for t in p["teachers"] for s in p["students"]}
        )
    teacher_bases = {t for t, _ in pairs}
    student_bases = {s for _, s in pairs}
    teachers = len(cfg["traits"]) + 1  # every trait and the control
    students = len(pairs) * teachers * len(cfg["seeds"]) * len(cfg["students"]["recipes"])
    datasets = len(teacher_bases) * teachers * len(cfg["modalities"])
    expected = {
        "fetch_base": len(teacher_bases | student_bases),
        "sample_teacher": datasets,
        "filter_teacher_data": datasets,
        "evaluate_teacher": datasets,
        "train_student": students,
        "evaluate_student": students,
        "evaluate_base": len(student_bases),
    }
    assert {k: jobs.get(k, 0) for k in expected} == expected
    assert "build_toy_base" not in jobs and "finetune_teacher" not in jobs and "auxlogit" not in jobs


def test_qwen_dry_run_totals(dags):
    """The numbers the README quotes."""
    assert dags["paper-qwen.yaml"]["train_student"] == 176 and dags["paper-cross.yaml"]["train_student"] == 288


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


#: The rules whose jobs depend on the evaluation settings.
EVALUATION_RULES = {
    "evaluate_base",
    "evaluate_teacher",
    "evaluate_student",
    "collect_scores",
    "collect_targets",
    "collect_teachers",
    "collect_misalignment",
    "collect_provenance",
    "statistics",
    "figure",
    "specificity_figures",
    "placebo_figure",
    "cross_model_figures",
    "misalignment_figure",
    "report_table",
    "all",
}


@pytest.mark.parametrize("overlay, name", [(OVERLAY, "without-default-prompt"), (PLAIN, "plain-questions")])
def test_the_overlay_reuses_the_teacher_data_and_students(tmp_path, overlay, name):
    """Every job of the paper run outside evaluation and analysis (bases,
    teachers, their data, students) makes the very files the overlay's run
    needs, so with the paper run done the overlay adds only evaluation and
    analysis jobs; those write to new places (eval/<new id>/ and
    evaluations/<name>/), so the paper run's own results stay."""
    override = tmp_path / "results.yaml"
    override.write_text(yaml.safe_dump({"results": str(tmp_path / "results")}))
    paper = summary_outputs(configfiles=[CONFIGS / "paper-qwen.yaml", override])
    overlay = summary_outputs(configfiles=[CONFIGS / "paper-qwen.yaml", CONFIGS / overlay, override])
    for rule in set(paper) | set(overlay):
        if rule not in EVALUATION_RULES:
            assert sorted(overlay.get(rule, [])) == sorted(paper.get(rule, [])), rule
    assert "train_student" in overlay and "sample_teacher" in overlay  # the rules are in both: the same files
    for rule in EVALUATION_RULES & set(overlay) - {"all"}:
        assert not set(overlay[rule]) & set(paper.get(rule, [])), rule  # nothing of the paper run is overwritten
    new = [o for rule in EVALUATION_RULES & set(overlay) for o in overlay[rule]]
    analysis = [o for o in new if "/analysis/" in o or "/figures/" in o or "/report/" in o]
    assert analysis and all(o.startswith(f"{tmp_path}/results/evaluations/{name}/") for o in analysis)
    ids = {o.split("/eval/")[1].split("/")[0] for rule in paper for o in paper[rule] if "/eval/" in o}
    new_ids = {o.split("/eval/")[1].split("/")[0] for o in new if "/eval/" in o}
    assert len(ids) == len(new_ids) == 1 and ids != new_ids


def test_dag_build_benchmark_counts_the_grown_grid(tmp_path):
    """benchmarks/dag_build.py: the grown grid is the grid times the factor
    along its axis, and the table it writes has the dry run's job counts."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import dag_build

    cfg = load_config(CONFIGS / "paper-qwen.yaml")
    seeds = dag_build.grow(cfg, "seeds", 10)["seeds"]
    assert len(seeds) == len(set(seeds)) == 80 and seeds[:8] == cfg["seeds"]
    traits = dag_build.grow(cfg, "traits", 2)["traits"]
    assert len(traits) == 42 and traits["panda_1"] == cfg["traits"]["panda"]
    out = tmp_path / "dag.md"
    assert (
        dag_build.main(
            ["configs/paper-qwen.yaml", "--axis", "traits", "--factor", "2", "--repeats", "1", "--out", str(out)]
        )
        == 0
    )
    rows = [ln.split("|")[1:-1] for ln in out.read_text().splitlines()[2:]]
    assert [(r[0].strip(), int(r[2])) for r in rows] == [("paper-qwen", 176), ("paper-qwen x2 traits", 43 * 8)]
    # every trait adds its teacher dataset's jobs and 8 students with their evaluations
    assert int(rows[1][1]) - int(rows[0][1]) >= 21 * (2 + 2 * 8)
    assert all(float(r[3]) > 0 for r in rows)


def test_model_jobs_ask_for_the_configured_host_memory(tmp_path):
    """A 7B base is read into host RAM before it moves to the GPU: the paper
    config's resources.model_mem_mb / train_mem_mb reach the jobs."""
    override = tmp_path / "results.yaml"
    override.write_text(yaml.safe_dump({"results": str(tmp_path / "r")}))
    plan = dry_run(configfiles=[CONFIGS / "paper-qwen.yaml", override])
    cfg = load_config(CONFIGS / "paper-qwen.yaml")["resources"]
    blocks = {
        rule: plan.of(rule)[0]["resources"] + "," for rule in ("train_student", "sample_teacher", "evaluate_student")
    }
    assert f"mem_mb={cfg['train_mem_mb']}," in blocks["train_student"]
    assert f"mem_mb={cfg['model_mem_mb']}," in blocks["sample_teacher"]
    assert f"mem_mb={cfg['model_mem_mb']}," in blocks["evaluate_student"]
