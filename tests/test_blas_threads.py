"""The BLAS thread limits: a context that puts the setting back, and pool workers kept to one."""

from concurrent.futures import ProcessPoolExecutor

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from melodypair.shared.blas_threads import blas_threads, one_blas_thread_per_worker


def _blas_thread_counts() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


pytestmark = pytest.mark.skipif(
    not _blas_thread_counts(), reason="numpy uses no BLAS library threadpoolctl knows"
)


def test_limit_holds_inside_and_is_undone_after():
    with threadpool_limits(limits=2, user_api="blas"):
        with blas_threads(1):
            assert set(_blas_thread_counts()) == {1}
        assert set(_blas_thread_counts()) == {2}


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match="at least 1"):
        blas_threads(0)


def test_pool_workers_keep_to_one_thread():
    with threadpool_limits(limits=2, user_api="blas"):  # workers inherit nothing of this
        with ProcessPoolExecutor(2, initializer=one_blas_thread_per_worker) as pool:
            counts = list(pool.map(_blas_thread_counts_of, range(4)))
        with ProcessPoolExecutor(1) as pool:
            plain = pool.submit(_blas_thread_counts).result()
    if max(plain) == 1:
        pytest.skip("this machine has one core: BLAS runs one thread anyway")
    assert all(set(c) == {1} for c in counts)


def _blas_thread_counts_of(_: int) -> list[int]:
    return _blas_thread_counts()
