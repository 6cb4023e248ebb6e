"""Loading base models, teachers and students: one code path for toy bases
built by the workflow, local directories and hub models, whose pinned
revision is fetched once into a local folder (``fetch_snapshot``, the
fetch_base rule) that every job then loads from.

Remote code is never trusted, weights are read as safetensors only, and a hub
token (for gated models) comes from the environment (HF_TOKEN), never config.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import shutil
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from .adapters import attach
from .io import read_json

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
    return read_json(cfg).get("tokenizer_class") in GENERIC_TOKENIZER_CLASSES


class ModelFileError(RuntimeError):
    """A model, adapter or steering file that cannot be read: the message
    names the file (safetensors alone says "header too large", no file)."""


def check_safetensors(path: str | Path) -> None:
    """Read the header of a safetensors file, or of every one in a local
    folder (a sharded model's shards, an adapter): the header and the
    tensors' offsets against the file's size, no weights. A corrupt or
    truncated file is named, before transformers or peft reads it."""
    from safetensors import safe_open

    path = Path(path)
    for f in [path] if path.is_file() else sorted(path.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt"):
                pass
        except Exception as err:  # noqa: BLE001 - SafetensorError, OSError: the same unreadable file
            raise ModelFileError(
                f"{f}: not a readable safetensors file ({str(err).splitlines()[0] or type(err).__name__}); "
                "remove it and rerun the job that made it"
            ) from None


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


def load_model(
    source: str | dict,
    adapter: str | Path | None = None,
    dtype: str = "float32",
    device: str | None = None,
    attn_implementation: str | None = None,
):
    """A causal LM in eval mode; with ``adapter``, a LoRA adapter merged on top
    (in float32: a bf16/fp16 base comes back upcast, adapters.attach);
    ``attn_implementation`` None: transformers' default (sdpa where supported)."""
    name, revision = _source(source)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    if Path(name).is_dir():  # a local folder (a hub id is fetched into one first)
        check_safetensors(name)
    model = AutoModelForCausalLM.from_pretrained(
        name,
        revision=revision,
        trust_remote_code=False,
        use_safetensors=True,
        dtype=DTYPES[dtype],
        token=os.environ.get("HF_TOKEN"),
        **extra,
    )
    if adapter is not None:
        check_safetensors(adapter)
        model = attach(model.to(device), adapter)  # upcast where the memory is
    return model.to(device).eval()


def is_adapter(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").exists()


# ----------------------------------------------------------------------------- fetching hub bases

#: Files a snapshot never needs: weights in formats we do not load (we read
#: safetensors only; Llama repos also hold a second, consolidated copy under
#: original/), and repository extras.
FETCH_IGNORE = [
    "original/*",
    "*.pth",
    "*.pt",
    "*.bin",
    "*.gguf",
    "*.msgpack",
    "*.h5",
    "*.onnx",
    "*.ckpt",
    "*.tflite",
    ".gitattributes",
]


class FetchError(RuntimeError):
    """A hub snapshot could not be fetched; the message says which model and why."""


def _link_or_copy(src: Path, dst: Path) -> str:
    """Hard-link a cached file (no second copy on disk) or copy it when the
    cache lives on another file system."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
        return "link"
    except OSError:
        shutil.copy2(src, dst)
        return "copy"


def fetch_snapshot(
    repo_id: str,
    revision: str,
    out_dir: str | Path,
    record_json: str | Path,
    *,
    cache_dir: str | None = None,
    key: str | None = None,
    repo_type: str = "model",
    allow_patterns: list[str] | None = None,
) -> dict:
    """Fetch ``repo_id`` at ``revision`` (a full commit hash) into ``out_dir``
    once, and write what was fetched to ``record_json``. A model must hold
    safetensors weights; a ``repo_type="dataset"`` fetch takes the files of
    ``allow_patterns`` and must find at least one.

    ``huggingface_hub.snapshot_download`` resolves the revision through the
    Hugging Face cache (``HF_HUB_CACHE``; with ``HF_HUB_OFFLINE=1`` from the
    cache alone) and returns ``.../snapshots/<commit>``: the resolved commit.
    The snapshot's files are then hard-linked (or copied) into ``out_dir``,
    so every job reads a folder that holds exactly this revision. ``key`` (a
    config key) names the model in errors.
    """
    where = f"config key {key}: " if key else ""
    t0 = time.time()
    snap = _download(repo_id, revision, cache_dir, repo_type, allow_patterns, where)
    resolved = snap.name
    if resolved != revision:
        raise FetchError(f"{where}{repo_id}: asked for revision {revision}, the hub resolved {resolved}")
    if repo_type == "model" and not any(snap.glob("*.safetensors")):
        raise FetchError(f"{where}{repo_id}@{revision} has no .safetensors weights (only safetensors are loaded)")
    files, how = _materialise(snap, Path(out_dir), allow_patterns, f"{where}{repo_id}@{revision}")
    record = {
        "id": repo_id,
        "repo_type": repo_type,
        "requested_revision": revision,
        "resolved_revision": resolved,
        "files": files,
        "total_bytes": sum(f["bytes"] for f in files),
        "materialised_by": sorted(how),
        "cache_snapshot": str(snap),
        "fetched_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.time() - t0, 1),
        "huggingface_hub": _hub_version(),
    }
    Path(record_json).parent.mkdir(parents=True, exist_ok=True)
    Path(record_json).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    log.info(
        "fetched %s@%s: %d files, %.2f GB (%s)",
        repo_id,
        resolved,
        len(files),
        record["total_bytes"] / 1e9,
        "/".join(sorted(how)),
    )
    return record


def _download(repo_id: str, revision: str, cache_dir, repo_type: str, allow_patterns, where: str) -> Path:
    """The cached snapshot folder of ``repo_id`` at ``revision`` (fetched
    into the Hugging Face cache where it is not there yet); a FetchError,
    with the reason's first line, where it cannot be had."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snap = Path(
            snapshot_download(
                repo_id,
                revision=revision,
                cache_dir=cache_dir,
                repo_type=repo_type,
                allow_patterns=allow_patterns,
                ignore_patterns=FETCH_IGNORE,
                token=os.environ.get("HF_TOKEN"),
            )
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise FetchError(
            f"{where}cannot fetch {repo_id} at revision {revision}: {type(err).__name__}: {first}"
            + (
                " (offline: HF_HUB_OFFLINE is set and the cache does not hold this revision)"
                if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
                else ""
            )
        ) from err
    return snap


def _materialise(snap: Path, out_dir: Path, allow_patterns, what: str) -> tuple[list[dict], set[str]]:
    """The snapshot's wanted files hard-linked (or copied) into a fresh
    ``out_dir``: each file's path, size and blob name, and how they got there."""
    from huggingface_hub.utils import filter_repo_objects

    if out_dir.exists():
        shutil.rmtree(out_dir)
    files, how = [], set()
    # the same patterns again: a cached snapshot may hold more than this
    # download asked for (files another user fetched)
    wanted = set(
        filter_repo_objects(
            [p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file()],
            allow_patterns=allow_patterns,
            ignore_patterns=FETCH_IGNORE,
        )
    )
    if not wanted:
        raise FetchError(f"{what} holds no files matching {allow_patterns}")
    for src in sorted(p for p in snap.rglob("*") if p.is_file()):
        rel = src.relative_to(snap)
        if rel.as_posix() not in wanted:
            continue
        blob = src.resolve()
        how.add(_link_or_copy(blob, out_dir / rel))
        # in the cache a file's blob is named by its git hash, or for large
        # (LFS) files by the sha256 of its content: a free checksum
        files.append({"path": str(rel), "bytes": blob.stat().st_size, "blob": blob.name})
    return files, how


def _hub_version() -> str:
    import huggingface_hub

    return huggingface_hub.__version__
