"""The tables of the HTML report (``snakemake --report``).

Snakemake's report shows an image or an HTML page inline, and offers any
other file (a CSV, a text file) only as a download. So each result table is
also written as a small self-contained HTML page (no script, no external
resource), which the report registers with its caption: the reader sees the
table itself. The CSV beside it stays the file to compute with.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from .io import read_table

_STYLE = """
body { font-family: system-ui, sans-serif; font-size: 13px; margin: 12px; color: #1e293b; }
h1 { font-size: 16px; margin: 0 0 4px 0; }
p.source { color: #64748b; margin: 0 0 10px 0; }
table { border-collapse: collapse; }
th, td { border: 1px solid #cbd5e1; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f1f5f9; position: sticky; top: 0; }
td.text { text-align: left; }
tr:nth-child(even) td { background: #f8fafc; }
pre { font-size: 12px; white-space: pre-wrap; }
"""


def _page(title: str, source: str, body: str) -> str:
    return (
        f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n"
        f'<h1>{html.escape(title)}</h1>\n<p class="source">{html.escape(source)}</p>\n{body}\n</body>\n</html>\n'
    )


def _cell(value) -> tuple[str, bool]:
    """A cell's text (numbers to 4 significant digits) and whether it is text."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "", False
    if isinstance(value, bool):
        return str(value), True
    if isinstance(value, float):
        return f"{value:.4g}", False
    if isinstance(value, int):
        return str(value), False
    return str(value), True


def table_html(df: pd.DataFrame, title: str, source: str) -> str:
    """An HTML page with ``df`` as a table: text left, numbers right."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for rec in df.itertuples(index=False):
        cells = []
        for value in rec:
            text, is_text = _cell(value)
            cells.append(f'<td class="text">{html.escape(text)}</td>' if is_text else f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"
    return _page(title, f"{source}: {len(df)} rows", body)


def text_html(text: str, title: str, source: str) -> str:
    """An HTML page with ``text`` as it is (a plain-text summary)."""
    return _page(title, source, f"<pre>{html.escape(text)}</pre>")


def write_table_page(src: str | Path, out: str | Path, title: str) -> None:
    """``src`` (a CSV the workflow wrote, or a .txt) as an HTML page ``out``."""
    src, out = Path(src), Path(out)
    if src.suffix == ".txt":
        page = text_html(src.read_text(encoding="utf-8"), title, src.name)
    else:
        # empty fields stay empty (a note column), not "nan"
        df = read_table(src, allow_empty=True, keep_default_na=False, na_values=[""])
        page = table_html(df, title, f"{src.parent.name}/{src.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
