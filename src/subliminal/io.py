"""Reading the workflow's own files: one JSONL reader (and its writer), one
table reader and one JSON reader for the whole package.

A file another job wrote can be cut short (a job killed mid-write, a full
disk) or be empty. Every error here is one line that names the file and,
where there is one, the line: a line that is not JSON, a record without a
field it needs, a table row with fewer fields than its header (or a last row
without its end of line), an empty table, or one with a header and no rows,
and, in the columns a reader names, an empty cell, a NaN or an infinity.
Nothing is read as a silent NaN row or an empty analysis. (Which rows a
table must hold is the design's: :mod:`subliminal.tables`.)
"""

from __future__ import annotations

import csv
import io as _io
import json
from pathlib import Path

import numpy as np
import pandas as pd


class DataFileError(ValueError):
    """A file the workflow wrote is unreadable or incomplete; the message is
    one line that names the file (and the line)."""


def _iter_jsonl(path: str | Path):
    """(line number, parsed JSON) for every non-blank line."""
    if not Path(path).is_file():
        raise DataFileError(f"no such file {str(Path(path))!r}")
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield i, json.loads(line)
            except json.JSONDecodeError as err:
                cut = "" if line.endswith("\n") else "; the file ends mid-line: truncated?"
                raise DataFileError(f"{path} line {i} is not JSON ({err.msg}, column {err.colno}{cut})") from None


def read_jsonl(path: str | Path, required: tuple[str, ...] = (), *, numbered: bool = False) -> list:
    """The records of a JSONL file, each a JSON object with every
    ``required`` field. ``numbered``: instead (line number, parsed JSON) for
    every non-blank line, whatever JSON it holds, for a reader that checks
    its records itself and names their lines (a prompt source)."""
    if numbered:
        return list(_iter_jsonl(path))
    out = []
    for i, record in _iter_jsonl(path):
        if not isinstance(record, dict):
            raise DataFileError(f"{path} line {i}: not a JSON object")
        for key in required:
            if key not in record:
                raise DataFileError(f"{path} line {i}: the record has no {key!r} (needed: {', '.join(required)})")
        out.append(record)
    return out


def write_jsonl(
    records: list, path: str | Path, *, sort_keys: bool = True, ensure_ascii: bool = False, mkdir: bool = False
) -> None:
    """One JSON object per line, as :func:`read_jsonl` reads them: keys
    sorted and text as it is (the teacher data), unless told otherwise (a
    fetched dataset keeps its columns' order, escaped); ``mkdir``: make the
    folder first."""
    if mkdir:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + "\n")


def read_json(path: str | Path, required: tuple[str, ...] = ()) -> dict:
    """A JSON report (screen.json, filter.json, ...) with every ``required`` key."""
    text = _text(path)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataFileError(f"{path} line {err.lineno} is not JSON ({err.msg})") from None
    if not isinstance(obj, dict):
        raise DataFileError(f"{path}: not a JSON object")
    for key in required:
        if key not in obj:
            raise DataFileError(f"{path}: no {key!r} (needed: {', '.join(required)})")
    return obj


def _text(path: str | Path) -> str:
    """A file's text; a file that is not UTF-8 is an error naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataFileError(f"{path}: not UTF-8 text (byte {err.start}: a binary or corrupt file?)") from None


def read_table(
    path: str | Path,
    sep: str = ",",
    required: tuple[str, ...] = (),
    allow_empty: bool = False,
    complete: tuple[str, ...] = (),
    finite: tuple[str, ...] = (),
    **read_csv,
) -> pd.DataFrame:
    """A CSV (or, ``sep="\\t"``, TSV) table the workflow wrote: it has a
    header with every ``required`` column, every row has as many fields as
    the header, the last row ends its line, and (unless ``allow_empty``)
    there is at least one row. Every cell of a ``complete`` column has a
    value (not empty, not NaN as ``read_csv`` reads it), and every cell of a
    ``finite`` column is a finite number: a statistic never averages a gap
    away. ``read_csv``: passed to pandas (e.g. how empty fields read)."""
    text = _text(path)
    if not text.strip():
        raise DataFileError(f"{path}: empty (no header, no rows)")
    reader = csv.reader(_io.StringIO(text, newline=""), delimiter=sep)
    header, rows, line = None, 0, 0
    for row in reader:
        if not row:
            continue
        if header is None:
            header = row
        else:
            rows += 1
            if len(row) != len(header):
                raise DataFileError(
                    f"{path} line {reader.line_num}: {len(row)} fields where the header has "
                    f"{len(header)} (a row cut short?)"
                )
        line = reader.line_num
    if not text.endswith("\n"):
        raise DataFileError(f"{path} line {line}: the last row does not end its line (the file is truncated)")
    missing = [c for c in (*required, *complete, *finite) if c not in header]
    if missing:
        raise DataFileError(f"{path}: no column {missing[0]!r} (columns: {', '.join(header)})")
    if rows == 0 and not allow_empty:
        raise DataFileError(f"{path}: a header and no rows")
    try:
        df = pd.read_csv(path, sep=sep, **read_csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise DataFileError(f"{path}: {str(err).splitlines()[0]}") from None
    for column in complete:
        gaps = df[column].isna().to_numpy().nonzero()[0]
        if len(gaps):
            raise _cell_error(path, sep, int(gaps[0]), column, "a value")
    for column in finite:
        values = pd.to_numeric(df[column], errors="coerce")
        bad = (~np.isfinite(values.to_numpy(dtype=float))).nonzero()[0]
        if len(bad):
            raise _cell_error(path, sep, int(bad[0]), column, "a finite number")
        df[column] = values
    return df


def row_at(path: str | Path, row: int, sep: str = ",") -> tuple[int, dict]:
    """The line on which data row ``row`` of a table file starts (0: the
    first after the header, as pandas counts them) and its fields by column:
    for an error message, so the file is read again only then."""
    reader = csv.reader(_io.StringIO(_text(path), newline=""), delimiter=sep)
    header, n, start = None, 0, 1
    for record in reader:
        if record:
            if header is None:
                header = record
            elif n == row:
                return start, dict(zip(header, record))
            else:
                n += 1
        start = reader.line_num + 1
    raise IndexError(f"{path} has no data row {row}")


def _cell_error(path, sep: str, row: int, column: str, wanted: str) -> DataFileError:
    line, fields = row_at(path, row, sep)
    cell = fields[column]
    what = "is empty" if not cell.strip() else f"is {cell!r}"
    return DataFileError(f"{path} line {line}: column {column!r} {what}, not {wanted}")
