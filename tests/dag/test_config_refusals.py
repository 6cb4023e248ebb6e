"""A config error stops Snakemake before any job, in one line naming the
key: a bad value, a YAML error in the default config, a list given with
--config, a report folder without its study."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, load_config, run_snakemake
from subliminal import config as configuration


@pytest.fixture(scope="module")
def default():
    return load_config(REPO / "config.yaml")


def test_snakemake_stops_before_any_job_with_one_line(default, tmp_path):
    cfg = copy.deepcopy(default)
    cfg["pairs"][1]["teacher"] = "nosuch"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run = run_snakemake("-n", configfiles=[path], check=False)
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.splitlines() if "config error" in ln]
    assert lines == [
        "config error: config key pairs[1].teacher: unknown model 'nosuch' (defined: llama_c, qwen_a, qwen_b)"
    ]


def assert_refused(run: subprocess.CompletedProcess, start: str) -> None:
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.splitlines() if "config error" in ln]
    assert len(lines) == 1 and lines[0].startswith(f"config error: {start}"), run.stderr[-2000:]
    assert "Traceback" not in run.stderr and "Job stats" not in run.stdout


@pytest.mark.parametrize(
    "edit, start",
    [
        (lambda text: text + "\nseeds: [7]\n", "config key seeds: given twice in"),
        (lambda text: text.replace("results: results", f"results: {REPO / 'README.md'}"), "config key results: "),
        (lambda text: text.replace("prompts: 3000,", "prompts: 3000.0,"), "config key modalities.numbers.prompts: "),
        (
            lambda text: text.replace("targets: [q_proj,", "targets: [qproj,").replace(
                "recipes: [full]", "recipes: [lora8]"
            ),
            "config key recipes.lora8.targets: ",
        ),
        (lambda text: text.replace("scheduler: linear", "scheduler: linaer", 1), "config key recipes.full.scheduler: "),
        (
            lambda text: text.replace("architecture: llama", "architecture: lama"),
            "config key models.llama_c.toy.architecture: ",
        ),
        (lambda text: text.replace("word: owl", "word: Owl"), "config key traits.owl.word: "),
        (
            lambda text: text.replace("learning_rate: 5.0e-4", "learning_rate: .nan"),
            "config key recipes.full.learning_rate: nan ",
        ),
        (
            lambda text: text.replace("seeds: [1, 2, 3, 4]", "seeds: [1, 4294967296]"),
            "config key seeds[1]: 4294967296 ",
        ),
        (
            lambda text: text.replace("word: owl", 'word: "o\\u200bwl"'),
            "config key traits.owl.word: 'o\\u200bwl' holds ",
        ),
        (lambda text: text.replace("alpha: 8", "alpha: 8\n    dropout: 1.0"), "config key recipes.lora8.dropout: "),
        (
            lambda text: text.replace("seeds: [1, 2, 3, 4]", "seeds: [" + ", ".join(map(str, range(5000))) + "]"),
            "config key seeds: the grid plans about 90,108 jobs (5,000 seeds), more than 10,000",
        ),
        (lambda text: text.replace("seeds: [1, 2, 3, 4]", bomb(10) + "seeds: *l9"), "config key l6: stands for more "),
    ],
    ids=[
        "duplicate key",
        "results a file",
        "float count",
        "lora target",
        "scheduler",
        "architecture",
        "word case",
        "nan",
        "seed 2^32",
        "zero-width space",
        "dropout 1",
        "huge grid",
        "alias bomb",
    ],
)
def test_snakemake_refuses_bad_input_in_the_dry_run(tmp_path, edit, start):
    text = (REPO / "config.yaml").read_text()
    assert edit(text) != text
    path = write(tmp_path / "bad.yaml", edit(text))
    assert_refused(run_snakemake("-n", configfiles=[path], check=False), start)


def test_snakemake_types_lists_given_with_config(tmp_path):
    run = run_snakemake("-n", config={"results": tmp_path / "results", "seeds": "[5,6]"})
    assert "seed5" in run.stdout and "seed6" in run.stdout and "seed1" not in run.stdout


def test_a_yaml_error_in_the_default_config_names_its_line(tmp_path):
    """The default config.yaml is read by the Snakefile's configfile
    directive: it is checked before, so a tab names its line."""
    import shutil

    for part in ("Snakefile", "workflow", "src/subliminal"):
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, tmp_path / part)
    text = (REPO / "config.yaml").read_text().replace("seeds: [1, 2, 3, 4]", "seeds:\n\t- 1")
    write(tmp_path / "config.yaml", text)
    line = text.splitlines().index("\t- 1") + 1
    assert_refused(
        run_snakemake("-n", cwd=tmp_path, check=False),
        f"config file config.yaml, line {line}, column 1: not valid YAML: found character '\\t'",
    )


def test_the_study_folder_the_report_shows_must_hold_its_figure_and_tables(tmp_path):
    cfg = configuration.validate(load_config(REPO / "config.yaml"))
    assert cfg["report"]["pretrainings"] == "docs/pretrainings"
    configuration.check_study_folder({"report": {"pretrainings": str(REPO / "docs" / "pretrainings")}})
    configuration.check_study_folder({"report": {"pretrainings": None}})  # null: no study shown
    (tmp_path / "pooled.csv").write_text("test\n")
    with pytest.raises(configuration.ConfigError) as err:
        configuration.check_study_folder({"report": {"pretrainings": str(tmp_path)}})
    assert str(err.value).startswith(f"report.pretrainings: {tmp_path} has no pretrainings.png, pretrainings.csv (")
    # the workflow says so before it plans anything
    bad = dict(cfg, report={"pretrainings": str(tmp_path / "nowhere")}, results=str(tmp_path / "r"))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(bad))
    assert_refused(
        run_snakemake("-n", configfiles=[path], check=False),
        f"report.pretrainings: {tmp_path / 'nowhere'} has no pretrainings.png, pooled.csv, pretrainings.csv",
    )


def bomb(levels: int) -> str:
    """A "billion laughs" YAML file: level i is nine aliases of level i - 1."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
