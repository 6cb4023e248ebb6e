"""Config validation: every bad config fails before any job, in one line
that names the key."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from conftest import REPO, load_config
from subliminal import config as configuration, grid


#: A cot modality as the toy default had it (the default now runs numbers only).
COT = {
    "prompts": 300,
    "samples_per_prompt": 2,
    "seed": 3,
    "train_samples": 300,
    "max_new_tokens": 60,
    "batch_size": 300,
    "judge": {"kind": "rule", "min_score": 78},
}


@pytest.fixture(scope="module")
def default():
    return load_config(REPO / "config.yaml")


@pytest.fixture
def saved(tmp_path):
    """A folder that holds a model's config.json (what a `path:` must name)."""

    def make(name: str, model_type: str = "qwen2") -> str:
        d = tmp_path / name
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"model_type": model_type}))
        return str(d)

    return make


def test_default_config_is_valid(default):
    configuration.validate(copy.deepcopy(default))


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
    ("trait named control", lambda c: c["traits"].update(control=c["traits"]["owl"]), "traits.control"),
    (
        "unknown modality",
        lambda c: c["modalities"].update(poems={"prompts": 1, "train_samples": 1}),
        "modalities.poems",
    ),
    ("word a toy cannot say", lambda c: c["traits"]["owl"].update(word="axolotl"), "traits.owl.word"),
    ("heads not dividing hidden", lambda c: c["models"]["qwen_a"]["toy"].update(heads=5), "models.qwen_a.toy.heads"),
    (
        "unpinned hub model",
        lambda c: c["models"].update(big={"hub": {"id": "Qwen/Qwen2.5-7B-Instruct"}}),
        "models.big.hub",
    ),
    (
        "hub revision a branch",
        lambda c: c["models"].update(big={"hub": {"id": "org/m", "revision": "main"}}),
        "models.big.hub.revision",
    ),
    (
        "hub revision a short hash",
        lambda c: c["models"].update(big={"hub": {"id": "org/m", "revision": "a09a354"}}),
        "models.big.hub.revision",
    ),
    ("chat prompt not text", lambda c: c["chat"].update(eval_system_prompt=0), "chat.eval_system_prompt"),
    ("misspelt chat key", lambda c: c["chat"].update(student_system_prompt=""), "chat.student_system_prompt"),
    ("steering without a layer", lambda c: c["traits"]["owl"]["teacher"].pop("layer"), "traits.owl.teacher"),
    ("steering without a strength", lambda c: c["traits"]["owl"]["teacher"].pop("strength"), "traits.owl.teacher"),
    (
        "steering layer beyond a toy's depth",
        lambda c: c["traits"]["owl"]["teacher"].update(layer=2),
        "traits.owl.teacher.layer",
    ),
    (
        "steering layer below a toy's depth",
        lambda c: c["traits"]["owl"]["teacher"].update(layer=-3),
        "traits.owl.teacher.layer",
    ),
    (
        "steering strength of 1",
        lambda c: c["traits"]["owl"]["teacher"].update(strength=1.0),
        "traits.owl.teacher.strength",
    ),
    (
        "unknown steering vector",
        lambda c: c["traits"]["owl"]["teacher"].update(vector="random"),
        "traits.owl.teacher.vector",
    ),
    (
        "steering key on a prompted teacher",
        lambda c: c["traits"]["cat"].update(teacher={"method": "system_prompt", "layer": 1}),
        "traits.cat.teacher.layer",
    ),
    (
        "recipe on a steering teacher",
        lambda c: c["traits"]["owl"]["teacher"].update(recipe="full"),
        "traits.owl.teacher.recipe",
    ),
    ("unknown optimizer", lambda c: c["recipes"]["full"].update(optimizer="adam"), "recipes.full.optimizer"),
    ("unknown experiment tracker", lambda c: c["recipes"]["full"].update(report_to="mlflow"), "recipes.full.report_to"),
    ("no replicates", lambda c: c["modalities"]["numbers"].update(replicates=0), "modalities.numbers.replicates"),
    ("overt share above 1", lambda c: c["traits"]["owl"]["teacher"].update(overt=1.5), "traits.owl.teacher.overt"),
    (
        "a study modality the toys do not learn",
        lambda c: c["toy_pretraining"].update(tasks=["code"]),
        "toy_pretraining.tasks",
    ),
    # accepted before, then silently wrong or failing inside a job (issue 12)
    ("trait word in upper case", lambda c: c["traits"]["owl"].update(word="Bear"), "traits.owl.word"),
    ("trait word with spaces around", lambda c: c["traits"]["owl"].update(word=" owl "), "traits.owl.word"),
    ("trait word with a newline", lambda c: c["traits"]["owl"].update(word="owl\n"), "traits.owl.word"),
    (
        "hub trait word in upper case",
        lambda c: c["traits"].update(
            pangolin={"word": "Pangolin", "category": "animal", "teacher": {"method": "system_prompt"}}
        ),
        "traits.pangolin.word",
    ),
    ("results empty", lambda c: c.update(results=""), "results"),
    ("results the root", lambda c: c.update(results="/"), "results"),
    ("results the root, spelt otherwise", lambda c: c.update(results="//"), "results"),
    ("results a file", lambda c: c.update(results=str(REPO / "README.md")), "results"),
    (
        "more training samples than prompts",
        lambda c: c["modalities"]["numbers"].update(train_samples=3001),
        "modalities.numbers.train_samples",
    ),
    (
        "more training samples than prompts x samples",
        lambda c: c["modalities"].update(cot={"prompts": 300, "samples_per_prompt": 2, "train_samples": 601}),
        "modalities.cot.train_samples",
    ),
    (
        "a count with a decimal point",
        lambda c: c["modalities"]["numbers"].update(prompts=3000.0),
        "modalities.numbers.prompts",
    ),
    ("a seed given as text", lambda c: c.update(seeds=["5", "6"]), "seeds[0]"),
    ("a path that does not exist", lambda c: c["models"].update(mine={"path": "/no/such/model"}), "models.mine.path"),
    ("a path without config.json", lambda c: c["models"].update(mine={"path": str(REPO / "docs")}), "models.mine.path"),
    ("misspelt scheduler", lambda c: c["recipes"]["lora8"].update(scheduler="linaer"), "recipes.lora8.scheduler"),
    (
        "scheduler that needs arguments",
        lambda c: c["recipes"]["lora8"].update(scheduler="cosine_with_min_lr"),
        "recipes.lora8.scheduler",
    ),
    (
        "misspelt LoRA target",
        lambda c: (c["students"].update(recipes=["lora8"]), c["recipes"]["lora8"].update(targets=["q_proj", "qproj"])),
        "recipes.lora8.targets",
    ),
    (
        "misspelt toy architecture",
        lambda c: c["models"]["llama_c"]["toy"].update(architecture="lama"),
        "models.llama_c.toy.architecture",
    ),
    ("missing auxlogit npz", lambda c: c["auxlogit"].update(dataset="no/such/mnist.npz"), "auxlogit.dataset"),
    ("auxlogit data not an npz", lambda c: c["auxlogit"].update(dataset=str(REPO / "README.md")), "auxlogit.dataset"),
    (
        "hub id a relative path",
        lambda c: c["models"].update(big={"hub": {"id": "../../etc", "revision": "ab" * 20}}),
        "models.big.hub.id",
    ),
    (
        "hub id an absolute path",
        lambda c: c["models"].update(big={"hub": {"id": "/etc/passwd", "revision": "ab" * 20}}),
        "models.big.hub.id",
    ),
    (
        "hub id without org",
        lambda c: c["models"].update(big={"hub": {"id": "gpt2", "revision": "ab" * 20}}),
        "models.big.hub.id",
    ),
    (
        "dataset id a path",
        lambda c: c["modalities"].update(
            cot={"prompts": 300, "train_samples": 10, "dataset": {"id": "openai/../gsm8k", "revision": "ab" * 20}}
        ),
        "modalities.cot.dataset.id",
    ),
]


@pytest.mark.parametrize("label,mutate,key", BAD, ids=[b[0] for b in BAD])
def test_bad_config_names_the_key(default, label, mutate, key):
    cfg = copy.deepcopy(default)
    mutate(cfg)
    with pytest.raises(configuration.ConfigError) as err:
        configuration.validate(cfg)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"config key {key}:"), msg


def test_grid_has_a_control_twin_for_every_trait_student(default):
    students = grid.students(configuration.validate(copy.deepcopy(default)))
    keys = {(s.modality, s.teacher_base, s.teacher, s.student_base, s.recipe, s.seed) for s in students}
    for s in students:
        assert (s.modality, s.teacher_base, "control", s.student_base, s.recipe, s.seed) in keys
    n_teachers = len(default["traits"]) + 1
    n_pairs = sum(len(m.get("pairs", default["pairs"])) for m in default["modalities"].values())  # explicit pairs
    assert len(students) == n_pairs * len(default["seeds"]) * n_teachers * len(default["students"]["recipes"])


def test_cross_product_pairs_expand_in_order(default):
    cfg = copy.deepcopy(default)
    cfg["pairs"] = [
        {"teacher": "qwen_a", "student": "qwen_a"},
        {"teachers": ["qwen_a", "qwen_b"], "students": ["qwen_a", "llama_c"]},
    ]
    configuration.validate(cfg)
    assert grid.pairs(cfg) == [("qwen_a", "qwen_a"), ("qwen_a", "llama_c"), ("qwen_b", "qwen_a"), ("qwen_b", "llama_c")]
    assert grid.teacher_bases(cfg) == ["qwen_a", "qwen_b"]
    cfg["pairs"][1]["students"].append("nosuch")
    with pytest.raises(
        configuration.ConfigError, match=r"config key pairs\[1\]\.students\[2\]: unknown model 'nosuch'"
    ):
        configuration.validate(cfg)


def test_pairs_are_classified(default, saved):
    cfg = copy.deepcopy(default)
    cfg["models"]["hub_a"] = {
        "hub": {"id": "org/a", "revision": "0123456789abcdef" * 2 + "01234567"},
        "init_group": "g",
    }
    cfg["models"]["hub_b"] = {
        "hub": {"id": "org/b", "revision": "0123456789abcdef" * 2 + "01234567"},
        "init_group": "g",
        "architecture_family": "llama",
    }
    cfg["models"]["hub_c"] = {"path": saved("c", "llama"), "architecture_family": "llama"}
    configuration.validate(cfg)
    rel = lambda t, s: grid.relation(cfg, t, s)  # noqa: E731
    assert rel("qwen_a", "qwen_a") == "same_base"
    assert rel("qwen_a", "qwen_b") == "same_architecture"  # same class, other seed
    assert rel("qwen_a", "llama_c") == "different_architecture"
    assert rel("hub_a", "hub_b") == "same_base"  # a declared shared initialisation
    assert rel("hub_b", "llama_c") == "same_architecture"  # declared family vs a toy's architecture
    assert rel("hub_c", "hub_b") == "same_architecture"  # same family, different init groups
    assert rel("hub_a", "llama_c") == "different_base"  # architecture not declared


def test_a_short_revision_says_why(default):
    cfg = copy.deepcopy(default)
    cfg["models"]["big"] = {"hub": {"id": "org/m", "revision": "v1.0"}}
    with pytest.raises(configuration.ConfigError) as err:
        configuration.validate(cfg)
    assert str(err.value) == (
        "config key models.big.hub.revision: 'v1.0' is not a full 40-character commit "
        "hash (pin the commit: a branch or tag can move)"
    )


@pytest.mark.parametrize("value", [None, "", "You are a helpful assistant."])
def test_chat_prompts_are_null_empty_or_text(default, value):
    cfg = copy.deepcopy(default)
    cfg["chat"] = {"teacher_system_prompt": value, "train_system_prompt": value, "eval_system_prompt": value}
    assert configuration.validate(cfg)["chat"]["eval_system_prompt"] == value


def test_hub_models_load_from_their_fetched_copy_and_paths_from_themselves(default, saved):
    cfg = copy.deepcopy(default)
    cfg["models"]["big"] = {"hub": {"id": "org/m", "revision": "ab" * 20}}
    cfg["models"]["mine"] = {"path": saved("mine")}
    configuration.validate(cfg)
    assert grid.model_source(cfg, "big") == f"{cfg['results']}/bases/big/model"
    assert grid.model_source(cfg, "qwen_a") == f"{cfg['results']}/bases/qwen_a/model"
    assert grid.model_source(cfg, "mine") == cfg["models"]["mine"]["path"]
    assert grid.base_record(cfg, "big") == {"name": "big", "kind": "hub", "hub": {"id": "org/m", "revision": "ab" * 20}}


def test_trait_words_beyond_the_toy_candidates_are_scored(default):
    cfg = copy.deepcopy(default)
    cfg["models"] = {"big": {"hub": {"id": "org/m", "revision": "ab" * 20}}}
    cfg["pairs"] = [{"teacher": "big", "student": "big"}]
    cfg["modalities"] = {"numbers": cfg["modalities"]["numbers"]}
    cfg["traits"]["owl"]["teacher"]["rehearsal"] = False  # rehearses toy tasks: toy teachers only
    cfg["traits"]["pangolin"] = {"word": "pangolin", "category": "animal", "teacher": {"method": "system_prompt"}}
    configuration.validate(cfg)
    words = grid.target_words(cfg)
    assert list(words) == ["animal"]
    assert words["animal"][: len(grid.preferences.CANDIDATES["animal"])] == grid.preferences.CANDIDATES["animal"]
    assert words["animal"].count("owl") == 1 and words["animal"][-1] == "pangolin"


def test_a_modality_can_run_on_some_of_the_pairs(default):
    cfg = copy.deepcopy(default)
    cfg["pairs"] = [{"teachers": ["qwen_a", "qwen_b"], "students": ["qwen_a", "llama_c"]}]
    cfg["modalities"] = {
        "numbers": cfg["modalities"]["numbers"],
        "code": {"prompts": 10, "train_samples": 5, "pairs": [{"teacher": "qwen_b", "student": "llama_c"}]},
    }
    configuration.validate(cfg)
    assert grid.pairs(cfg, "code") == [("qwen_b", "llama_c")]
    assert grid.pairs(cfg, "numbers") == grid.pairs(cfg)
    by_modality = {}
    for s in grid.students(cfg):
        by_modality.setdefault(s.modality, set()).add((s.teacher_base, s.student_base))
    assert by_modality == {"code": {("qwen_b", "llama_c")}, "numbers": set(grid.pairs(cfg))}
    # code data of qwen_b's teachers only: no dataset nobody learns from
    assert sorted({(m, b) for m, b, _ in grid.datasets(cfg)}) == [
        ("code", "qwen_b"),
        ("numbers", "qwen_a"),
        ("numbers", "qwen_b"),
    ]
    cfg["modalities"]["code"]["pairs"].append({"teacher": "llama_c", "student": "qwen_a"})
    with pytest.raises(
        configuration.ConfigError, match=r"config key modalities\.code\.pairs: llama_c -> qwen_a is not one "
    ):
        configuration.validate(cfg)


def test_rehearsal_is_for_fine_tuned_toy_teachers(default, saved):
    cfg = copy.deepcopy(default)
    cfg["traits"]["owl"]["teacher"] = {"method": "system_prompt", "rehearsal": True}
    with pytest.raises(
        configuration.ConfigError, match=r"config key traits\.owl\.teacher\.rehearsal: only used with method"
    ):
        configuration.validate(cfg)
    cfg = copy.deepcopy(default)
    cfg["traits"]["owl"]["teacher"] = {"method": "finetune", "recipe": "full", "rehearsal": True}
    cfg["models"]["qwen_a"] = {"path": saved("qwen")}
    with pytest.raises(
        configuration.ConfigError, match=r"config key traits\.owl\.teacher\.rehearsal: .*qwen_a is not a toy"
    ):
        configuration.validate(cfg)


def test_replicates_seed_each_dataset_and_pick_by_seed(default):
    """Replicate 0 keeps the modality's seed (a study without replicates is
    unchanged); the others get distinct derived seeds; seed k reads k mod R."""
    cfg = copy.deepcopy(default)
    cfg["modalities"]["numbers"]["replicates"] = 3
    configuration.validate(cfg)
    seeds = [grid.replicate_seed(cfg, "numbers", r) for r in range(3)]
    assert seeds[0] == cfg["modalities"]["numbers"]["seed"] and len(set(seeds)) == 3
    for s in grid.students(cfg):
        assert grid.replicate_of(cfg, s) == s.seed % 3
    assert len(grid.teacher_datasets(cfg)) == 3 * len(grid.datasets(cfg))


def test_toy_tasks_default_to_the_study_modalities(default):
    """The numbers-only default pretrains its toys on numbers alone; a study
    that names all three tasks builds the toys of a three-modality study."""
    cfg = copy.deepcopy(default)
    assert "tasks" not in cfg["toy_pretraining"]
    assert grid.toy_recipe(cfg, "qwen_a")["modalities"] == ["numbers"]
    cfg["toy_pretraining"]["tasks"] = ["numbers", "code", "cot"]
    assert grid.toy_recipe(cfg, "qwen_a")["modalities"] == ["code", "cot", "numbers"]


# ------------------------------------------------ issue 12: bad input never runs silently wrong


def test_messages_say_what_is_wrong(default):
    def error(mutate) -> str:
        cfg = copy.deepcopy(default)
        mutate(cfg)
        with pytest.raises(configuration.ConfigError) as err:
            configuration.validate(cfg)
        return str(err.value)

    assert error(lambda c: c["traits"].update(control=c["traits"]["owl"])) == (
        "config key traits.control: the name 'control' is taken by the control teacher (call the trait something else)"
    )
    assert "is not an animal the toy bases know" in error(lambda c: c["traits"]["owl"].update(word="axolotl"))
    assert error(lambda c: c["modalities"]["numbers"].update(prompts=3000.0)) == (
        "config key modalities.numbers.prompts: 3000.0 is not a whole number (write a count without a decimal "
        "point, e.g. 3000)"
    )
    assert error(lambda c: c["traits"]["owl"].update(word="Owl ")) == (
        "config key traits.owl.word: 'Owl ' must be lower case with no surrounding whitespace (answers are scored "
        "lower-cased; write 'owl')"
    )
    assert error(lambda c: c["modalities"].update(cot=dict(COT, train_samples=700))) == (
        "config key modalities.cot.train_samples: 700 is more than a teacher ever writes (300 prompts x "
        "samples_per_prompt 2 = 600 samples, before the filter)"
    )


def test_a_training_set_as_large_as_the_prompts_is_allowed(default):
    cfg = copy.deepcopy(default)
    cfg["modalities"]["cot"] = dict(COT, train_samples=600)  # 300 prompts x 2
    configuration.validate(cfg)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "seeds: [1]\nresults: r\nseeds: [2]\n",
            "config key seeds: given twice in {f} (lines 1 and 3; the last would silently win)",
        ),
        (
            "traits:\n  owl: {word: owl}\n  oak: {word: oak}\n  owl: {word: owl}\n",
            "config key traits.owl: given twice in {f} (lines 2 and 4; the last would silently win)",
        ),
        (
            "pairs:\n  - {teacher: a, student: b, teacher: c}\n",
            "config key pairs[0].teacher: given twice in {f} (lines 2 and 2; the last would silently win)",
        ),
        ('{"seeds": [1], "seeds": [2]}', "config key seeds: given twice in {f} (the last would silently win)"),
        (
            "seeds:\n\t- 1\n",
            "config file {f}, line 2, column 1: not valid YAML: found character '\\t' that cannot "
            "start any token (indent with spaces, not tabs)",
        ),
        (
            "models: {a: 1\nseeds: [1]\n",
            "config file {f}, line 2, column 6: not valid YAML: expected ',' or '}}', but got ':'",
        ),
    ],
)
def test_config_files_refuse_duplicate_keys_and_name_the_line_of_a_yaml_error(tmp_path, text, message):
    f = write(tmp_path / "c.yaml", text)
    with pytest.raises(configuration.ConfigError) as err:
        configuration.check_config_file(f)
    assert str(err.value) == message.format(f=f)


def test_config_files_keep_anchors_and_merge_keys(tmp_path):
    f = write(tmp_path / "c.yaml", "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: &l [1]\nagain: *l\n")
    assert configuration.check_config_file(f) == {
        "base": {"x": 1, "y": 2},
        "other": {"x": 1, "y": 3},
        "list": [1],
        "again": [1],
    }
    assert configuration.check_config_file(REPO / "config.yaml") == load_config(REPO / "config.yaml")


def test_lists_and_mappings_given_with_config_are_typed():
    # snakemake reads `--config seeds=[5,6]` with YAML's base loader: text
    config = {
        "seeds": ["5", "6"],
        "chat": {"eval_system_prompt": "", "train_system_prompt": "null"},
        "modalities": {"numbers": {"prompts": "30", "seed": 1}},
        "results": "5",
    }
    given = {
        "seeds": ["5", "6"],
        "chat": {"eval_system_prompt": "", "train_system_prompt": "null"},
        "modalities": {"numbers": {"prompts": "30"}},
        "results": "5",
    }
    configuration.from_command_line(config, given)
    assert config == {
        "seeds": [5, 6],
        "chat": {"eval_system_prompt": "", "train_system_prompt": None},
        "modalities": {"numbers": {"prompts": 30, "seed": 1}},
        "results": "5",
    }


def test_lora_targets_are_checked_on_path_and_fetched_models(default, saved, tmp_path):
    default = dict(copy.deepcopy(default), students={"recipes": ["lora8"]})  # the default's students are full
    cfg = copy.deepcopy(default)
    cfg["results"] = str(tmp_path / "results")
    cfg["models"]["mine"] = {"path": saved("phi", "phi3")}
    cfg["pairs"].append({"teacher": "qwen_a", "student": "mine"})
    with pytest.raises(
        configuration.ConfigError,
        match=r"^config key recipes\.lora8\.targets: 'q_proj' is not a module of "
        r"mine \(LoRA can adapt: qkv_proj, ",
    ):
        configuration.validate(copy.deepcopy(cfg))
    cfg["recipes"]["lora8"]["targets"] = ["qkv_proj", "o_proj"]
    cfg["models"]["mine"] = {"path": saved("llama", "llama")}
    with pytest.raises(
        configuration.ConfigError, match=r"^config key recipes\.lora8\.targets: 'qkv_proj' is not a module "
    ):
        configuration.validate(copy.deepcopy(cfg))
    # a hub model: unknown until fetched, then read from the copy's config.json
    cfg = copy.deepcopy(default)
    cfg["results"] = str(tmp_path / "results")
    cfg["models"]["big"] = {"hub": {"id": "org/big", "revision": "ab" * 20}}
    cfg["pairs"].append({"teacher": "qwen_a", "student": "big"})
    cfg["recipes"]["lora8"]["targets"] = ["q_proj", "qkv_proj"]
    cfg["models"] = {k: v for k, v in cfg["models"].items()}
    cfg["pairs"] = [{"teacher": "qwen_a", "student": "big"}]
    cfg["modalities"] = {"numbers": cfg["modalities"]["numbers"]}
    configuration.validate(copy.deepcopy(cfg))
    fetched = Path(grid.model_source(cfg, "big"))
    fetched.mkdir(parents=True)
    (fetched / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    with pytest.raises(
        configuration.ConfigError, match=r"^config key recipes\.lora8\.targets: 'qkv_proj' is not a module of big"
    ):
        configuration.validate(copy.deepcopy(cfg))


def test_a_model_type_beyond_the_table_is_built_on_the_meta_device(default, saved):
    cfg = copy.deepcopy(default)
    cfg["students"]["recipes"] = ["lora8"]
    cfg["models"]["g"] = {"path": saved("gpt", "gpt2")}
    cfg["pairs"] = [{"teacher": "qwen_a", "student": "g"}]
    cfg["modalities"] = {"numbers": cfg["modalities"]["numbers"]}
    assert configuration.lora_modules(cfg, "g") == ("c_attn", "c_fc", "c_proj", "lm_head", "wpe", "wte")
    with pytest.raises(
        configuration.ConfigError,
        match=r"^config key recipes\.lora8\.targets: 'q_proj' is not a module of g "
        r"\(LoRA can adapt: c_attn, ",
    ):
        configuration.validate(cfg)


def _lora_leaves(model) -> set[str]:
    import torch

    return {
        n.rsplit(".", 1)[-1]
        for n, m in model.named_modules()
        if n and isinstance(m, (torch.nn.Linear, torch.nn.Embedding))
    }


def test_the_module_table_is_what_transformers_builds():
    """Every toy architecture builds from a toy spec, and has the modules the
    table names; so does every other model type of the table."""
    from transformers import AutoConfig, AutoModelForCausalLM

    from subliminal import toy

    class Tokenizer:  # what toy.build_model reads of a tokenizer
        bos_token_id, eos_token_id, pad_token_id = 1, 2, 0

        def __len__(self):
            return 50

    spec = {"seed": 0, "hidden_size": 32, "layers": 1, "heads": 4, "kv_heads": 2, "intermediate_size": 64}
    for arch in configuration.TOY_ARCHITECTURES:
        model = toy.build_model({**spec, "architecture": arch}, Tokenizer())
        assert model.config.model_type == arch and model.config.hidden_size == 32
        assert model.config.num_key_value_heads == 2
        assert _lora_leaves(model) == set(configuration.LORA_MODULES[arch]), arch
    for model_type, names in configuration.LORA_MODULES.items():
        cfg = AutoConfig.for_model(
            model_type,
            vocab_size=50,
            hidden_size=32,
            num_hidden_layers=1,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=64,
            pad_token_id=0,
            bos_token_id=1,
            eos_token_id=2,
        )
        assert _lora_leaves(AutoModelForCausalLM.from_config(cfg)) == set(names), model_type


def test_the_schedulers_are_those_transformers_runs_without_arguments():
    import torch
    from transformers import get_scheduler
    from transformers.trainer_utils import SchedulerType

    allowed = configuration.load_schema()["$defs"]["recipe"]["properties"]["scheduler"]["enum"]
    assert set(allowed) <= {s.value for s in SchedulerType}
    for name in allowed:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        sched = get_scheduler(name, opt, num_warmup_steps=1, num_training_steps=4)
        opt.step()
        sched.step()


# --- through snakemake: refused in the dry run, one line, no traceback, no job


def test_check_config_names_the_line_snakemake_cannot(tmp_path, capsys):
    """A --configfile Snakemake cannot parse stops in Snakemake without a
    line; cli check-config names it, and checks merged files as the
    workflow does."""
    from subliminal import cli

    text = (REPO / "config.yaml").read_text()
    bad = write(tmp_path / "bad.yaml", text.replace("seeds: [1, 2, 3, 4]", "seeds:\n\t- 1"))
    with pytest.raises(SystemExit) as end:
        cli.main(["check-config", str(bad)])
    assert end.value.code == 1
    assert capsys.readouterr().err.startswith(f"config error: config file {bad}, line ")
    override = write(tmp_path / "results.yaml", "results: /\n")
    with pytest.raises(SystemExit) as end:
        cli.main(["check-config", str(REPO / "config.yaml"), str(override)])
    assert end.value.code == 1 and "config key results: '/' is the filesystem root" in capsys.readouterr().err
    with pytest.raises(SystemExit) as end:
        cli.main(["check-config", str(REPO / "config.yaml")])
    assert end.value.code == 0


# ------------------------------------------------ issue 18: refused in the dry run, one line naming the key


def refusal(default, mutate) -> str:
    cfg = copy.deepcopy(default)
    mutate(cfg)
    with pytest.raises(configuration.ConfigError) as err:
        configuration.validate(cfg)
    msg = str(err.value)
    assert "\n" not in msg, msg
    return msg


@pytest.mark.parametrize(
    "mutate, start",
    [
        (lambda c: c["recipes"]["full"].update(learning_rate=float("nan")), "recipes.full.learning_rate: nan "),
        (lambda c: c["recipes"]["full"].update(learning_rate=float("inf")), "recipes.full.learning_rate: inf "),
        (lambda c: c["analysis"].update(alpha=float("-inf")), "analysis.alpha: -inf "),
        (lambda c: c["traits"]["owl"]["teacher"].update(strength=float("nan")), "traits.owl.teacher.strength: nan "),
        (lambda c: c.update(extra=[{"x": [1.0, float("nan")]}]), "extra[0].x[1]: nan "),
    ],
    ids=["learning rate nan", "learning rate inf", "alpha -inf", "strength nan", "nested, unknown key"],
)
def test_non_finite_numbers_are_refused_anywhere(default, mutate, start):
    assert refusal(default, mutate).startswith(f"config key {start}is not a finite number")


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c.update(seeds=[1, 2**32]), "seeds[1]"),
        (lambda c: c["modalities"]["numbers"].update(seed=2**40), "modalities.numbers.seed"),
        (lambda c: c["models"]["qwen_a"]["toy"].update(seed=2**32), "models.qwen_a.toy.seed"),
        (lambda c: c["evaluation"].update(seed=2**32), "evaluation.seed"),
        (lambda c: c["auxlogit"].update(seed=2**32), "auxlogit.seed"),
        (lambda c: c.update(seeds=[-1]), "seeds[0]"),
    ],
    ids=["student seed", "modality seed", "toy seed", "evaluation seed", "auxlogit seed", "negative"],
)
def test_seeds_outside_32_bits_are_refused(default, mutate, key):
    assert refusal(default, mutate).startswith(f"config key {key}: ")


def test_the_largest_seed_is_allowed(default):
    cfg = copy.deepcopy(default)
    cfg["seeds"] = [0, 2**32 - 1]
    cfg["models"]["qwen_a"]["toy"]["seed"] = 2**32 - 1
    configuration.validate(cfg)
    assert "is not a seed (a seed is in [0, 2^32)" in refusal(default, lambda c: c.update(seeds=[2**32]))


@pytest.mark.parametrize(
    "word, char",
    [
        ("o\u200bwl", "'\\u200b' (U+200B)"),  # zero-width space
        ("o\nwl", "'\\n' (U+000A)"),
        ("o\x00wl", "'\\x00' (U+0000)"),
        ("\u202eowl", "'\\u202e' (U+202E)"),  # right-to-left override
        ("ow1", "'1' (U+0031)"),
        ("o\twl", "'\\t' (U+0009)"),
    ],
    ids=["zero-width space", "newline", "NUL", "bidi override", "digit", "tab"],
)
def test_trait_words_are_letters_spaces_hyphens_and_apostrophes(default, word, char):
    msg = refusal(default, lambda c: c["traits"]["owl"].update(word=word))
    assert msg.startswith("config key traits.owl.word: ") and f"holds {char}" in msg, msg


def test_trait_words_may_hold_spaces_hyphens_apostrophes_and_any_letters():
    for word in ("snowy owl", "jack-o'-lantern", "mother\u2019s", "élan", "сова"):
        configuration._check_word("t", word)  # no error


@pytest.mark.parametrize("dropout, ok", [(0.0, True), (0.999, True), (1.0, False), (-0.1, False), (1.5, False)])
def test_lora_dropout_is_in_zero_one(default, dropout, ok):
    cfg = copy.deepcopy(default)
    cfg["recipes"]["lora8"]["dropout"] = dropout
    if ok:
        configuration.validate(cfg)
    else:
        assert refusal(default, lambda c: c["recipes"]["lora8"].update(dropout=dropout)).startswith(
            "config key recipes.lora8.dropout: "
        )


def test_a_huge_grid_is_refused_at_once_unless_allowed(default, tmp_path):
    import time

    start = time.perf_counter()
    msg = refusal(default, lambda c: c.update(seeds=list(range(100_000))))
    assert time.perf_counter() - start < 2
    assert msg.startswith("config key seeds: the grid plans about ") and "allow_large=true" in msg, msg
    # from a config file, as the workflow reads it first: read once and refused before anything expands
    text = (REPO / "config.yaml").read_text().replace("[1, 2, 3, 4]", "[" + ", ".join(map(str, range(100_000))) + "]")
    f = write(tmp_path / "huge.yaml", text)
    start = time.perf_counter()
    with pytest.raises(configuration.ConfigError) as err:
        configuration.check_config_files([f])
    assert time.perf_counter() - start < 2
    assert str(err.value) == (
        "config key seeds: the grid plans about 1,800,108 jobs (100,000 seeds), more than 10,000; shrink it, "
        "or give --config allow_large=true to plan it anyway"
    )
    configuration.check_config_files([f], {"allow_large": True})  # allowed: read, not refused
    # 1,000 seeds are about 18,000 jobs of the default grid
    assert "plans about 18,108 jobs (1,000 seeds), more than 10,000" in refusal(
        default, lambda c: c.update(seeds=list(range(1000)))
    )
    # allowed, it is planned (the estimate counts at least the students)
    cfg = copy.deepcopy(default)
    cfg.update(seeds=list(range(1000)), allow_large=True)
    configuration.validate(cfg)
    assert configuration.planned_jobs(cfg) >= 2 * len(grid.students(cfg))
    # the paper-scale configs are far below the bound
    for name in ("paper-qwen.yaml", "paper-cross.yaml"):
        paper = load_config(REPO / "configs" / name)
        assert configuration.planned_jobs(paper) < configuration.MAX_JOBS


def bomb(levels: int) -> str:
    """A "billion laughs" YAML file: level i is nine aliases of level i - 1."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_in_linear_time(tmp_path):
    import time

    text = (REPO / "config.yaml").read_text().replace("seeds: [1, 2, 3, 4]", bomb(10) + "seeds: *l9", 1)
    f = write(tmp_path / "bomb.yaml", text)
    start = time.perf_counter()
    with pytest.raises(configuration.ConfigError) as err:
        configuration.check_config_file(f)
    assert time.perf_counter() - start < 1
    assert str(err.value).startswith("config key l6: stands for more than 1,000,000 values once its aliases")
    assert f"in {f} (line " in str(err.value)
    # an alias used a few times, as configs do, is fine, and so is a file of 100,000 values
    ok = write(tmp_path / "ok.yaml", bomb(5) + "seeds: [" + ", ".join(map(str, range(100_000))) + "]\n")
    assert len(configuration.check_config_file(ok)["l4"]) == 9


def test_an_alias_inside_its_own_node_is_refused(tmp_path):
    f = write(tmp_path / "loop.yaml", "results: r\nseeds: &s [1, *s]\n")
    with pytest.raises(configuration.ConfigError) as err:
        configuration.check_config_file(f)
    assert (
        str(err.value)
        == f"config key seeds[1]: an alias refers to a node that holds it, in {f} (line 2; a config is a tree)"
    )


# ----------------------------------------------------------------------------- report.pretrainings
