"""The report's parts that need no run: the table pages, and every caption
rendered as Snakemake renders it (Jinja, then reStructuredText) without an
error or a warning, for every metric, table and config kind. The report
itself, in a browser, is tested on a real run in test_workflow_e2e.py."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from docutils.core import publish_parts
from jinja2 import Environment, StrictUndefined

from subliminal import report
from conftest import REPO, load_config

CAPTIONS = REPO / "workflow" / "report"
METRICS = ("exact", "exact_share", "sampled")


def render(path: Path, config: dict, **wildcards) -> str:
    """A caption as snakemake --report makes it: Jinja (trim_blocks,
    lstrip_blocks) with the snakemake object, then docutils to HTML; any
    reStructuredText warning is an error here."""
    text = (
        Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
        .from_string(path.read_text())
        .render(snakemake=SimpleNamespace(config=config, wildcards=SimpleNamespace(**wildcards)))
    )
    return publish_parts(text, writer_name="html", settings_overrides={"halt_level": 2, "report_level": 2})["html_body"]


def flat(fragment: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", fragment))


def rule_captions() -> set[str]:
    """Caption files the rules name (literally or through report_figure)."""
    text = "".join(p.read_text() for p in (REPO / "workflow" / "rules").glob("*.smk"))
    named = set(re.findall(r'caption="\.\./report/(\w+)\.rst"', text))
    kinds = re.search(r"REPORT_FIGURES = \{(.*?)\}", text, flags=re.S)[1]
    return named | set(re.findall(r'"(\w+)":', kinds))


def test_every_caption_a_rule_names_exists_and_every_file_is_used():
    files = {p.stem for p in CAPTIONS.glob("*.rst")} - {"workflow"}
    assert rule_captions() == files


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", ["preferences", "heatmap", "forest", "specificity", "traits", "placebo"])
def test_figure_captions_render_for_every_metric(kind, metric):
    cfg = load_config(REPO / "config.yaml")
    text = flat(render(CAPTIONS / f"{kind}.rst", cfg, metric=metric))
    assert metric in text and "How to read it" in text and len(text) > 400


@pytest.mark.parametrize(
    "table",
    [
        "summary",
        "specificity",
        "placebo",
        "compare",
        "interaction",
        "teachers",
        "misalignment",
        "auxlogit",
        "pooled",
        "pretrainings",
    ],
)
def test_table_captions_render(table):
    text = flat(render(CAPTIONS / "table.rst", {}, table=table))
    assert len(text) > 150


@pytest.mark.parametrize("name", ["misalignment", "auxlogit", "pretrainings"])
def test_branch_captions_render(name):
    assert "How to read it" in flat(render(CAPTIONS / f"{name}.rst", {}))


@pytest.mark.parametrize(
    "config",
    [
        "config.yaml",
        "configs/paper-qwen.yaml",
        "configs/paper-cross.yaml",
        "tests/configs/misalignment.yaml",
        "tests/configs/modalities.yaml",
    ],
)
def test_the_opening_page_renders_each_config(config):
    cfg = load_config(REPO / config)
    cfg.setdefault("results", "results")
    text = flat(render(CAPTIONS / "workflow.rst", cfg))
    assert "Subliminal learning across architectures" in text
    assert f"Seeds: {', '.join(map(str, cfg['seeds']))}" in text
    # a run of toy bases says which pretraining it is and where the claim over pretrainings is
    toys = sorted((name, m["toy"]["seed"]) for name, m in cfg["models"].items() if "toy" in m)
    if toys:
        seeds = ", ".join(f"{name} {seed}" for name, seed in toys)
        assert f"Which pretraining. The toy bases were pretrained by this run, with toy seeds {seeds} (" in text
        assert "python -m subliminal.pretrainings" in text and "docs/findings.md" in text
        study = (cfg.get("report") or {}).get("pretrainings")
        shown = f"The study's figure and tables are in this report, under 7 · Over pretrainings (from {study}"
        assert (shown in text) == bool(study) and bool(study) == (config == "config.yaml")
    else:
        assert "Which pretraining" not in text


def test_a_table_page_shows_the_csv(tmp_path):
    csv = tmp_path / "compare.csv"
    csv.write_text("modality,effect,p,note\nnumbers,0.0123456,1e-05,\ncode,-0.5,0.2,<zero spread>\n")
    out = tmp_path / "compare.html"
    report.write_table_page(csv, out, "analysis/compare.csv")
    page = out.read_text()
    assert "<script" not in page  # a plain page: nothing to run inside the report
    assert "<th>modality</th><th>effect</th><th>p</th><th>note</th>" in page
    assert "<td>0.01235</td>" in page and "<td>1e-05</td>" in page  # 4 significant digits
    assert "&lt;zero spread&gt;" in page and "nan" not in page
    assert "2 rows" in page


def test_summary_text_is_shown_as_it_is(tmp_path):
    txt = tmp_path / "summary.txt"
    txt.write_text("Trait specificity: a < b\n  indented\n")
    out = tmp_path / "summary.html"
    report.write_table_page(txt, out, "analysis/summary.txt")
    assert "<pre>Trait specificity: a &lt; b\n  indented\n</pre>" in out.read_text()
