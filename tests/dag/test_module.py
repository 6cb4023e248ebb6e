"""The workflow used as a Snakemake module: a Snakefile in another folder
declares it (a local path), overrides its config with a reduced grid and
plans every job of it in a dry run, with the package of the workflow's own
folder (not an installed one, not one beside the user's Snakefile)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from conftest import REPO, load_config, run_snakemake


#: the snippet the README shows, with the workflow's path filled in
USER_SNAKEFILE = """\
configfile: "config/subliminal.yaml"


module subliminal:
    snakefile:
        "{workflow}/Snakefile"
    config:
        config


use rule * from subliminal as subliminal_*


# where the planning took the package from (the test reads this line)
import subliminal

print("subliminal package:", subliminal.__file__)
"""


def copy_workflow(dest: Path) -> Path:
    """The workflow's files alone, in a folder no installed package points at."""
    dest.mkdir(parents=True)
    for name in ("Snakefile", "config.yaml"):
        shutil.copy2(REPO / name, dest / name)
    for name in ("workflow", "src", "envs"):
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


def test_the_workflow_as_a_module_plans_the_reduced_grid(tmp_path):
    workflow = copy_workflow((tmp_path / "subliminal-workflow").resolve())
    user = tmp_path / "study"
    (user / "config").mkdir(parents=True)
    cfg = load_config(REPO / "tests" / "configs" / "tiny.yaml")
    cfg["results"] = "results/subliminal"  # relative: to the user's folder, where snakemake runs
    (user / "config" / "subliminal.yaml").write_text(yaml.safe_dump(cfg))
    (user / "Snakefile").write_text(USER_SNAKEFILE.format(workflow=workflow))

    proc = run_snakemake("-n", cores=1, cwd=user)
    out = proc.stdout + proc.stderr
    assert f"subliminal package: {workflow / 'src' / 'subliminal' / '__init__.py'}" in out
    planned = [block.split(":", 1)[0] for block in proc.stdout.split("\nrule ")[1:]]
    students = len(cfg["pairs"]) * len(cfg["seeds"]) * len(cfg["students"]["recipes"]) * (len(cfg["traits"]) + 1)
    assert planned.count("subliminal_train_student") == students
    for rule in (
        "subliminal_build_toy_base",
        "subliminal_sample_teacher",
        "subliminal_statistics",
        "subliminal_specificity_figures",
        "subliminal_placebo_figure",
        "subliminal_report_table",
        "subliminal_all",
    ):
        assert rule in planned, rule
    # the config given to the module was used (its results folder, in the user's folder)
    assert "results/subliminal/students/numbers/qwen_a/owl/qwen_b/lora8/seed2/model" in proc.stdout
    assert not (workflow / "results").exists() or not any((workflow / "results").iterdir())


def test_a_module_config_error_names_the_key(tmp_path):
    """The module's own validation runs on the config it is given."""
    workflow = copy_workflow((tmp_path / "wf").resolve())
    user = tmp_path / "study"
    (user / "config").mkdir(parents=True)
    cfg = load_config(REPO / "tests" / "configs" / "tiny.yaml")
    cfg["seeds"] = ["one"]
    (user / "config" / "subliminal.yaml").write_text(yaml.safe_dump(cfg))
    (user / "Snakefile").write_text(USER_SNAKEFILE.format(workflow=workflow))
    proc = run_snakemake("-n", cwd=user, check=False)
    assert proc.returncode != 0
    assert "config error: config key seeds" in proc.stdout + proc.stderr
