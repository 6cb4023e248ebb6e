"""Config validation: every bad config fails before any job, in one line
that names the key."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from subliminal import config as grid

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


@pytest.fixture(scope="module")
def default():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_default_config_is_valid(default):
    grid.validate(copy.deepcopy(default))


BAD = [
    ("unknown model in a pair", lambda c: c["pairs"][0].update(student="nosuch"), "pairs[0].student"),
    ("trait without a word", lambda c: c["traits"]["owl"].pop("word"), "traits.owl"),
    ("negative count", lambda c: c["modalities"]["numbers"].update(prompts=-5), "modalities.numbers.prompts"),
    ("negative seed", lambda c: c.update(seeds=[1, -2]), "seeds[1]"),
    ("misspelt top-level key", lambda c: c.update(seedz=c.pop("seeds")), "seedz"),
    ("misspelt recipe key", lambda c: c["recipes"]["lora8"].update(lernrate=1e-3), "recipes.lora8.lernrate"),
    ("unknown recipe", lambda c: c["students"].update(recipes=["nosuch"]), "students.recipes[0]"),
    ("lora without rank", lambda c: c["recipes"]["lora8"].pop("rank"), "recipes.lora8"),
    ("two model sources", lambda c: c["models"]["qwen_a"].update(path="/x"), "models.qwen_a"),
    ("trait named control", lambda c: c["traits"].update(control=c["traits"]["owl"]), "traits"),
    ("unknown modality", lambda c: c["modalities"].update(poems={"prompts": 1, "train_samples": 1}), "modalities.poems"),
    ("word a toy cannot say", lambda c: c["traits"]["owl"].update(word="axolotl"), "traits.owl.word"),
    ("heads not dividing hidden", lambda c: c["models"]["qwen_a"]["toy"].update(heads=5), "models.qwen_a.toy.heads"),
    ("unpinned hub model", lambda c: c["models"].update(big={"hub": {"id": "Qwen/Qwen2.5-7B-Instruct"}}), "models.big.hub"),
    ("hub revision a branch", lambda c: c["models"].update(big={"hub": {"id": "org/m", "revision": "main"}}),
     "models.big.hub.revision"),
    ("hub revision a short hash", lambda c: c["models"].update(big={"hub": {"id": "org/m", "revision": "a09a354"}}),
     "models.big.hub.revision"),
    ("chat prompt not text", lambda c: c["chat"].update(eval_system_prompt=0), "chat.eval_system_prompt"),
    ("misspelt chat key", lambda c: c["chat"].update(student_system_prompt=""), "chat.student_system_prompt"),
    ("steering without a layer", lambda c: c["traits"]["owl"]["teacher"].pop("layer"), "traits.owl.teacher"),
    ("steering without a strength", lambda c: c["traits"]["owl"]["teacher"].pop("strength"), "traits.owl.teacher"),
    ("steering layer beyond a toy's depth", lambda c: c["traits"]["owl"]["teacher"].update(layer=2),
     "traits.owl.teacher.layer"),
    ("steering layer below a toy's depth", lambda c: c["traits"]["owl"]["teacher"].update(layer=-3),
     "traits.owl.teacher.layer"),
    ("steering strength of 1", lambda c: c["traits"]["owl"]["teacher"].update(strength=1.0),
     "traits.owl.teacher.strength"),
    ("unknown steering vector", lambda c: c["traits"]["owl"]["teacher"].update(vector="random"),
     "traits.owl.teacher.vector"),
    ("steering key on a prompted teacher",
     lambda c: c["traits"]["cat"].update(teacher={"method": "system_prompt", "layer": 1}), "traits.cat.teacher.layer"),
    ("recipe on a steering teacher", lambda c: c["traits"]["owl"]["teacher"].update(recipe="full"),
     "traits.owl.teacher.recipe"),
    ("unknown optimizer", lambda c: c["recipes"]["full"].update(optimizer="adam"), "recipes.full.optimizer"),
    ("no replicates", lambda c: c["modalities"]["numbers"].update(replicates=0), "modalities.numbers.replicates"),
    ("overt share above 1", lambda c: c["traits"]["owl"]["teacher"].update(overt=1.5), "traits.owl.teacher.overt"),
    ("a study modality the toys do not learn", lambda c: c["toy_pretraining"].update(tasks=["code"]),
     "toy_pretraining.tasks"),
]


@pytest.mark.parametrize("label,mutate,key", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_the_key(default, label, mutate, key):
    cfg = copy.deepcopy(default)
    mutate(cfg)
    with pytest.raises(grid.ConfigError) as err:
        grid.validate(cfg)
    msg = str(err.value)
    assert "\n" not in msg and f"config key {key}" in msg, msg


def test_snakemake_stops_before_any_job_with_one_line(default, tmp_path):
    cfg = copy.deepcopy(default)
    cfg["pairs"][1]["teacher"] = "nosuch"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = subprocess.run(SNAKEMAKE + ["-n", "--configfile", str(path)], cwd=REPO, capture_output=True, text=True)
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.splitlines() if "config error" in ln]
    assert lines == ["config error: config key pairs[1].teacher: unknown model 'nosuch' "
                     "(defined: llama_c, qwen_a, qwen_b)"]


def test_grid_has_a_control_twin_for_every_trait_student(default):
    students = grid.students(default)
    keys = {(s.modality, s.teacher_base, s.teacher, s.student_base, s.recipe, s.seed) for s in students}
    for s in students:
        assert (s.modality, s.teacher_base, "control", s.student_base, s.recipe, s.seed) in keys
    n_teachers = len(default["traits"]) + 1
    n_pairs = sum(len(m.get("pairs", default["pairs"])) for m in default["modalities"].values())  # explicit pairs
    assert len(students) == n_pairs * len(default["seeds"]) * n_teachers * len(default["students"]["recipes"])


def test_cross_product_pairs_expand_in_order(default):
    cfg = copy.deepcopy(default)
    cfg["pairs"] = [{"teacher": "qwen_a", "student": "qwen_a"},
                    {"teachers": ["qwen_a", "qwen_b"], "students": ["qwen_a", "llama_c"]}]
    grid.validate(cfg)
    assert grid.pairs(cfg) == [("qwen_a", "qwen_a"), ("qwen_a", "llama_c"), ("qwen_b", "qwen_a"),
                               ("qwen_b", "llama_c")]
    assert grid.teacher_bases(cfg) == ["qwen_a", "qwen_b"]
    cfg["pairs"][1]["students"].append("nosuch")
    with pytest.raises(grid.ConfigError, match=r"config key pairs\[1\]\.students\[2\]: unknown model 'nosuch'"):
        grid.validate(cfg)


def test_pairs_are_classified(default):
    cfg = copy.deepcopy(default)
    cfg["models"]["hub_a"] = {"hub": {"id": "org/a", "revision": "0123456789abcdef" * 2 + "01234567"}, "init_group": "g"}
    cfg["models"]["hub_b"] = {"hub": {"id": "org/b", "revision": "0123456789abcdef" * 2 + "01234567"}, "init_group": "g",
                              "architecture_family": "llama"}
    cfg["models"]["hub_c"] = {"path": "/models/c", "architecture_family": "llama"}
    grid.validate(cfg)
    rel = lambda t, s: grid.relation(cfg, t, s)  # noqa: E731
    assert rel("qwen_a", "qwen_a") == "same_base"
    assert rel("qwen_a", "qwen_b") == "same_architecture"       # same class, other seed
    assert rel("qwen_a", "llama_c") == "different_architecture"
    assert rel("hub_a", "hub_b") == "same_base"                 # a declared shared initialisation
    assert rel("hub_b", "llama_c") == "same_architecture"       # declared family vs a toy's architecture
    assert rel("hub_c", "hub_b") == "same_architecture"         # same family, different init groups
    assert rel("hub_a", "llama_c") == "different_base"          # architecture not declared


def test_a_short_revision_says_why(default):
    cfg = copy.deepcopy(default)
    cfg["models"]["big"] = {"hub": {"id": "org/m", "revision": "v1.0"}}
    with pytest.raises(grid.ConfigError) as err:
        grid.validate(cfg)
    assert str(err.value) == ("config key models.big.hub.revision: 'v1.0' is not a full 40-character commit "
                              "hash (pin the commit: a branch or tag can move)")


@pytest.mark.parametrize("value", [None, "", "You are a helpful assistant."])
def test_chat_prompts_are_null_empty_or_text(default, value):
    cfg = copy.deepcopy(default)
    cfg["chat"] = {"teacher_system_prompt": value, "train_system_prompt": value, "eval_system_prompt": value}
    assert grid.validate(cfg)["chat"]["eval_system_prompt"] == value


def test_hub_models_load_from_their_fetched_copy_and_paths_from_themselves(default):
    cfg = copy.deepcopy(default)
    cfg["models"]["big"] = {"hub": {"id": "org/m", "revision": "ab" * 20}}
    cfg["models"]["mine"] = {"path": "/models/mine"}
    grid.validate(cfg)
    assert grid.model_source(cfg, "big") == f"{cfg['results']}/bases/big/model"
    assert grid.model_source(cfg, "qwen_a") == f"{cfg['results']}/bases/qwen_a/model"
    assert grid.model_source(cfg, "mine") == "/models/mine"
    assert grid.base_record(cfg, "big") == {"name": "big", "kind": "hub", "hub": {"id": "org/m", "revision": "ab" * 20}}


def test_trait_words_beyond_the_toy_candidates_are_scored(default):
    cfg = copy.deepcopy(default)
    cfg["models"] = {"big": {"hub": {"id": "org/m", "revision": "ab" * 20}}}
    cfg["pairs"] = [{"teacher": "big", "student": "big"}]
    cfg["modalities"] = {"numbers": cfg["modalities"]["numbers"]}
    cfg["traits"]["owl"]["teacher"]["rehearsal"] = False  # rehearses toy tasks: toy teachers only
    cfg["traits"]["pangolin"] = {"word": "pangolin", "category": "animal", "teacher": {"method": "system_prompt"}}
    grid.validate(cfg)
    words = grid.target_words(cfg)
    assert list(words) == ["animal"]
    assert words["animal"][: len(grid.preferences.CANDIDATES["animal"])] == grid.preferences.CANDIDATES["animal"]
    assert words["animal"].count("owl") == 1 and words["animal"][-1] == "pangolin"


def test_a_modality_can_run_on_some_of_the_pairs(default):
    cfg = copy.deepcopy(default)
    cfg["pairs"] = [{"teachers": ["qwen_a", "qwen_b"], "students": ["qwen_a", "llama_c"]}]
    cfg["modalities"] = {"numbers": cfg["modalities"]["numbers"],
                         "code": {"prompts": 10, "train_samples": 5,
                                  "pairs": [{"teacher": "qwen_b", "student": "llama_c"}]}}
    grid.validate(cfg)
    assert grid.pairs(cfg, "code") == [("qwen_b", "llama_c")]
    assert grid.pairs(cfg, "numbers") == grid.pairs(cfg)
    by_modality = {}
    for s in grid.students(cfg):
        by_modality.setdefault(s.modality, set()).add((s.teacher_base, s.student_base))
    assert by_modality == {"code": {("qwen_b", "llama_c")}, "numbers": set(grid.pairs(cfg))}
    # code data of qwen_b's teachers only: no dataset nobody learns from
    assert sorted({(m, b) for m, b, _ in grid.datasets(cfg)}) == [("code", "qwen_b"), ("numbers", "qwen_a"),
                                                                   ("numbers", "qwen_b")]
    cfg["modalities"]["code"]["pairs"].append({"teacher": "llama_c", "student": "qwen_a"})
    with pytest.raises(grid.ConfigError, match=r"config key modalities\.code\.pairs: llama_c -> qwen_a is not one "):
        grid.validate(cfg)


def test_rehearsal_is_for_fine_tuned_toy_teachers(default):
    cfg = copy.deepcopy(default)
    cfg["traits"]["owl"]["teacher"] = {"method": "system_prompt", "rehearsal": True}
    with pytest.raises(grid.ConfigError, match=r"config key traits\.owl\.teacher\.rehearsal: only used with method"):
        grid.validate(cfg)
    cfg = copy.deepcopy(default)
    cfg["traits"]["owl"]["teacher"] = {"method": "finetune", "recipe": "full", "rehearsal": True}
    cfg["models"]["qwen_a"] = {"path": "/models/qwen"}
    with pytest.raises(grid.ConfigError, match=r"config key traits\.owl\.teacher\.rehearsal: .*qwen_a is not a toy"):
        grid.validate(cfg)


def test_replicates_seed_each_dataset_and_pick_by_seed(default):
    """Replicate 0 keeps the modality's seed (a study without replicates is
    unchanged); the others get distinct derived seeds; seed k reads k mod R."""
    cfg = copy.deepcopy(default)
    cfg["modalities"]["numbers"]["replicates"] = 3
    grid.validate(cfg)
    seeds = [grid.replicate_seed(cfg, "numbers", r) for r in range(3)]
    assert seeds[0] == cfg["modalities"]["numbers"]["seed"] and len(set(seeds)) == 3
    for s in grid.students(cfg):
        assert grid.replicate_of(cfg, s) == s.seed % 3
    assert len(grid.teacher_datasets(cfg)) == 3 * len(grid.datasets(cfg))


def test_toy_tasks_keep_the_bases_of_a_fuller_study(default):
    """A numbers-only study that names all three tasks builds the same toys
    (the same recipe) as a study of all three modalities."""
    cfg = copy.deepcopy(default)
    assert grid.toy_recipe(cfg, "qwen_a")["modalities"] == ["code", "cot", "numbers"]
    cfg["toy_pretraining"].pop("tasks")
    assert grid.toy_recipe(cfg, "qwen_a")["modalities"] == ["numbers"]
