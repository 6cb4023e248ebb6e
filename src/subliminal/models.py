"""Loading base models, teachers and students: one code path for toy bases
built by the workflow, local directories and hub ids with pinned revisions.

Remote code is never trusted, weights are read as safetensors only, and a hub
token (for gated models) comes from the environment (HF_TOKEN), never config.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

log = logging.getLogger(__name__)

GENERIC_TOKENIZER_CLASSES = {"TokenizersBackend", "PreTrainedTokenizerFast"}
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _source(source: str | dict) -> tuple[str, str | None]:
    """(path-or-hub-id, revision) from a path string or a {hub, revision} mapping."""
    if isinstance(source, dict):
        return source["id"], source.get("revision")
    return str(source), None


def _declares_generic_tokenizer(name: str) -> bool:
    cfg = Path(name) / "tokenizer_config.json"
    if not (cfg.exists() and (Path(name) / "tokenizer.json").exists()):
        return False
    return json.loads(cfg.read_text()).get("tokenizer_class") in GENERIC_TOKENIZER_CLASSES


def load_tokenizer(source: str | dict):
    """The model's tokenizer. A local tokenizer that declares the generic
    tokenizers-library class (our toys) is loaded as exactly that: transformers
    5 would otherwise pick the class registered for the model type (Qwen2's
    byte-level BPE) and rebuild the pipeline from the vocabulary alone."""
    name, revision = _source(source)
    cls = PreTrainedTokenizerFast if _declares_generic_tokenizer(name) else AutoTokenizer
    tok = cls.from_pretrained(name, revision=revision, trust_remote_code=False, token=os.environ.get("HF_TOKEN"))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(source: str | dict, adapter: str | Path | None = None, dtype: str = "float32",
               device: str | None = None):
    """A causal LM in eval mode; with ``adapter``, a LoRA adapter merged on top."""
    name, revision = _source(source)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(
        name, revision=revision, trust_remote_code=False, use_safetensors=True,
        dtype=DTYPES[dtype], token=os.environ.get("HF_TOKEN"),
    )
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model.to(device).eval()


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").exists()
