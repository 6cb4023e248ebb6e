"""Shared fixtures: a tiny toy base built once per session (seconds)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TINY_SPEC = dict(
    architecture="qwen2",
    seed=3,
    hidden_size=32,
    layers=1,
    heads=2,
    kv_heads=1,
    intermediate_size=64,
    tie_word_embeddings=True,
)
TINY_PRETRAIN = dict(steps=30, batch_size=16, learning_rate=5e-3, warmup_steps=5, system_share=0.3)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A toy base pretrained for a few steps, saved like any model."""
    from subliminal import toy

    logging.getLogger("subliminal").setLevel(logging.WARNING)
    out = tmp_path_factory.mktemp("tiny_base") / "model"
    toy.build_toy_base(TINY_SPEC, TINY_PRETRAIN, ["numbers"], out)
    return out
