"""One real run of a reduced grid through Snakemake on CPU, then a second run
of the same config: the teacher datasets are byte-identical and so is the
statistics table. Opens the produced table and figure, and the run's HTML
report in a real (headless) browser."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path

import matplotlib.image as mpimg
import pandas as pd
import pytest
import yaml

from conftest import REPO, dry_run, load_config, run_snakemake

pytestmark = pytest.mark.slow


#: What the second run makes and the first one's is compared with: the
#: analysis tables, and through them every teacher dataset, student and
#: evaluation (its figures and report are the first run's to check).
COMPARED = ("scores.csv", "compare.csv", "summary.csv", "interaction.csv", "targets.csv", "teachers.csv")


def run_workflow(cfg: dict, tmp: Path, name: str, env: dict | None = None, tables: tuple[str, ...] = ()) -> Path:
    """A run of ``cfg`` in ``tmp/name``: everything, or the analysis ``tables`` and what they need."""
    results = tmp / name
    cfg = {**cfg, "results": str(results)}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    targets = [results / "analysis" / t for t in tables]
    run_snakemake(*targets, "--rerun-triggers", "mtime", cores=2, configfiles=[path], env=env)
    return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_base):
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = load_config(REPO / "tests" / "configs" / "tiny.yaml")
    # the real-model path: a saved model in a local folder (as a hub snapshot
    # would be), of another size, as the mismatched student
    cfg["models"]["local"] = {"path": str(tiny_base), "architecture_family": "qwen2"}
    cfg["pairs"] = [{"teacher": "qwen_a", "student": "qwen_a"}, {"teacher": "qwen_a", "student": "local"}]
    # the report shows the committed study over pretrainings beside the run
    cfg["report"] = {"pretrainings": str(REPO / "docs" / "pretrainings")}
    first = run_workflow(cfg, tmp, "first")
    # the second run rebuilds the analysis tables from the teacher data on (the
    # toy bases' determinism is tested on its own, in unit/test_toy.py), each
    # job in its own process: the first one's model jobs forked from a warm
    # process (subliminal.warm)
    second = tmp / "second"
    shutil.copytree(first / "bases", second / "bases")
    run_workflow(cfg, tmp, "second", env={**os.environ, "SUBLIMINAL_NO_WARM": "1"}, tables=COMPARED)
    return cfg, first, second


def test_tables_and_figures_exist_and_make_sense(runs):
    cfg, first, _ = runs
    compare = pd.read_csv(first / "analysis" / "compare.csv")
    n_groups = len(cfg["pairs"]) * len(cfg["traits"]) * len(cfg["students"]["recipes"]) * 3  # 3 metrics
    assert len(compare) == n_groups
    assert set(compare.relation) == {"same_base", "same_architecture"}
    assert (compare.n_pairs == len(cfg["seeds"])).all()
    assert compare[["base_mean", "control_mean", "trait_mean"]].stack().between(0, 1).all()
    summary = pd.read_csv(first / "analysis" / "summary.csv")
    assert set(summary.role) == {"base", "control", "trait"}
    text = (first / "analysis" / "summary.txt").read_text()
    assert "MDE" in text and "correction" in text
    assert "Pretraining: one pretraining of the toy bases" in text  # and where the claim is
    for metric in ("exact", "exact_share", "sampled"):
        img = mpimg.imread(first / "figures" / f"preferences_{metric}.png")
        assert img.shape[0] > 500 and img.shape[1] > 500 and img.std() > 0.01  # not blank
        assert (first / "figures" / f"preferences_{metric}.pdf").stat().st_size > 5000
        for kind in ("heatmap", "forest"):
            img = mpimg.imread(first / "figures" / f"{kind}_{metric}.png")
            assert img.shape[0] > 500 and img.shape[1] > 1000 and img.std() > 0.01
            assert (first / "figures" / f"{kind}_{metric}.pdf").read_bytes()[:5] == b"%PDF-"
    # the interaction test: one matched and one mismatched pair per trait, so
    # every stratum of the exact metrics is testable (2 samples per question
    # can leave every sampled twin equal to its control: then it says so);
    # 2 models x 3 terms x 3 metrics per trait
    inter = pd.read_csv(first / "analysis" / "interaction.csv", keep_default_na=False)
    assert len(inter) == len(cfg["traits"]) * len(cfg["students"]["recipes"]) * 2 * 3 * 3
    assert (inter.n_seeds == len(cfg["seeds"])).all()
    assert (inter[inter.metric != "sampled"].note == "").all()
    assert inter.note.isin(["", "no twin differs from its control (zero spread)"]).all()
    assert "Is transmission larger for matched" in text


def test_filter_reports_and_provenance(runs):
    cfg, first, _ = runs
    for report in (first / "data").glob("*/*/*/rep*/filter.json"):
        r = json.loads(report.read_text())
        assert r["total"] == cfg["modalities"]["numbers"]["prompts"]
        assert r["kept"] + sum(r["reasons"].values()) == r["total"]
    assert not (first / "bases" / "qwen_b").exists()  # defined but in no pair: never built
    assert (first / "students" / "numbers" / "qwen_a" / "control" / "local").is_dir()
    provs = list((first / "students").glob("**/provenance.json"))
    assert len(provs) == len(cfg["pairs"]) * len(cfg["seeds"]) * (len(cfg["traits"]) + 1)
    prov = json.loads(provs[0].read_text())
    assert len(prov["data_sha256"]) == 64 and prov["versions"]["trl"]
    assert list((first / "logs").glob("**/*.log"))


def test_same_config_same_seed_same_data_and_statistics(runs):
    _, first, second = runs
    raws = sorted(p.relative_to(first) for p in (first / "data").glob("**/raw.jsonl"))
    assert raws
    for rel in raws:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    for table in COMPARED:
        assert (first / "analysis" / table).read_bytes() == (second / "analysis" / table).read_bytes(), table
    # warm (first) and cold (second) model jobs: the same students, the same evaluations
    made = sorted(p.relative_to(first) for p in first.glob("students/**/model/*.safetensors"))
    made += sorted(p.relative_to(first) for p in first.glob("eval/**/*.tsv"))
    assert len(made) > 10
    for rel in made:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
    warm_logs = [p for p in (first / "logs" / "students").glob("**/*.log") if "warm process" in p.read_text()]
    assert warm_logs and (first / "logs" / "warm.log").exists() and not (second / "logs" / "warm.log").exists()
    assert not [p for p in (second / "logs").glob("**/*.log") if "warm process" in p.read_text()]


def planned_rules(cfg: dict, tmp: Path, name: str) -> list[str]:
    """The rules a dry run of ``cfg`` would run (every rerun trigger on)."""
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return [job["rule"] for job in dry_run(configfiles=[path]).jobs]


def test_a_changed_toy_recipe_rebuilds_the_toy(runs, tmp_path):
    """A toy base is made from config: a change to its pretraining rebuilds
    it (the params trigger), the same config rebuilds nothing."""
    cfg, first, _ = runs
    cfg = {**cfg, "results": str(first)}
    assert "build_toy_base" not in planned_rules(cfg, tmp_path, "same")
    changed = {**cfg, "toy_pretraining": {**cfg["toy_pretraining"], "steps": cfg["toy_pretraining"]["steps"] + 1}}
    toys = {b for pair in cfg["pairs"] for b in pair.values() if "toy" in cfg["models"][b]}  # the grid's toys
    assert toys and planned_rules(changed, tmp_path, "changed").count("build_toy_base") == len(toys)


# ---------------------------------------------------------------- the report, in a browser

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def headless_chromium():
    """Debian's Chromium driven by Selenium, logging the page's console. Where
    it is missing the test skips, except under CI (.ci/run installs it)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("selenium (pip, requirements-test.txt)")
    if missing:
        why = f"no {', '.join(missing)}: apt-get install chromium chromium-driver (as .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run in CI: {why}")
        pytest.skip(why)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1000",
    ):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))


def build_report(cfg: dict, results: Path, out: Path) -> None:
    path = out.with_suffix(".yaml")
    path.write_text(yaml.safe_dump({**cfg, "results": str(results)}))
    run_snakemake("--report", out, configfiles=[path])


def _flat(fragment: str) -> str:
    """The text of an HTML fragment without any whitespace (to compare with
    what the browser renders)."""
    return re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", fragment)))


def test_the_report_opens_in_a_browser_with_every_figure_captioned(runs, tmp_path):
    """snakemake --report on the reduced run, opened in headless Chromium as a
    reader would: each category from the menu, each entry's view button (a
    figure must be drawn: its image has a natural size; a table page must hold
    its table) and its info button (the caption must show). No console error."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    cfg, first, _ = runs
    report = tmp_path / "report.html"
    build_report(cfg, first, report)
    driver = headless_chromium()
    try:
        wait = WebDriverWait(driver, 30)

        def click(element):
            # a script click: the menu slides in (CSS transitions), and a
            # pointer click can land on the entry that was there a moment ago
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", element)

        def open_report():
            driver.get(report.as_uri())
            wait.until(
                lambda d: d.execute_script("return document.querySelector('#loading-screen').style.display") == "none"
            )

        open_report()
        # the opening page: the workflow description with this run's grid, its
        # title in view (the report centres the page: a long one loses its top)
        title = wait.until(lambda d: d.find_elements(By.XPATH, "//h1[@class='title']"))[0]
        assert title.text == "Subliminal learning across architectures"
        pair = cfg["pairs"][-1]
        assert f"{pair['teacher']} -> {pair['student']}" in driver.find_element(By.ID, "app").text
        categories = driver.execute_script("return categories")
        results = driver.execute_script("return results")
        figures = {p for p, r in results.items() if r["mime_type"] == "image/png"}
        metrics = ("exact", "exact_share", "sampled")
        kinds = ("preferences", "heatmap", "forest", "specificity", "traits", "placebo")
        study = str(first / "pretrainings" / "pretrainings.png")
        assert figures == {str(first / "figures" / f"{k}_{m}.png") for k in kinds for m in metrics} | {study}
        assert "7 · Over pretrainings" in categories
        tables = {Path(p).stem for p, r in results.items() if r["mime_type"] == "text/html"}
        assert tables == {"summary", "specificity", "placebo", "compare", "interaction", "teachers"} | {
            "pooled",
            "pretrainings",
        }
        seen = []
        for category, subcategories in categories.items():
            for path in [p for paths in subcategories.values() for p in paths]:
                entry = results[path]
                label = next(iter(entry["labels"].values()))
                open_report()
                # the menu names each category (or, when there is one, "Results")
                name = category if len(categories) > 1 else "Results"
                menu = f"//nav//a[span[normalize-space()='{name}']]"
                click(wait.until(lambda d: d.find_elements(By.XPATH, menu))[0])
                row = f'//nav//tbody/tr[td[1][normalize-space()="{label}"]]'
                click(
                    wait.until(lambda d: d.find_elements(By.XPATH, row))[0].find_element(By.XPATH, "./td[last()]//a[1]")
                )
                if path in figures:
                    img = wait.until(
                        lambda d: [
                            i
                            for i in d.find_elements(By.XPATH, "//img[not(ancestor::nav)]")
                            if i.get_attribute("src") == entry["data_uri"]
                        ]
                    )[0]
                    wait.until(lambda d: d.execute_script("return arguments[0].complete", img))
                    width, height = driver.execute_script(
                        "return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img
                    )
                    assert width > 500 and height > 500, (path, width, height)
                else:
                    frame = wait.until(
                        lambda d: [
                            f
                            for f in d.find_elements(By.TAG_NAME, "iframe")
                            if f.get_attribute("src") == entry["data_uri"]
                        ]
                    )[0]
                    driver.switch_to.frame(frame)
                    if Path(path).stem == "summary":  # the text to read first, whole
                        text = driver.find_element(By.TAG_NAME, "pre").text
                        assert "Trait specificity" in text and "MDE" in text and "matched" in text
                    else:
                        header = [th.text for th in driver.find_elements(By.XPATH, "//table/thead//th")]
                        assert "modality" in header, (path, header)
                    driver.switch_to.default_content()
                if path == str(first / "figures" / "specificity_exact_share.png"):
                    driver.save_screenshot(str(tmp_path / "report_specificity_exact_share.png"))
                # the caption, under the entry's information
                click(driver.find_element(By.XPATH, f"{row}/td[last()]//a[2]"))
                caption = _flat(entry["caption"])
                assert len(caption) > 200, path  # a caption, not a title
                wait.until(lambda d: caption[:120] in re.sub(r"\s+", "", d.find_element(By.TAG_NAME, "nav").text))
                seen.append(path)
        driver.save_screenshot(str(tmp_path / "report.png"))
        assert sorted(seen) == sorted(results)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
    assert (tmp_path / "report_specificity_exact_share.png").stat().st_size > 10_000
