"""How many threads numpy's BLAS may use while the decoder works.

The decoder's one BLAS call (the feature filterbank, a product of ~100 x 200 by 200 x 40) is
far too small to gain from threads, yet OpenBLAS splits it over every core and its idle workers
then spin-wait: on 2 cores decoding took twice the CPU (a real-time factor of 0.017 where one
thread needs 0.008). So the decoder caps BLAS at its own thread count while it runs, and puts
the process's setting back afterwards.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from functools import lru_cache

import numpy  # noqa: F401  loads numpy's BLAS before the controller looks for it
from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller() -> ThreadpoolController:
    """The loaded BLAS libraries, looked up once (a lookup costs ~0.5 ms; a limit ~20 us)."""
    return ThreadpoolController()


def blas_threads(limit: int) -> AbstractContextManager:
    """A context in which numpy's BLAS uses at most `limit` threads."""
    if limit < 1:
        raise ValueError(f"a BLAS thread limit must be at least 1, not {limit}")
    return _controller().limit(limits=limit, user_api="blas")
