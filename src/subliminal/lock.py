"""One results folder, one run: a lock file in the results folder, so that
two working copies pointing at one (absolute) results folder do not train
the same student at once or delete each other's checkpoints. Snakemake's own
lock (.snakemake/locks) is per working copy and cannot see the other copy.

The lock (``<results>/.subliminal.lock``, JSON: the working copy, host,
process and start time) is taken when a run starts its jobs (the workflow's
onstart hook) and removed when that process ends (normally, by an error or
by Ctrl-C); ``snakemake --unlock`` in the copy that holds it removes one left
behind by a killed run, as it does Snakemake's own. Every other Snakemake
call in another copy (a dry run too) is refused while the lock is there: its
plan would be of files another run is writing. The copy that holds the lock
is not refused: Snakemake's own lock guards it.
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import socket
from pathlib import Path

LOCK = ".subliminal.lock"


class ResultsLocked(RuntimeError):
    """Another working copy's run holds the results folder; the message is one line."""


def _me() -> dict:
    return {
        "workdir": str(Path.cwd().resolve()),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def lock_path(results: str | os.PathLike) -> Path:
    return Path(results).resolve() / LOCK


def holder(results: str | os.PathLike) -> dict | None:
    """Who holds the lock of a results folder (None: nobody). A lock file
    that cannot be read is held by an unknown copy."""
    path = lock_path(results)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"workdir": "an unknown working copy (the lock file is unreadable)"}
    return record if isinstance(record, dict) else {"workdir": "an unknown working copy"}


def _mine(record: dict | None) -> bool:
    return record is not None and record.get("workdir") == str(Path.cwd().resolve())


def check(results: str | os.PathLike) -> None:
    """Refuse, with one line, a results folder another working copy's run holds."""
    record = holder(results)
    if record is None or _mine(record):
        return
    path = lock_path(results)
    who = record.get("workdir")
    where = ", ".join(f"{k} {record[k]}" for k in ("host", "pid", "since") if k in record)
    raise ResultsLocked(
        f"results folder {path.parent} is in use by the run in {who}" + (f" ({where})" if where else "") + "; "
        f"wait for it to end, or if no run is going there, run `snakemake --unlock` in {who} (or delete {path})"
    )


def acquire(results: str | os.PathLike) -> None:
    """Take the lock of a results folder for this process (refused if another
    copy holds it; one of this copy, left by a killed run, is taken over),
    and give it back when the process ends."""
    path = lock_path(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = _me()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        check(results)  # another copy's: refused; this copy's: taken over
        tmp = path.with_name(f"{LOCK}.{os.getpid()}")
        tmp.write_text(json.dumps(me) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(me) + "\n")
    atexit.register(release, path.parent)


def release(results: str | os.PathLike) -> None:
    """Remove the lock if this process holds it."""
    record = holder(results)
    if _mine(record) and record.get("pid") == os.getpid():
        lock_path(results).unlink(missing_ok=True)


def unlock(results: str | os.PathLike) -> bool:
    """``snakemake --unlock``: remove a lock this working copy holds (left by
    a killed run), whichever process took it. True if one was removed."""
    if _mine(holder(results)):
        lock_path(results).unlink(missing_ok=True)
        return True
    return False
