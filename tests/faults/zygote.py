"""A warm process that forks one child per command, for the fault-injection tests.

Importing torch, scipy and matplotlib takes seconds (tens on a loaded machine); a crash test
needs a fresh process per kill. This process imports everything once, then reads one JSON job
list per line from stdin, forks a child per job (all started before any is waited for, so
several run at once), and answers one JSON line with each child's exit status (``-9`` for
``SIGKILL``). A child changes to the job's folder, sets its environment, sends its output to
``log`` and runs ``fsar_bench.cli.main(argv)`` (or, for a job with ``call``, the function
``faultkit.<call>(*args)``, exit status 0 when it returns).

Every job runs in a forked child with one intra-op thread (set before any torch operation, so
no OpenMP pool exists at the fork), so an interrupted run and its rerun compute in the same
order as the uninterrupted reference.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.figure  # noqa: E402,F401
import pandas  # noqa: E402,F401
import scipy.stats  # noqa: E402,F401
import seaborn  # noqa: E402,F401
import torch  # noqa: E402
import torch._dynamo  # noqa: E402,F401  (imported by the first optimizer)

torch.set_num_threads(1)

import fsar_bench.analysis.measures.outputs  # noqa: E402,F401
import fsar_bench.commands.sweep  # noqa: E402,F401
import fsar_bench.engine.run  # noqa: E402,F401
import fsar_bench.report.build  # noqa: E402,F401
from fsar_bench.cli import main  # noqa: E402
from fsar_bench.errors import FsarError  # noqa: E402


def _child(job: dict) -> None:
    """In the forked child: run one command and exit with its status."""
    try:
        os.chdir(job["cwd"])
        os.environ.update(job.get("env", {}))
        fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        if "call" in job:
            import faultkit

            getattr(faultkit, job["call"])(*job.get("args", []))
            code = 0
        else:
            code = main(job["argv"])
    except FsarError as err:  # a function job's user error: as the command line says it
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except BaseException as err:  # noqa: BLE001 (a test must see it)
        print(f"child crashed: {type(err).__name__}: {err}", file=sys.stderr)
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _wait(pids: list[int], timeout: float) -> list[int]:
    """Exit statuses (``-signal`` if killed); a child past ``timeout`` is killed (``-999``)."""
    end, out = time.monotonic() + timeout, {}
    while len(out) < len(pids):
        for pid in pids:
            if pid in out:
                continue
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                out[pid] = os.waitstatus_to_exitcode(status)
        if time.monotonic() > end:
            for pid in set(pids) - set(out):
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                out[pid] = -999
        time.sleep(0.01)
    return [out[p] for p in pids]


def serve() -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pids = []
        for job in request["jobs"]:
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _child(job)
            pids.append(pid)
        print(json.dumps(_wait(pids, request.get("timeout", 300))), flush=True)


if __name__ == "__main__":
    serve()
