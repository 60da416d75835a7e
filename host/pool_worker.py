"""Initializer of the host's pools of worker processes (data generation, evaluations, compare).

A worker keeps BLAS to one thread, and it dies with the process that started it. Without that,
a parent killed outright (SIGKILL, the kernel's OOM killer, a test's timeout killing
`melodypair evaluate`) left its workers running: they finished their chunk at full CPU, then
waited forever on a queue that nobody would fill.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys

from melodypair.shared.blas_threads import blas_threads

_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def init_pool_worker() -> None:
    """Pool initializer: one BLAS thread (the workers already fill the cores: data generation
    ran 1.5x the CPU without), and end when the parent ends."""
    blas_threads(1)  # the limit stays in force: nothing restores it
    die_with_parent()


def die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies, and exit at once if the
    parent is already gone (it may die before the request is made). Elsewhere: nothing.
    Linux sends it when the thread that started the worker ends: the pools here are started
    from the main thread, which lives as long as the process."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        return  # not allowed here (a sandbox): the worker lives as before
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)
