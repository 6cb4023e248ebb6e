"""The reduced config of the code and cot modalities: valid, and each error
names its key."""

from __future__ import annotations

import copy

import pytest

from conftest import REPO, load_config
from subliminal import config as configuration, grid

CONFIG = REPO / "tests" / "configs" / "modalities.yaml"


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda c: c["modalities"]["code"]["judge"].pop("model"), "modalities.code.judge"),
        (lambda c: c["modalities"]["code"]["judge"].update(model="nope"), "modalities.code.judge.model"),
        (lambda c: c["modalities"]["cot"]["judge"].update(model="qwen_a"), "modalities.cot.judge.model"),
        (lambda c: c["modalities"]["code"]["judge"].update(threshold=1.5), "modalities.code.judge.threshold"),
        (lambda c: c["modalities"]["cot"]["judge"].update(min_score=101), "modalities.cot.judge.min_score"),
        (lambda c: c["modalities"]["code"].update(source="no/such.jsonl"), "modalities.code.source"),
        (lambda c: c["modalities"]["cot"].update(dataset="openai/gsm8k"), "modalities.cot.dataset"),
        (lambda c: c["modalities"]["cot"].update(samples_per_prompt=0), "modalities.cot.samples_per_prompt"),
        (lambda c: c["modalities"]["code"].update(word_filter=False), "modalities.code.word_filter"),
    ],
)
def test_config_errors_name_the_key(edit, key):
    cfg = load_config(CONFIG)
    edit(cfg)
    with pytest.raises(configuration.ConfigError, match=rf"^config key {key}\b"):
        configuration.validate(copy.deepcopy(cfg))


def test_the_reduced_config_is_valid():
    cfg = configuration.validate(load_config(CONFIG))
    assert grid.trait_words(cfg) == ("owl",)
