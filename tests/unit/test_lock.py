"""One results folder, one run (issue 18): two working copies pointing at
one results folder are not allowed to run at once (subliminal.lock)."""

from __future__ import annotations

import json
import os

import pytest

from subliminal import lock


def test_the_lock_is_held_by_one_copy_and_given_back(tmp_path, monkeypatch):
    results = tmp_path / "results"
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    monkeypatch.chdir(a)
    lock.acquire(results)
    record = json.loads((results / lock.LOCK).read_text())
    assert record["workdir"] == str(a.resolve()) and record["pid"] == os.getpid()
    lock.check(results)  # the copy that holds it is not refused
    lock.acquire(results)  # nor when it starts again (a run of this copy left it: taken over)
    monkeypatch.chdir(b)
    with pytest.raises(lock.ResultsLocked) as err:
        lock.check("../results")  # relative or absolute: one folder
    assert str(err.value).startswith(f"results folder {results.resolve()} is in use by the run in {a.resolve()} (")
    with pytest.raises(lock.ResultsLocked):
        lock.acquire(results)
    assert not lock.unlock(results)  # another copy's lock is not this copy's to remove
    lock.release(results)
    assert (results / lock.LOCK).exists()
    monkeypatch.chdir(a)
    lock.release(results)
    assert not (results / lock.LOCK).exists()
    lock.release(results)  # nothing to give back: nothing happens
    # left by a killed run of this copy: --unlock removes it, whichever process took it
    (results / lock.LOCK).write_text(json.dumps({"workdir": str(a.resolve()), "pid": 1}))
    assert lock.unlock(results) and not (results / lock.LOCK).exists()
    # an unreadable lock is held by someone: refused, not ignored
    (results / lock.LOCK).write_text("{")
    monkeypatch.chdir(b)
    with pytest.raises(lock.ResultsLocked, match="in use by the run in an unknown working copy"):
        lock.check(results)
