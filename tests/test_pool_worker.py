"""Pool workers die with the process that started them (host/pool_worker.py): a parent killed
outright must not leave its workers running."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Starts a pool of one worker, prints the worker's pid, then keeps the worker busy for a minute.
_PARENT = """
import os, sys, time
from concurrent.futures import ProcessPoolExecutor
from melodypair.host.pool_worker import init_pool_worker
with ProcessPoolExecutor(1, initializer=init_pool_worker if sys.argv[1] == "on" else None) as pool:
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 60).result()
"""


def _alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie nobody reaped yet has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _worker_after_parent_killed(initializer: str) -> tuple[int, bool]:
    """Kill the parent with SIGKILL; the worker's pid, and whether it still runs 5 s later."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, initializer], stdout=subprocess.PIPE, text=True
    )
    try:
        worker = int(parent.stdout.readline())
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5.0
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return worker, _alive(worker)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
def test_a_worker_dies_when_its_parent_is_killed():
    worker, alive = _worker_after_parent_killed("on")
    assert not alive, f"worker {worker} outlived its parent"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux")
def test_without_the_initializer_a_worker_outlives_its_parent():
    """What the initializer is for (and proof that the test above can fail)."""
    worker, alive = _worker_after_parent_killed("off")
    try:
        assert alive
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)
