"""What every job shares: logging to its rule's log file, and loading a model
as a job uses it (the dtype of the device, a LoRA adapter or a fully
fine-tuned folder, a steering vector hooked in)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from . import gpucheck, judge
from .grid import model_source
from .slices import with_results


def setup_logging(path: str | None, mode: str = "w") -> None:
    """Log to the rule's log file (and stderr), with timestamps; warnings
    too. The file is emptied first (``mode`` "w"), and written in append
    mode either way: a warm process's child (:mod:`subliminal.warm`) appends
    to the same file."""
    handlers = [logging.StreamHandler(sys.stderr)]
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if mode == "w":
            Path(path).write_text("")
        handlers.append(logging.FileHandler(path, mode="a"))
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=handlers, force=True
    )
    logging.captureWarnings(True)
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # progress bars redraw in place and fill log files with carriage returns;
    # our own progress lines are logged instead
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # light jobs run without transformers
        return
    hf_logging.disable_progress_bar()


def job_config(smk) -> dict:
    """The config a job's stage receives: the slice its rule declared as
    ``params.cfg`` (:mod:`subliminal.slices`) and the results folder."""
    return with_results(smk.params.cfg, smk.config["results"])


def device_dtype(cfg: dict) -> str:
    import torch

    return cfg["resources"]["gpu_dtype"] if torch.cuda.is_available() else "float32"


def load(cfg: dict, source: str, adapter: str | None = None, steering: str | None = None):
    """(model, tokenizer) of ``source``: with ``adapter`` a LoRA adapter on
    it, or a fully fine-tuned model's folder (loaded instead); with
    ``steering`` its vector hooked in."""
    from .models import is_adapter, load_model, load_tokenizer

    if adapter is not None and not is_adapter(adapter):  # a fully fine-tuned model
        source, adapter = adapter, None
    # a job given a GPU stops here if it cannot use it (no silent CPU run)
    dtype = (cfg.get("resources") or {}).get("gpu_dtype", "bfloat16")  # the schema's default
    # a LoRA student is merged and evaluated in float32 (adapters.attach): its memory is counted so
    held = "float32" if adapter is not None else dtype
    gpucheck.check(source if isinstance(source, (str, Path)) else None, held, bf16=dtype == "bfloat16")
    tok = load_tokenizer(source)
    model = load_model(source, adapter=adapter, dtype=device_dtype(cfg))
    if steering:
        from . import steering as steer

        steer.attach(model, steering)
    return model, tok


def load_judge(cfg: dict, spec: dict | None):
    """The judge a ``judge`` section names: None (no judge stage), the rule
    judge, or a model judge loaded like any base."""
    if not spec:
        return None
    if spec["kind"] == "rule":
        return judge.RuleJudge()
    source = model_source(cfg, spec["model"])
    logging.getLogger(__name__).info("judge: model %s from %s", spec["model"], source)
    model, tok = load(cfg, source)
    return judge.ModelJudge(model, tok, system=spec["system_prompt"], batch_size=spec["batch_size"])
