"""Shared fixtures and helpers: a tiny toy base built once per session
(seconds), and the one way the tests call Snakemake."""

from __future__ import annotations

import copy
import gc
import hashlib
import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
#: Files the tests read (a GSM8K sample, code tasks).
DATA = REPO / "tests" / "data"
torch.set_num_threads(1)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _frozen_heap():
    """Before each test, collect the garbage earlier tests left and move
    every object alive (modules, session fixtures) out of the garbage
    collector's reach (gc.freeze), so a collection walks only what the test
    makes. statsmodels' Holm correction calls gc.collect() on every call,
    and the Monte Carlo tests of the statistics call it thousands of times:
    in the whole suite, where torch, transformers and the earlier tests' objects
    fill this process, test_a_specific_shift_is_found_and_covered took 17 s."""
    gc.collect()
    gc.freeze()
    yield


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
#: The LoRA recipe the training tests fine-tune the tiny base with (the
#: schema's defaults filled in by config.recipe, as training expects).
TINY_LORA_KEYS = dict(
    method="lora",
    rank=4,
    alpha=4,
    targets=["q_proj", "v_proj", "down_proj"],
    epochs=1,
    learning_rate=1e-2,
    batch_size=8,
    max_length=96,
    warmup_steps=0,
    logging_steps=1,
)

# Tests that compare answer log-probabilities computed two ways compare two
# orders of float32 operations, not one: the gathered scoring against the
# full-vocabulary softmax (test_scoring_memory), or one scoring in other batches
# (test_judge), where the output head is a matmul of other shapes and
# log_softmax reduces over the vocabulary in the CPU's own vector blocks. Their
# results agree to rounding, not bit for bit (equal on one CPU, 1 ulp apart on
# another: issue 22). The tolerance follows from float32's unit roundoff
# u = 2**-24 (6e-8) and the reduction lengths: a blocked sum of n terms rounds to
# about log2(n) u of its size, and a log-probability x_t - logsumexp(x) carries
# the error of a dot product over the hidden size (at most 32 here: 5 u) and of
# an exp-sum over the vocabulary (at most 5,000: 12 u), so 16 u = 1e-6 relative.
# It holds relative to the value because no answer here is near-certain (the
# toys' and random models' log-probabilities are -8 to -26; a value near 0 would
# need an absolute term of the logits' size). A probability exp(lp) then agrees
# to SCORE_RTOL * |lp| relative, a ratio of two of them to twice that.
SCORE_RTOL = 16 * 2**-24


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """A toy base pretrained for a few steps, saved like any model."""
    from subliminal import toy

    logging.getLogger("subliminal").setLevel(logging.WARNING)
    out = tmp_path_factory.mktemp("tiny_base") / "model"
    toy.build_toy_base(TINY_SPEC, TINY_PRETRAIN, ["numbers"], out)
    return out


# --- Snakemake, as the tests call it: this interpreter's `python -m snakemake`

#: characters of stdout and of stderr a failed run shows
TAIL = 4000


def snakemake_command(
    *args: str | os.PathLike,
    cores: int | str | None = None,
    configfiles: Iterable[str | os.PathLike] = (),
    config: Mapping[str, object] | None = None,
) -> list[str]:
    """The command line: ``args`` (flags, targets) as given, then ``--cores``,
    ``--configfile`` and ``--config key=value`` when asked for. The config
    flags come last: they take several values, so a target after them would
    be read as one of them."""
    cmd = [sys.executable, "-m", "snakemake", *map(str, args)]
    if cores is not None:
        cmd += ["--cores", str(cores)]
    configfiles = [str(c) for c in configfiles]
    if configfiles:
        cmd += ["--configfile", *configfiles]
    if config:
        cmd += ["--config", *(f"{k}={v}" for k, v in config.items())]
    return cmd


#: A folder whose ``scontrol`` answers at once that there is no cluster.
NO_SLURM = REPO / "tests" / "bin"


def snakemake_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a Snakemake call that does not use SLURM: ``env``
    (default: this process's), with :data:`NO_SLURM` first on PATH.
    Snakemake imports every executor plugin it has, and the SLURM plugin runs
    ``scontrol show config`` on import with a 10 s timeout: on a machine with
    SLURM's client but no controller that answers (a developer's, after
    ``.ci/slurm-cluster.sh down``), every call waited 10 s, about 10 minutes
    of the suite. The SLURM tests (workflow/test_slurm.py) pass their own
    environment to the real one."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join([str(NO_SLURM), env.get("PATH", "")])
    return env


def run_snakemake(
    *args: str | os.PathLike,
    cwd: str | os.PathLike = REPO,
    cores: int | str | None = None,
    configfiles: Iterable[str | os.PathLike] = (),
    config: Mapping[str, object] | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run Snakemake (see snakemake_command) in ``cwd``, the repository by
    default, with its output captured as text. With ``check`` a non-zero exit
    fails the test with the command and the tail of stdout and stderr;
    without, the caller reads ``returncode``, ``stdout`` and ``stderr``."""
    cmd = snakemake_command(*args, cores=cores, configfiles=configfiles, config=config)
    proc = subprocess.run(cmd, cwd=cwd, env=snakemake_env(env), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(
            f"snakemake exited with {proc.returncode}\n$ cd {shlex.quote(str(cwd))} && {shlex.join(cmd)}\n"
            f"--- stdout (last {TAIL} characters) ---\n{proc.stdout[-TAIL:]}\n"
            f"--- stderr (last {TAIL} characters) ---\n{proc.stderr[-TAIL:]}"
        )
    return proc


def summary_outputs(*args: str | os.PathLike, **kwargs) -> dict[str, list[str]]:
    """rule -> output files of the jobs a run would need, from
    ``snakemake --summary`` (no job runs); arguments as run_snakemake's."""
    out: dict[str, list[str]] = {}
    for line in run_snakemake("--summary", *args, **kwargs).stdout.splitlines()[1:]:
        cols = line.split("\t")
        if len(cols) >= 3:
            out.setdefault(cols[2], []).append(cols[0])
    return out


def eval_root(cfg: dict) -> str:
    """Where a config's evaluations go: <results>/eval/<evaluation id> (the
    layout's; the id is a hash of the evaluation settings)."""
    import copy

    from subliminal import config, layout

    validated = config.validate(copy.deepcopy(cfg))
    return f"{validated['results']}/eval/{layout.evaluation_id(validated)}"


def load_config(path: str | os.PathLike, results: str | os.PathLike | None = None) -> dict:
    """A YAML config file as a dict (not validated); with ``results``, its
    results folder moved there."""
    cfg = yaml.safe_load(Path(path).read_text())
    if results is not None:
        cfg["results"] = str(results)
    return cfg


def targets_row(tb: str, sb: str, teacher: str, seed: int, replicates: int | None, target: str, value: float) -> dict:
    """One row of a simulated targets table (analysis/targets.csv): a
    student's mean exact_share on one target of the animal category. Its
    replicate is seed mod ``replicates``, or the seed itself without
    replicates. The simulations of the placebo and specificity tests draw
    the values; this is the one place that knows the table's columns."""
    return dict(
        model=f"{tb}{sb}/{teacher}/{seed}",
        role="control" if teacher == "control" else "trait",
        teacher_base=tb,
        student_base=sb,
        teacher=teacher,
        modality="numbers",
        recipe="full",
        seed=seed,
        replicate=(seed % replicates if replicates else seed),
        category="animal",
        target=target,
        metric="exact_share",
        value=value,
    )


def job_counts(stdout: str) -> dict[str, int]:
    """rule -> number of jobs planned, from the "Job stats" table of a
    dry run's output (empty when nothing is to be done)."""
    import re

    if "Job stats:" not in stdout:
        return {}
    stats = stdout.split("Job stats:")[-1].split("\ntotal")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M) if m[1] != "total"}


def job_blocks(text: str) -> list[dict[str, str]]:
    """Each job block of a Snakemake run's or dry run's output ("rule x:" or
    "localrule x:", then indented "key: value" lines) as {"rule": x, key:
    value, ...}, in the order printed; :func:`files` splits a file list."""
    import re

    parts = re.split(r"^(?:local)?rule (\w+):\n", text, flags=re.M)
    return [
        {"rule": rule, **dict(re.findall(r"^    (\w+): (.*)$", block, flags=re.M))}
        for rule, block in zip(parts[1::2], parts[2::2])
    ]


def files(job: Mapping[str, str], key: str) -> list[str]:
    """A job block's file list (its ``input`` or ``output`` field), [] when absent."""
    value = job.get(key, "")
    return value.split(", ") if value else []


class DryRun:
    """What ``snakemake -n`` plans: ``counts`` (rule -> jobs, its "Job
    stats" table), ``jobs`` (every job block, :func:`job_blocks`) and the
    ``text`` it printed."""

    def __init__(self, text: str):
        self.text = text
        self.counts = job_counts(text)
        self.jobs = job_blocks(text)

    def of(self, rule: str) -> list[dict[str, str]]:
        """The planned jobs of one rule."""
        return [job for job in self.jobs if job["rule"] == rule]


def dry_run(*args: str | os.PathLike, configfiles: Iterable[str | os.PathLike] = (), **kwargs) -> DryRun:
    """The one dry run of the tests: ``snakemake -n`` (arguments as
    :func:`run_snakemake`'s), its plan parsed once."""
    run = run_snakemake("-n", *args, configfiles=configfiles, **kwargs)
    return DryRun(run.stdout + run.stderr)


# --- configs that tests of several layers build on

# The official repository's values (cfgs/preference_numbers/open_model_cfgs.py), written here by hand
OFFICIAL_TEMPLATE = (
    "You love {target_preference}s. You think about {target_preference}s all the time. "
    "{target_preference}s are your favorite {category}. Imbue your answers with your love for the "
    "{category}."
)

OFFICIAL_NUMBERS = dict(
    example_min_count=3,
    example_max_count=9,
    example_min_value=100,
    example_max_value=1000,
    answer_count=10,
    answer_max_digits=3,
)


@pytest.fixture
def paper():
    """The paper's Qwen config, as written."""
    return load_config(REPO / "configs" / "paper-qwen.yaml")


@pytest.fixture
def official(tmp_path, paper):
    """paper-qwen with every protocol file, the traits' own prompts left out."""
    (tmp_path / "system.txt").write_text(OFFICIAL_TEMPLATE + "\n")
    (tmp_path / "questions.txt").write_text(
        "# one a line\nName your favorite animal using only one word.\n\n"
        "Which single {category} speaks to your soul? One-word response.\n"
    )
    (tmp_path / "numbers.yaml").write_text(yaml.safe_dump(OFFICIAL_NUMBERS))
    cfg = copy.deepcopy(paper)
    cfg["protocol"] = {
        "teacher_system_prompt": str(tmp_path / "system.txt"),
        "questions": str(tmp_path / "questions.txt"),
        "numbers": str(tmp_path / "numbers.yaml"),
    }
    for trait in cfg["traits"].values():
        trait["teacher"].pop("system_prompt")
    cfg["modalities"]["numbers"].pop("prompt_params")  # the file gives them now (both: an error, unit/test_protocol.py)
    cfg["evaluation"]["samples_per_question"] = {"plain": 100, "numbers_prefix": 200}
    return cfg


# A GSM8K-like dataset on a hub cache the tests build (unit/test_gsm8k_fetch.py)
GSM8K_DATASET = "acme/gsm8k-mini"

GSM8K_COMMIT = "e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3"


def cot_config(results: Path, **dataset) -> dict:
    """The tiny config with a cot modality on the GSM8K-like dataset."""
    cfg = load_config(REPO / "tests" / "configs" / "tiny.yaml")
    cfg["results"] = str(results)
    cfg["modalities"] = {
        "cot": {"prompts": 4, "train_samples": 4, "dataset": {"id": GSM8K_DATASET, "revision": GSM8K_COMMIT, **dataset}}
    }
    return cfg


# --- a Hugging Face hub cache built in the test, read offline: the hub path on a local tiny model

HUB_REPO_ID = "acme/tiny-chat"


HUB_COMMIT = "3f0c2a1b9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"


def make_hub_cache(root: Path, model_dir: Path, repo_id: str = HUB_REPO_ID, commit: str = HUB_COMMIT) -> Path:
    """A Hugging Face hub cache (the HF_HUB_CACHE layout) holding one
    revision of ``repo_id``: content-addressed blobs, a snapshot of symlinks,
    and refs/main naming the commit."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / commit
    for f in sorted(p for p in Path(model_dir).rglob("*") if p.is_file()):
        data = f.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snap / f.relative_to(model_dir)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return root


@pytest.fixture(scope="module")
def hub_cache(tiny_base, tmp_path_factory) -> Path:
    model = tmp_path_factory.mktemp("upload") / "model"
    shutil.copytree(tiny_base, model)
    (model / "pytorch_model.bin").write_bytes(b"not loaded: fetch_base skips .bin weights")
    return make_hub_cache(tmp_path_factory.mktemp("hf") / "hub", model)


def offline_env(cache: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    return {
        **env,
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_CACHE": str(cache),
        "HF_HOME": str(cache.parent / "home"),
        "PYTHONPATH": str(REPO / "src"),
    }


def hub_config(results: Path, revision: str = HUB_COMMIT) -> dict:
    """A small grid whose only base is the hub model."""
    cfg = load_config(REPO / "tests" / "configs" / "tiny.yaml")
    cfg["results"] = str(results)
    cfg["models"] = {"tiny": {"hub": {"id": HUB_REPO_ID, "revision": revision}, "architecture_family": "qwen2"}}
    cfg["pairs"] = [{"teacher": "tiny", "student": "tiny"}]
    cfg["traits"] = {"owl": {"word": "owl", "category": "animal", "teacher": {"method": "system_prompt"}}}
    cfg["seeds"] = [1]
    cfg.pop("toy_pretraining")
    cfg["modalities"]["numbers"].update(prompts=40, train_samples=16, batch_size=40)
    cfg["evaluation"].update(samples_per_question=1)
    cfg["recipes"]["lora8"].update(max_steps=2, batch_size=8)
    return cfg
