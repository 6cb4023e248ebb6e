"""The documentation: a README short enough to read whole, a configuration
reference that is the schema's, and links that lead somewhere."""

from __future__ import annotations

import re

import pytest
import yaml

from conftest import REPO
from subliminal import config as configuration, schemadoc

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_the_configuration_reference_is_written_from_the_schema():
    schema = yaml.safe_load(configuration.SCHEMA_PATH.read_text())
    expected = schemadoc.reference(schema)
    assert (REPO / "docs" / "configuration.md").read_text() == expected, (
        "docs/configuration.md is out of date: python -m subliminal.schemadoc "
        "src/subliminal/config.schema.yaml > docs/configuration.md"
    )


def test_the_reference_has_a_row_for_every_key_the_schema_names():
    schema = yaml.safe_load(configuration.SCHEMA_PATH.read_text())
    text = (REPO / "docs" / "configuration.md").read_text()
    for key in schema["properties"]:
        assert f"| `{key}` |" in text, key
    for key in ("traits.<name>.teacher.strength", "modalities.numbers.replicates", "recipes.<name>.learning_rate"):
        assert f"| `{key}` |" in text, key


def test_the_readme_is_short():
    assert len((REPO / "README.md").read_text().splitlines()) <= 250


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file_and_heading(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"https?:|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name}: {target} (no {dest})"
        if anchor and dest.suffix == ".md":
            headings = {_anchor(h) for h in re.findall(r"(?m)^#+ (.+)$", dest.read_text())}
            assert anchor in headings, f"{page.name}: {target} (no such heading in {dest.name})"
