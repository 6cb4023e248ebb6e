"""Warm processes (subliminal.warm): a call runs in a fork of the server
where one answers, with the job's streams, directory, environment and log,
and fails as the job; anywhere else it runs in the job's own process. That
a whole run's outputs are the same either way is checked on the reduced
workflow in test_workflow_e2e.py (its second run is cold)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from subliminal import io, warm


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module (it imports torch and transformers once)."""
    assert not os.environ.get(warm.OFF) and not any(os.environ.get(v) for v in warm.BATCH_JOB)
    log = tmp_path_factory.mktemp("warm") / "logs" / "warm.log"
    proc = warm.start(log)
    folder = str(Path(os.environ[warm.ENV]).parent)
    yield proc, log
    warm.stop(proc, folder)
    assert proc.returncode is not None and not Path(folder).exists() and warm.ENV not in os.environ


def test_a_call_runs_in_a_child_of_the_server_with_the_jobs_streams_and_log(server, tmp_path, capfd, monkeypatch):
    job_log = tmp_path / "job.log"
    job_log.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUBLIMINAL_TEST_VALUE", "42")
    pid = warm.call(str(job_log), os.getpid)
    proc, server_log = server
    assert pid not in (os.getpid(), proc.pid)  # a fork of the server
    assert warm.call(str(job_log), os.getcwd) == str(tmp_path)  # the job's directory
    assert warm.call(str(job_log), os.getenv, "SUBLIMINAL_TEST_VALUE") == "42"  # and environment
    warm.call(str(job_log), print, "from the child")
    assert "from the child" in capfd.readouterr().out  # the job's stdout
    assert "s CPU" in job_log.read_text()  # the child's own CPU time, in the job's log
    # the server imported the heavy modules once, and says so
    deadline = time.time() + 120
    while "imported" not in server_log.read_text() and time.time() < deadline:
        time.sleep(0.2)
    assert f"imported {len(warm.PRELOAD)} modules" in server_log.read_text()


def test_a_failed_call_fails_the_job_with_its_traceback_in_the_log(server, tmp_path):
    job_log = tmp_path / "job.log"
    with pytest.raises(RuntimeError) as err:
        warm.call(str(job_log), io.read_json, str(tmp_path / "missing.json"))
    assert "read_json failed in a warm process" in str(err.value)
    text = job_log.read_text()
    assert "Traceback" in text and "missing.json" in text


def test_without_a_server_or_inside_a_batch_job_the_call_runs_here(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "7")  # a job in its own allocation
    assert warm.call(None, os.getpid) == os.getpid()
    monkeypatch.delenv("SLURM_JOB_ID")
    path = os.environ[warm.ENV]
    try:  # by hand: the fixture's teardown removes the variable, monkeypatch would put it back
        os.environ[warm.ENV] = str(tmp_path / "no-socket")
        assert warm.call(None, os.getpid) == os.getpid()
        del os.environ[warm.ENV]
        assert warm.call(None, os.getpid) == os.getpid()
    finally:
        os.environ[warm.ENV] = path
    assert warm.call(None, os.getpid) != os.getpid()


def test_the_switch_turns_it_off(monkeypatch, tmp_path):
    before = os.environ.get(warm.ENV)
    monkeypatch.setenv(warm.OFF, "1")
    assert warm.start(tmp_path / "warm.log") is None
    assert os.environ.get(warm.ENV) == before and not (tmp_path / "warm.log").exists()
