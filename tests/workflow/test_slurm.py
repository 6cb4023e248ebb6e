"""The workflow on a real SLURM cluster through the project's slurm/ profile.

CI starts a one-node cluster (.ci/slurm-cluster.sh up) and sets
SUBLIMINAL_SLURM=1, which makes these tests mandatory; elsewhere they are
skipped when no cluster answers. One run of a reduced grid
(tests/configs/slurm.yaml, 14 SLURM jobs) goes through
`snakemake --profile slurm`; while it runs, one training job is cancelled with
scancel, and the workflow must retry it and finish. The same config runs
locally at the same time (its data, evaluations and tables, not its figures
and report pages), and the two runs must produce the same teacher data,
evaluations and statistics.

The profile's static checks (every GPU rule mapped, nothing through
slurm_extra, no partition or account in the rules, the requeue setting, the
pinned-card example) need no cluster.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO, dry_run, load_config, run_snakemake, snakemake_command, snakemake_env

PROFILE = REPO / "slurm" / "config.yaml"
REQUIRED = os.environ.get("SUBLIMINAL_SLURM") == "1"
RUN_TIMEOUT_S = 900
CANCEL_AFTER_S = 5  # a training job is cancelled once it has run this long

# light rules: they must run in the main Snakemake process, never as SLURM jobs
LIGHT_RULES = {"filter_teacher_data", "collect_scores", "collect_teachers", "statistics", "figure", "auxlogit_figure"}
# the rules that draw a figure or a report page from the tables: the local
# twin leaves them out (--omit-from), as what the two runs compare is their
# data, evaluations and tables; the SLURM run makes everything
DRAWING_RULES = (
    "figure",
    "cross_model_figures",
    "specificity_figures",
    "placebo_figure",
    "misalignment_figure",
    "auxlogit_figure",
    "study_figure",
    "report_table",
)


# ---------------------------------------------------------------- static checks


def rule_blocks() -> dict[str, str]:
    """Rule name -> its text, from every rule file of the workflow."""
    blocks = {}
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        parts = re.split(r"^rule (\w+):\n", smk.read_text(), flags=re.M)
        blocks.update(zip(parts[1::2], parts[2::2]))
    return blocks


def gpu_rules() -> set[str]:
    """Rules whose resources (common.smk's heavy(): one GPU unless it says
    otherwise) have a `gpu` that is anything but a literal 0."""
    return {
        name
        for name, text in rule_blocks().items()
        if (m := re.search(r"^\s+\*\*heavy\((.*)\),$", text, flags=re.M)) and not re.search(r"\bgpu=0\b", m[1])
    }


def test_profile_maps_every_gpu_rule_and_only_partitions():
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    assert profile["retries"] >= 1
    assert gpu_rules() == set(profile["set-resources"]), "every GPU rule, and only those, go to the GPU partition"
    for rule, res in profile["set-resources"].items():
        assert set(res) <= {"slurm_partition", "gpu_model"}, rule  # the rules own gpu, mem_mb, runtime
    assert set(profile["default-resources"]) == {"slurm_account", "slurm_partition"}


@pytest.mark.parametrize(
    "env, account, partition, gpu_partition, gpu_model",
    [
        ({}, "", "", "", ""),  # all left to SLURM: default account and partition, any GPU
        ({"SUBLIMINAL_SLURM_ACCOUNT": "lab", "SUBLIMINAL_SLURM_PARTITION": "short"}, "lab", "short", "short", ""),
        (
            {
                "SUBLIMINAL_SLURM_PARTITION": "short",
                "SUBLIMINAL_SLURM_GPU_PARTITION": "gpu",
                "SUBLIMINAL_SLURM_GPU_MODEL": "a100",
            },
            "",
            "short",
            "gpu",
            "a100",
        ),
    ],
)
def test_profile_reads_account_partition_and_gpu_model_from_the_environment(
    monkeypatch, env, account, partition, gpu_partition, gpu_model
):
    for name in ("ACCOUNT", "PARTITION", "GPU_PARTITION", "GPU_MODEL"):
        monkeypatch.delenv(f"SUBLIMINAL_SLURM_{name}", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    profile = yaml.safe_load(PROFILE.read_text())
    # Snakemake evaluates a resource given as a string as a Python expression
    value = lambda expr: eval(expr, {})  # noqa: E731
    assert value(profile["default-resources"]["slurm_account"]) == account
    assert value(profile["default-resources"]["slurm_partition"]) == partition
    for res in profile["set-resources"].values():
        assert value(res["slurm_partition"]) == gpu_partition
        assert value(res["gpu_model"]) == gpu_model


PINNED = REPO / "slurm" / "pinned-card" / "config.yaml"


def test_profile_requeues_preempted_jobs_with_an_option_the_plugin_has():
    """`slurm-requeue: true` is the plugin's own `requeue` setting (it adds
    sbatch --requeue): a setting the installed plugin does not know would
    stop Snakemake at start."""
    import dataclasses

    from snakemake_executor_plugin_slurm import ExecutorSettings

    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["slurm-requeue"] is True and "slurm-no-requeue" not in profile
    fields = {f.name: f for f in dataclasses.fields(ExecutorSettings)}
    assert "requeue" in fields and "--requeue" in fields["requeue"].metadata["help"]
    plugin_keys = {k for k in profile if k.startswith("slurm-")}
    assert {k.removeprefix("slurm-").replace("-", "_") for k in plugin_keys} <= set(fields)


def test_pinned_card_profile_is_the_profile_with_a_gpu_model(monkeypatch):
    """slurm/pinned-card/ differs from slurm/ only in the GPU jobs' model:
    h100 unless SUBLIMINAL_SLURM_GPU_MODEL names another."""
    main, pinned = yaml.safe_load(PROFILE.read_text()), yaml.safe_load(PINNED.read_text())
    strip = lambda p: {k: v for k, v in p.items() if k != "set-resources"}  # noqa: E731
    assert strip(pinned) == strip(main)
    assert pinned["set-resources"].keys() == main["set-resources"].keys()
    for rule, res in pinned["set-resources"].items():
        assert {k: v for k, v in res.items() if k != "gpu_model"} == {
            k: v for k, v in main["set-resources"][rule].items() if k != "gpu_model"
        }, rule
        monkeypatch.delenv("SUBLIMINAL_SLURM_GPU_MODEL", raising=False)
        assert eval(res["gpu_model"], {}) == "h100" and eval(main["set-resources"][rule]["gpu_model"], {}) == ""
        monkeypatch.setenv("SUBLIMINAL_SLURM_GPU_MODEL", "a100")
        assert eval(res["gpu_model"], {}) == "a100"


def test_rules_leave_cluster_settings_to_the_profile():
    blocks = rule_blocks()
    for name, text in blocks.items():
        assert "slurm_extra" not in text, name  # GPUs through the plugin's gpu resource only
        assert "slurm_partition" not in text and "slurm_account" not in text, name
    for name in LIGHT_RULES & set(blocks):
        assert "localrule: True" in blocks[name], f"rule {name} is light: it should run locally"
    for name, text in blocks.items():
        if "localrule: True" in text:
            continue
        # heavy rules take their resources from heavy(), whose memory and time
        # grow with the attempt, so a retry asks for more
        assert re.search(r"^\s+\*\*heavy\(", text, flags=re.M), f"rule {name}: resources not from heavy()"
    helper = (REPO / "workflow" / "rules" / "common.smk").read_text().split("def heavy(")[1].split("\ndef ")[0]
    for key in ("mem_mb", "runtime"):
        m = re.search(rf"^\s+{key}=(.+),$", helper, flags=re.M)
        assert m and "attempt" in m[1], f"heavy(): {key} should grow with attempt"


# ---------------------------------------------------------------- the cluster


def cluster_problem() -> str | None:
    """Why no SLURM cluster can take jobs here, or None when one can."""
    for tool in ("sbatch", "squeue", "scontrol", "scancel", "sinfo"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found"
    proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        return f"sinfo failed: {proc.stderr.strip()[:200]}"
    if not {"idle", "mixed", "allocated"} & set(proc.stdout.split()):
        return f"no node is up (sinfo: {' '.join(proc.stdout.split()) or 'nothing'})"
    return None


@pytest.fixture(scope="module")
def cluster():
    problem = cluster_problem()
    if problem:
        if REQUIRED:
            pytest.fail(f"SUBLIMINAL_SLURM=1 but no SLURM cluster: {problem}")
        pytest.skip(f"no SLURM cluster reachable ({problem}); `.ci/slurm-cluster.sh up` starts one")


def partitions() -> set[str]:
    out = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True).stdout
    return set(out.split())


def slurm_env() -> dict[str, str]:
    """The environment for the SLURM run. On the CI cluster (partitions `cpu`
    and `gpu`) the profile's partition variables are set, unless given."""
    env = dict(os.environ)
    names = ("SUBLIMINAL_SLURM_PARTITION", "SUBLIMINAL_SLURM_GPU_PARTITION")
    if {"cpu", "gpu"} <= partitions() and not any(env.get(n) for n in names):
        env.update(SUBLIMINAL_SLURM_PARTITION="cpu", SUBLIMINAL_SLURM_GPU_PARTITION="gpu")
    # the reduced grid's GPU jobs run on CPU by design (the CI node's GPUs are
    # /dev/null and /dev/zero), so the start-of-job GPU check is off for this
    # run; test_a_gpu_allocation_is_checked shows it on
    env.setdefault("SUBLIMINAL_GPU_CHECK", "off")
    return env


def job_record(jobid: str) -> dict[str, str] | None:
    proc = subprocess.run(["scontrol", "show", "job", "-o", jobid], capture_output=True, text=True)
    if proc.returncode != 0 or "JobId=" not in proc.stdout:
        return None
    return dict(re.findall(r"(\S+?)=(\S*)", proc.stdout))


def seconds(slurm_time: str) -> int:
    """SLURM's [D-]HH:MM:SS as seconds."""
    days, _, hms = slurm_time.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 86400 + h * 3600 + m * 60 + s


def rule_of(record: dict[str, str]) -> str:
    """The rule a job runs: the plugin writes `rule_<name>[_wildcards_...]` as the comment."""
    return re.match(r"rule_(\w+?)(?:_wildcards_.*)?$", record["Comment"])[1]


def mem_mb(record: dict[str, str]) -> float:
    value = record["MinMemoryNode"]
    scale = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[value[-1]]
    return float(value[:-1]) * scale


def local_rules() -> set[str]:
    return {name for name, text in rule_blocks().items() if "localrule: True" in text} | {"all"}


def write_config(tmp: Path, name: str) -> tuple[Path, Path]:
    cfg = load_config(REPO / "tests" / "configs" / "slurm.yaml")
    results = tmp / name
    cfg["results"] = str(results)
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path, results


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()  # Snakemake cancels its SLURM jobs on SIGTERM
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The SLURM run (one training job cancelled on the way) and a local run
    of the same config, side by side; every SLURM job's scontrol record."""
    tmp = tmp_path_factory.mktemp("slurm")
    local_cfg, local_results = write_config(tmp, "local")
    slurm_cfg, slurm_results = write_config(tmp, "slurm")
    logdir = tmp / "slurm_logs"
    local_log = (tmp / "local.log").open("w")
    slurm_log_path = tmp / "snakemake_slurm.log"
    slurm_log = slurm_log_path.open("w")
    env = slurm_env()
    planned = dry_run(configfiles=[slurm_cfg]).counts
    local = subprocess.Popen(
        snakemake_command("--omit-from", *DRAWING_RULES, cores=2, configfiles=[local_cfg]),
        cwd=REPO,
        env=snakemake_env(),
        stdout=local_log,
        stderr=subprocess.STDOUT,
    )
    on_slurm = subprocess.Popen(
        snakemake_command(
            "--profile",
            "slurm",
            # the CI cluster has no accounting database: job states from squeue
            "--slurm-status-command",
            "squeue",
            # a short first wait and short polls: the test's jobs take seconds
            "--slurm-init-seconds-before-status-checks",
            "2",
            "--seconds-between-status-checks",
            "2",
            "--slurm-logdir",
            str(logdir),
            "--slurm-keep-successful-logs",
            cores="all",
            configfiles=[slurm_cfg],
        ),
        cwd=REPO,
        env=env,
        stdout=slurm_log,
        stderr=subprocess.STDOUT,
    )
    records: dict[str, dict[str, str]] = {}
    cancelled = None
    started = time.monotonic()
    try:
        while on_slurm.poll() is None:
            if time.monotonic() - started > RUN_TIMEOUT_S:
                pytest.fail(f"the SLURM run took over {RUN_TIMEOUT_S} s; log: {slurm_log_path}")
            for jobid in re.findall(r"submitted with SLURM jobid (\d+)", slurm_log_path.read_text()):
                if records.get(jobid, {}).get("JobState") in (None, "PENDING", "RUNNING", "CONFIGURING"):
                    records[jobid] = job_record(jobid) or records.get(jobid, {})
                rec = records[jobid]
                if (
                    cancelled is None
                    and rec
                    and rule_of(rec) == "train_student"
                    and rec["JobState"] == "RUNNING"
                    and seconds(rec["RunTime"]) >= CANCEL_AFTER_S
                ):
                    subprocess.run(["scancel", jobid], check=True)
                    cancelled = jobid
            time.sleep(1)
        slurm_seconds = time.monotonic() - started
        local.wait(max(1, RUN_TIMEOUT_S - (time.monotonic() - started)))
        for jobid in re.findall(r"submitted with SLURM jobid (\d+)", slurm_log_path.read_text()):
            records[jobid] = job_record(jobid) or records.get(jobid, {})
    finally:
        stop(on_slurm)
        stop(local)
        leftovers = [j for j, r in records.items() if r.get("JobState") in ("PENDING", "RUNNING", None)]
        if leftovers:
            subprocess.run(["scancel", *leftovers])
        local_log.close()
        slurm_log.close()
    print(f"SLURM run: {slurm_seconds:.0f} s, {len(records)} SLURM jobs")
    return dict(
        local=local,
        local_results=local_results,
        local_log=tmp / "local.log",
        slurm=on_slurm,
        results=slurm_results,
        config=slurm_cfg,
        log=slurm_log_path.read_text(),
        logdir=logdir,
        records=records,
        cancelled=cancelled,
        env=env,
        planned=planned,
    )


@pytest.mark.slow
def test_workflow_finished_on_slurm(runs):
    assert runs["slurm"].returncode == 0, runs["log"][-5000:]
    # every target is there, newer than its inputs: a dry run has nothing to do
    dry = run_snakemake("-n", "--rerun-triggers", "mtime", configfiles=[runs["config"]])
    assert "Nothing to be done" in dry.stdout + dry.stderr


@pytest.mark.slow
def test_jobs_went_through_sbatch(runs):
    records = runs["records"]
    # every planned job of a rule that is not local went to SLURM (the
    # cancelled training job twice), and no local one did
    expected = {rule: n for rule, n in runs["planned"].items() if rule not in local_rules()}
    expected["train_student"] += 1
    assert expected.keys() >= {"build_toy_base", "sample_teacher", "train_student", "evaluate_student"}
    rules = [rule_of(r) for r in records.values()]
    assert {r: rules.count(r) for r in set(rules)} == expected
    for jobid, rec in records.items():
        assert rec["JobState"] == ("CANCELLED" if jobid == runs["cancelled"] else "COMPLETED"), rec
        assert rec["Requeue"] == "1", rec  # the profile's slurm-requeue: sbatch --requeue
        # the job's own log, where the plugin put it, shows Snakemake running the rule inside the job
        (log,) = (runs["logdir"] / f"rule_{rule_of(rec)}").glob(f"*/{jobid}.log")
        assert f"rule {rule_of(rec)}:" in log.read_text()


@pytest.mark.slow
def test_gpu_rules_asked_for_a_gpu(runs):
    env = runs["env"]
    cpu_partition = env.get("SUBLIMINAL_SLURM_PARTITION")
    gpu_partition = env.get("SUBLIMINAL_SLURM_GPU_PARTITION") or cpu_partition
    wants_gpu = gpu_rules()  # the same as the profile's GPU rules (test above)
    seen = set()
    for rec in runs["records"].values():
        rule = rule_of(rec)
        gpus = re.search(r"gpu(?::\w+)?:(\d+)", rec.get("TresPerJob", ""))
        if rule in wants_gpu:
            assert gpus and int(gpus[1]) >= 1, rec
            assert gpu_partition is None or rec["Partition"] == gpu_partition, rec
            seen.add(rule)
        else:
            assert gpus is None, rec
            assert cpu_partition is None or rec["Partition"] == cpu_partition, rec
    assert seen >= {"sample_teacher", "evaluate_teacher", "train_student", "evaluate_student", "evaluate_base"}


@pytest.mark.slow
def test_cancelled_training_job_was_resubmitted(runs):
    records, cancelled = runs["records"], runs["cancelled"]
    assert cancelled is not None, "no training job was seen running, so none was cancelled"
    first = records[cancelled]
    assert first["JobState"] == "CANCELLED"
    (retry,) = [r for j, r in records.items() if int(j) > int(cancelled) and r["Comment"] == first["Comment"]]
    assert retry["JobState"] == "COMPLETED"
    assert f"SLURM-job '{cancelled}' failed" in runs["log"]
    # the second attempt asks for more time and memory
    assert seconds(retry["TimeLimit"]) > seconds(first["TimeLimit"])
    assert mem_mb(retry) > mem_mb(first)
    assert runs["slurm"].returncode == 0


GPU_CHECK = """
import json, torch
from subliminal import gpucheck
given, error = gpucheck.gpu_given(), None
try:
    gpucheck.check(None, "bfloat16", bf16=True)
except gpucheck.GPUUnusableError as err:
    error = str(err)
print(json.dumps({"given": given, "cuda": torch.cuda.is_available(), "error": error}))
"""


def checked_in(*srun_args: str) -> dict:
    """What the GPU check sees and says in a SLURM allocation of these arguments."""
    env = {k: v for k, v in slurm_env().items() if k != "SUBLIMINAL_GPU_CHECK"}
    env["PYTHONPATH"] = str(REPO / "src")
    proc = subprocess.run(
        ["srun", "-t", "5", *srun_args, sys.executable, "-c", GPU_CHECK],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_gpu_allocation_is_checked(cluster):
    """A job SLURM gives a GPU (--gpus, what the plugin asks for a rule's
    gpu resource) counts as given one, and the start-of-job check stops it
    exactly when torch cannot use CUDA there (on the CI node, whose GPUs are
    fake: always, naming the cause); a job without a GPU is not checked."""
    gpu_partition = ["-p", "gpu"] if "gpu" in partitions() else []
    on_gpu = checked_in(*gpu_partition, "--gpus=1")
    assert on_gpu["given"], on_gpu
    assert (on_gpu["error"] is None) == on_gpu["cuda"], on_gpu
    if on_gpu["error"]:
        assert on_gpu["error"].startswith(f"this job was given a GPU ({on_gpu['given']}) but "), on_gpu
    on_cpu = checked_in(*(["-p", "cpu"] if "cpu" in partitions() else []))
    assert on_cpu == {"given": None, "cuda": on_cpu["cuda"], "error": None}


def unzipped(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


@pytest.mark.slow
def test_results_match_a_local_run(runs):
    assert runs["local"].returncode == 0, runs["local_log"].read_text()[-4000:]
    local, remote = runs["local_results"], runs["results"]
    compared = []
    for sub in ("data", "eval", "analysis"):
        for path in sorted((local / sub).rglob("*")):
            if path.is_file():
                rel = path.relative_to(local)
                assert (remote / rel).is_file(), rel
                assert unzipped(remote / rel) == unzipped(path), f"{rel} differs between SLURM and local runs"
                compared.append(rel)
    names = {p.name for p in compared}
    assert {"raw.jsonl", "filtered.jsonl", "scores.csv", "summary.csv", "compare.csv", "teachers.csv"} <= names
    # and the local run made every one of those files the SLURM run made
    made = {
        p.relative_to(remote) for sub in ("data", "eval", "analysis") for p in (remote / sub).rglob("*") if p.is_file()
    }
    assert made == set(compared), sorted(made ^ set(compared))[:10]


def test_the_drawing_rules_are_rules():
    """The local twin's --omit-from list names rules of the workflow
    (Snakemake ignores a name that is not one)."""
    assert set(DRAWING_RULES) <= set(rule_blocks())
