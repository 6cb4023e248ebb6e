"""Two working copies on one results folder through Snakemake: the second is
refused in its plan with one line; --unlock removes only its own copy's
lock; a run takes over a lock its killed run left and gives it back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


from conftest import REPO, run_snakemake
from subliminal import lock


def copy_of_the_workflow(path: Path) -> Path:
    """A working copy: the Snakefile, the workflow, the package, the config
    and the study over pretrainings its report shows."""
    path.mkdir(parents=True)
    for part in ("Snakefile", "workflow", "envs", "src/subliminal", "config.yaml", "docs/pretrainings"):
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, path / part)
    return path


def test_a_second_working_copy_on_one_results_folder_is_refused(tmp_path, monkeypatch):
    """Copy A holds the results folder (as its run does, from its onstart
    hook); copy B, naming the same folder by a relative path, is refused in
    its dry run with one line; --unlock in B leaves A's lock, in A it removes
    it; a run of A takes the lock it left behind and gives it back at exit."""
    results = tmp_path / "results"
    a = copy_of_the_workflow(tmp_path / "a")
    b = copy_of_the_workflow(tmp_path / "b")
    monkeypatch.chdir(a)
    lock.acquire(results)
    run = run_snakemake("-n", cwd=b, config={"results": "../results"}, check=False)
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.splitlines() if ln.startswith("results locked: ")]
    assert len(lines) == 1 and lines[0].startswith(
        f"results locked: results folder {results.resolve()} is in use by the run in {a.resolve()} (host "
    ), run.stderr[-2000:]
    assert f"run `snakemake --unlock` in {a.resolve()}" in lines[0]
    assert "Traceback" not in run.stderr and "Job stats" not in run.stdout
    # --unlock in B: A's lock stays; in A: it goes (A's run was killed, say)
    run_snakemake("--unlock", cwd=b, config={"results": "../results"})
    assert (results / lock.LOCK).exists()
    record = json.loads((results / lock.LOCK).read_text())
    run = run_snakemake("--unlock", cwd=a, config={"results": str(results)})
    assert not (results / lock.LOCK).exists(), run.stderr[-2000:]
    # a run of A (--touch: its jobs do nothing) takes over the lock A's killed run left, and gives it back
    (results / lock.LOCK).write_text(json.dumps(record))
    run_snakemake("--touch", results / "bases" / "qwen_a" / "model", cwd=a, cores=1, config={"results": str(results)})
    assert not (results / lock.LOCK).exists()
