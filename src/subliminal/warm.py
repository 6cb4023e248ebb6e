"""Warm processes: on a local run, the model jobs fork from one process that
has imported torch, transformers, TRL and this package once.

A model job's own work on the toy default is short (an evaluation about a
second, a student about fifteen), and every one of them started a fresh
Python that spent about five seconds importing torch and transformers before
it did anything: a quarter of the default's CPU time. Snakemake runs each
job in its own process, so the sharing happens below it:

* When a local run starts its jobs (the workflow's ``onstart``), :func:`start`
  launches ``python -m subliminal.warm SOCKET OWNER``: it listens on a Unix
  socket in a fresh private folder of the node's temporary directory, then
  imports :data:`PRELOAD` (nothing else runs in it: no thread pool, no CUDA,
  so forking it is safe). The socket's path goes to the jobs in the
  environment (:data:`ENV`).
* A job's script hands its stage call to :func:`call`. Where the socket
  answers, the call (the function, by reference, and its arguments) is sent
  with the job's stdin/stdout/stderr, working directory and environment; the
  server forks a child that takes them over, appends to the job's log, runs
  the call, and sends back its result or its error. The job's process waits
  for it and exits as the call did: a failed call fails the job, its
  traceback in the job's log. A job killed by Snakemake closes the socket,
  and its child ends too.
* Anywhere else the call runs in the job's own process, as before: no
  server (a dry run, a cluster executor: jobs on other nodes), a server that
  does not answer, or a job inside a batch system's allocation
  (:data:`BATCH_JOB`: on a one-node cluster the socket is reachable, but the
  job must run inside its allocation).

The child starts from the state a fresh process has after its imports (the
server did nothing else), and every stage seeds what it draws, so the outputs
are the same either way (checked byte for byte in the tests). The server
ends with the run (``atexit`` in Snakemake's process), or by itself when
that process is gone. Snakemake's benchmark files measure the job's own
process, so a warm job's ``cpu_time`` there is only its client's; the
child's CPU time is in the job's log (``warm process: ... s CPU``).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import os
import pickle
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from .runtime import setup_logging

log = logging.getLogger("subliminal.warm")  # also when run as __main__

#: The environment variable that tells a job where the warm server listens.
ENV = "SUBLIMINAL_WARM"
#: Set (to anything but empty) to run every job in its own process, as before.
OFF = "SUBLIMINAL_NO_WARM"
#: Set inside a batch system's job: such a job runs in its own allocation.
BATCH_JOB = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID")
#: What the server imports once (the heavy stages and the toy architectures).
PRELOAD = (
    "torch",
    "transformers",
    "transformers.models.qwen2.modeling_qwen2",
    "transformers.models.llama.modeling_llama",
    "subliminal.stages",
    "subliminal.train",
    "subliminal.evaluate",
    "subliminal.generation",
    "subliminal.steering",
    "trl",
)
_HEADER = struct.Struct("!Q")


# ----------------------------------------------------------------------------- the job's side


def available() -> str | None:
    """The socket a job here may use, or None (no server, or a batch job)."""
    path = os.environ.get(ENV)
    if not path or any(os.environ.get(v) for v in BATCH_JOB) or not Path(path).exists():
        return None
    return path


def call(log_path: str | None, function, *args, **kwargs):
    """``function(*args, **kwargs)``: in a child of the warm server where one
    is available, else here. ``function`` is a module-level function (sent by
    reference); ``log_path`` the job's log, which the child appends to."""
    path = available()
    conn = None
    if path:
        try:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            conn.connect(path)
        except OSError:
            conn = None
    if conn is None:
        return function(*args, **kwargs)
    with conn:
        request = pickle.dumps(
            {
                "function": function,
                "args": args,
                "kwargs": kwargs,
                "log": log_path,
                "cwd": os.getcwd(),
                "env": dict(os.environ),
            }
        )
        sys.stdout.flush()
        sys.stderr.flush()
        socket.send_fds(conn, [_HEADER.pack(len(request))], [0, 1, 2])
        conn.sendall(request)
        reply = _receive(conn)
    if reply is None:
        raise RuntimeError(f"the warm process running {function.__qualname__} ended without a result (killed?)")
    if reply["ok"]:
        return reply["result"]
    raise RuntimeError(f"{function.__qualname__} failed in a warm process: {reply['error']} (traceback in the log)")


def _receive(conn: socket.socket):
    head = _read(conn, _HEADER.size)
    if head is None:
        return None
    body = _read(conn, _HEADER.unpack(head)[0])
    return None if body is None else pickle.loads(body)


def _read(conn: socket.socket, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _send(conn: socket.socket, obj) -> None:
    body = pickle.dumps(obj)
    conn.sendall(_HEADER.pack(len(body)) + body)


# ----------------------------------------------------------------------------- the run's side


def start(log_path: str | Path) -> subprocess.Popen | None:
    """Launch the server for this process's jobs (from the workflow's
    ``onstart`` on a local run): returns once it listens; it imports in the
    background while the first jobs connect. Stopped at this process's exit.
    None where :data:`OFF` is set."""
    if os.environ.get(OFF):
        return None
    folder = tempfile.mkdtemp(prefix="subliminal-warm-")
    path = str(Path(folder) / "socket")
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    src = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH")])]))
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "subliminal.warm", path, str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    # the socket exists before the first job looks for it
    deadline = time.time() + 30
    while not Path(path).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    if Path(path).exists():
        os.environ[ENV] = path
    atexit.register(stop, proc, folder)
    return proc


def stop(proc: subprocess.Popen, folder: str) -> None:
    """End the server (its children have ended with their jobs) and remove its folder."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(folder, ignore_errors=True)
    if os.environ.get(ENV, "").startswith(folder):
        del os.environ[ENV]


def serve(path: str, owner: int) -> None:
    """Listen on ``path``, import :data:`PRELOAD`, then fork a child per
    connection, until SIGTERM or until process ``owner`` is gone."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(128)  # jobs that connect while the imports run wait in the backlog
    t0 = time.time()
    for name in PRELOAD:  # a SIGTERM meanwhile ends the server at once (a run of light jobs only)
        importlib.import_module(name)
    print(f"warm server {os.getpid()}: imported {len(PRELOAD)} modules in {time.time() - t0:.1f}s", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    server.settimeout(0.5)
    children: set[int] = set()
    while not stopping and os.getppid() == owner:
        children = _reap(children)
        try:
            conn, _ = server.accept()
        except (TimeoutError, InterruptedError):
            continue
        pid = os.fork()
        if pid == 0:
            server.close()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os._exit(_child(conn))
        children.add(pid)
        conn.close()
    server.close()
    while children:  # a job still running keeps its child; wait for it
        children = _reap(children)
        time.sleep(0.1)


def _reap(children: set[int]) -> set[int]:
    for pid in list(children):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
    return children


def _child(conn: socket.socket) -> int:
    """One job's call, in a forked child: take over the job's standard
    streams, directory and environment, run, reply; the exit status."""
    msg, fds, _, _ = socket.recv_fds(conn, _HEADER.size, 3)
    request = pickle.loads(_read(conn, _HEADER.unpack(msg)[0]))
    for fd, target in zip(fds, (0, 1, 2)):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # the job's process gone (killed by Snakemake): this child goes too
    threading.Thread(target=_end_with_the_job, args=(conn.dup(),), daemon=True).start()
    setup_logging(request["log"], mode="a")
    function = request["function"]
    try:
        result = function(*request["args"], **request["kwargs"])
        reply = {"ok": True, "result": result}
    except BaseException as err:  # noqa: BLE001 - every failure goes back to the job
        log.error("%s failed:\n%s", function.__qualname__, traceback.format_exc())
        reply = {"ok": False, "error": f"{type(err).__name__}: {err}"}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    log.info("warm process %d: %.1f s CPU", os.getpid(), usage.ru_utime + usage.ru_stime)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    _send(conn, reply)
    return 0 if reply["ok"] else 1


def _end_with_the_job(conn: socket.socket) -> None:
    try:
        conn.recv(1)  # the job sends nothing more: this returns when it closes its end
    except OSError:
        pass
    os._exit(1)


def main(argv: list[str] | None = None) -> int:
    path, owner = (argv if argv is not None else sys.argv[1:])[:2]
    serve(path, int(owner))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
