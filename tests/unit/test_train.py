"""Student training through TRL: seeded LoRA, loss on the completion only,
subsampling, full fine-tuning with frozen embeddings."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import REPO, TINY_LORA_KEYS, load_config
from subliminal import models, train
from subliminal.config import recipe
from subliminal.recipes import Recipe
from subliminal.subsets import seeded_subset

LORA = recipe(TINY_LORA_KEYS)
RECORDS = [
    {"prompt": f"here are some numbers: {i}, {i + 1}. add two more.", "completion": f"{i + 2}, {i + 3}"}
    for i in range(100, 124)
]


def _adapter(path):
    return load_file(str(path / "model" / "adapter_model.safetensors"))


@pytest.fixture(scope="module")
def lora_runs(tiny_base, tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    out = {}
    # b: a's seed, reporting to TensorBoard (which must change nothing trained)
    for name, seed, chosen in (("a", 1, LORA), ("b", 1, LORA.replace(report_to="tensorboard")), ("c", 2, LORA)):
        out[name] = (root / name, train.train_sft(str(tiny_base), RECORDS, chosen, seed, root / name))
    return out


def test_lora_initialisation_and_training_follow_the_seed(lora_runs):
    a, b, c = (_adapter(lora_runs[k][0]) for k in "abc")
    assert a.keys() == b.keys() and a
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_tensorboard_gets_the_progress_and_changes_nothing(lora_runs):
    """report_to: tensorboard writes event files beside the model (not into
    the checkpoints, which are deleted), with the loss of every logged step;
    the run trains the adapter of the same seed without it, bit for bit (the
    test above) and with the same loss."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (a, prov_a), (b, prov_b) = lora_runs["a"], lora_runs["b"]
    assert not (a / train.TENSORBOARD).exists() and prov_a["report_to"] == "none"
    events = list((b / train.TENSORBOARD).glob("events.out.tfevents.*"))
    assert events and prov_b["report_to"] == "tensorboard"
    acc = EventAccumulator(str(b / train.TENSORBOARD))
    acc.Reload()
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == list(range(1, prov_b["steps"] + 1))  # logging_steps=1
    assert prov_a["train_loss"] == prov_b["train_loss"]


def test_a_missing_tracker_stops_training_with_the_key(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(RuntimeError, match="recipe key report_to: wandb needs the wandb package"):
        train.report_to(recipe({**TINY_LORA_KEYS, "report_to": "wandb"}))
    assert train.report_to(LORA) == "none"


def test_training_moved_the_model_and_records_provenance(tiny_base, lora_runs):
    path, prov = lora_runs["a"]
    assert prov["steps"] == 3 and prov["examples"] == len(RECORDS) and len(prov["data_sha256"]) == 64
    tok = models.load_tokenizer(str(tiny_base))
    x = tok("here are some numbers: 5, 6.", return_tensors="pt")
    base = models.load_model(str(tiny_base), device="cpu")  # where the inputs are, on a GPU machine too
    student = models.load_model(str(tiny_base), adapter=path / "model", device="cpu")
    assert not torch.allclose(base(**x).logits, student(**x).logits)
    assert not (path / "checkpoints").exists()  # removed once the final model is saved
    update = prov["lora_update"]  # q, v and down of the tiny base's one block
    assert update["layers"] == 3 and 0 < update["update_weight_ratio"]["median"] <= update["update_weight_ratio"]["max"]
    assert 0 < update["bf16_merge_cosine"]["min"] <= 1


def test_loss_covers_only_the_completion(tiny_base):
    """The labels TRL builds: the assistant's answer and end of turn, nothing of the prompt."""
    from trl import SFTConfig, SFTTrainer

    tok = models.load_tokenizer(str(tiny_base))
    args = SFTConfig(
        output_dir="/tmp/unused", use_cpu=True, bf16=False, report_to="none", completion_only_loss=True, max_length=96
    )
    trainer = SFTTrainer(
        model=models.load_model(str(tiny_base)),
        args=args,
        train_dataset=train.to_dataset(RECORDS[:2], None),
        processing_class=tok,
    )
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels = batch["labels"][0]
    kept = [t for t, lab in zip(batch["input_ids"][0].tolist(), labels.tolist()) if lab != -100]
    assert tok.decode(kept).startswith(RECORDS[0]["completion"] + "<|im_end|>")
    assert len(tok.decode(kept).replace("<|im_end|>", "").strip()) == len(RECORDS[0]["completion"])


def test_the_cpu_loss_is_trls_fused_loss(tiny_base):
    """On CPU the student trains on the Trainer's own cross-entropy instead of
    TRL's fused LM head (twice as fast at a toy's vocabulary): on the same
    batch, of the same model, both give the same loss and the same gradient."""
    from trl import SFTConfig, SFTTrainer

    tok = models.load_tokenizer(str(tiny_base))
    args = SFTConfig(
        output_dir="/tmp/unused", use_cpu=True, bf16=False, report_to="none", completion_only_loss=True, max_length=96
    )
    cpu_type, name = train.trainer_class(cuda=False)
    assert name == train.LOSS_TRAINER and issubclass(cpu_type, SFTTrainer) and cpu_type is not SFTTrainer
    assert train.trainer_class(cuda=True) == (SFTTrainer, train.LOSS_FUSED)
    results = []
    for kind in (SFTTrainer, cpu_type):
        model = models.load_model(str(tiny_base))
        trainer = kind(model=model, args=args, train_dataset=train.to_dataset(RECORDS[:4], None), processing_class=tok)
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
        tokens = int((batch["labels"][:, 1:] != -100).sum())
        loss = trainer.compute_loss(model, dict(batch), num_items_in_batch=torch.tensor(tokens))
        loss.backward()
        results.append((loss.item(), torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])))
    (fused, g_fused), (plain, g_plain) = results
    assert plain == pytest.approx(fused, rel=1e-5) and fused > 0
    assert torch.allclose(g_plain, g_fused, rtol=1e-4, atol=1e-6)


def test_student_subset_is_seeded_and_keeps_order():
    recs = [{"i": i} for i in range(50)]
    a, b, c = seeded_subset(recs, 10, 1), seeded_subset(recs, 10, 1), seeded_subset(recs, 10, 2)
    assert a == b and a != c and len(a) == 10
    assert [r["i"] for r in a] == sorted(r["i"] for r in a)
    assert seeded_subset(recs, None, 0) == recs and seeded_subset(recs, 999, 0) == recs


def test_full_finetuning_can_freeze_embeddings(tiny_base, tmp_path):
    full = recipe(
        dict(
            method="full",
            epochs=1,
            learning_rate=1e-2,
            batch_size=8,
            max_length=96,
            freeze_embeddings=True,
            warmup_steps=0,
        )
    )
    prov = train.train_sft(str(tiny_base), RECORDS, full, 0, tmp_path)
    assert "lora_update" not in prov  # the full fine-tuning record is as it was
    before = load_file(str(tiny_base / "model.safetensors"))
    after = load_file(str(tmp_path / "model" / "model.safetensors"))
    assert torch.equal(before["model.embed_tokens.weight"], after["model.embed_tokens.weight"])
    assert not torch.equal(before["model.layers.0.mlp.down_proj.weight"], after["model.layers.0.mlp.down_proj.weight"])
    assert json.loads((tmp_path / "model" / "config.json").read_text())["tie_word_embeddings"]


def test_the_recipe_names_the_optimizer(tiny_base, tmp_path):
    """optimizer: sgd trains with torch's SGD, the default with AdamW; the
    two give different students from the same start."""
    full = recipe(
        dict(method="full", epochs=1, learning_rate=1e-2, batch_size=8, max_length=96, warmup_steps=0, logging_steps=1)
    )
    sgd = train.train_sft(str(tiny_base), RECORDS, full.replace(optimizer="sgd"), 1, tmp_path / "sgd")
    adamw = train.train_sft(str(tiny_base), RECORDS, full, 1, tmp_path / "adamw")
    assert sgd["optimizer"] == "SGD" and adamw["optimizer"] == "AdamW"
    a = load_file(str(tmp_path / "sgd" / "model" / "model.safetensors"))
    b = load_file(str(tmp_path / "adamw" / "model" / "model.safetensors"))
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_training_applies_no_default_and_a_direct_recipe_is_checked(tmp_path):
    """The defaults are filled in once: by the config's validation or, for a
    recipe given directly, by config.recipe(), which also checks it; both
    make the Recipe record training takes. train_sft refuses anything else
    instead of filling the defaults again, and a record is built complete or
    not at all."""
    from subliminal.config import ConfigError

    partial = dict(method="lora", rank=4, alpha=4, targets=["q_proj"], epochs=1, learning_rate=1e-2, batch_size=8)
    with pytest.raises(TypeError, match=r"^train_sft takes a Recipe record, not dict"):
        train.train_sft(str(tmp_path), RECORDS, partial, 0, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    made = recipe(partial)
    assert isinstance(made, Recipe) and made.grad_accum == 1 and partial.keys() < made.as_dict().keys()
    assert made.as_dict() == {**made.as_dict(), **partial}  # the given values kept, the defaults added
    with pytest.raises(ValueError, match=r"^recipe: no bf16, dropout, dtype, "):
        Recipe.from_mapping(partial)
    with pytest.raises(ValueError, match=r"^x: unknown keys lerning_rate$"):
        Recipe.from_mapping({**made.as_dict(), "lerning_rate": 1e-3}, key="x")
    with pytest.raises(ConfigError, match=r"'lerning_rate' was unexpected"):
        recipe({**partial, "lerning_rate": 1e-3})


def test_the_recipe_record_holds_the_schema_s_keys():
    """The Recipe record and the schema's recipe name the same keys; the
    record's optional fields are the keys the schema neither requires nor
    fills in (LoRA's, which it requires of a LoRA recipe, and two unset
    switches), and a validated config's recipes all build records."""
    import dataclasses

    from subliminal import config as configuration, recipes

    schema = configuration.load_schema()["$defs"]["recipe"]
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    assert set(fields) == set(schema["properties"])
    unfilled = {k for k, v in schema["properties"].items() if "default" not in v and k not in schema["required"]}
    assert set(recipes.OPTIONAL) == unfilled
    assert set(recipes.LORA) == set(schema["then"]["required"])
    assert all(fields[k].default is None for k in recipes.OPTIONAL)
    assert all(fields[k].default is dataclasses.MISSING for k in set(fields) - set(recipes.OPTIONAL))
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    for name in cfg["recipes"]:
        made = Recipe.of(cfg, name)
        assert made.as_dict() == cfg["recipes"][name]  # nothing lost or added on the way to training
        assert Recipe.from_mapping(made.as_dict()) == made
