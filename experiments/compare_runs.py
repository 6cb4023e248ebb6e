"""Byte-compare two runs of the workflow: every teacher dataset (raw,
screened, filtered and their reports), every evaluation (scores and
answers, compressed ones decompressed: gzip headers carry a time) and every
analysis table. For refactorings that must not change a result, on one
machine (numerics differ between CPUs). Evaluations are found in
eval/<evaluation id>/ or, for a run made before the id existed, in eval/;
the preference ones in its preference/ folder or, before issue 20, in it.
An evaluation scores table of the second run that opens with the identity
columns (subliminal.grid.IDENTITY) where the first run's does not is
compared without them, and the count of such tables is printed.

    python experiments/compare_runs.py results-before results-after
"""

from __future__ import annotations

import gzip
import re
import sys
from pathlib import Path


def eval_root(results: Path) -> Path:
    ids = [p for p in (results / "eval").iterdir() if p.is_dir() and re.fullmatch(r"[0-9a-f]{10}", p.name)]
    if len(ids) > 1:
        sys.exit(f"{results}/eval holds {len(ids)} evaluations: compare runs of one evaluation")
    return ids[0] if ids else results / "eval"


def files(results: Path) -> dict[str, Path]:
    """Relative name -> path of every compared file of a run."""
    out = {str(p.relative_to(results)): p for p in (results / "data").rglob("*") if p.is_file()}
    ev = eval_root(results)
    # the preference evaluations are in eval/<id>/preference/ since issue 20, beside misalignment/
    out |= {
        f"eval/{p.relative_to(ev)}".replace("eval/preference/", "eval/", 1): p for p in ev.rglob("*") if p.is_file()
    }
    return out | {str(p.relative_to(results)): p for p in (results / "analysis").glob("*") if p.is_file()}


def content(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


#: The identity columns an evaluation table opens with since issue 20.
IDENTITY = ("evaluation", "model", "role", "teacher_base", "student_base", "teacher")
IDENTITY += ("modality", "recipe", "seed", "replicate")


def without_identity(before: bytes, after: bytes) -> bytes | None:
    """``after`` with its identity columns cut, where ``before`` has none
    (None: not such a pair of tables)."""
    head_a, head_b = before.split(b"\n", 1)[0].split(b"\t"), after.split(b"\n", 1)[0].split(b"\t")
    n = len(IDENTITY)
    if tuple(h.decode() for h in head_b[:n]) != IDENTITY or head_b[n:] != head_a:
        return None
    # the identity cells hold no tab or newline (names, numbers, a hash)
    return b"".join(line.split(b"\t", n)[n] for line in after.splitlines(keepends=True))


def main(before: str, after: str) -> int:
    a, b = files(Path(before)), files(Path(after))
    differ, cut = [], 0
    for k in sorted(a.keys() & b.keys()):
        old, new = content(a[k]), content(b[k])
        stripped = without_identity(old, new) if old != new and k.endswith(".tsv") else None
        if stripped is not None:
            new, cut = stripped, cut + 1
        if old != new:
            differ.append(k)
    if cut:
        print(f"{cut} evaluation tables compared without their identity columns")
    for name in sorted(a.keys() ^ b.keys()):
        print(f"only in {'the first' if name in a else 'the second'}: {name}")
    for name in differ:
        print(f"differs: {name}")
    print(f"{len(a.keys() & b.keys()) - len(differ)} of {len(a.keys() | b.keys())} files identical")
    return 1 if differ or a.keys() != b.keys() else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
