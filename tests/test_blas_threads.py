"""The BLAS thread limits: a context that puts the setting back, the decoder held to its own
thread count while it works, and pool workers kept to one."""

from concurrent.futures import ProcessPoolExecutor

import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from melodypair.host.pool_worker import init_pool_worker
from melodypair.shared.blas_threads import blas_threads
from melodypair.shared.decoder import decode_audio, default_model_dir, load_default_bundle
from melodypair.shared.inference import WindowClassifier
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, render_notes


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


class _ThreadWatcher:
    """The shipped int8 model, noting how many threads numpy's BLAS may use when it is called
    (inside the decoder's work)."""

    def __init__(self, bundle):
        self.model = WindowClassifier(bundle)
        self.blas_threads: list[int] = []

    def predict(self, windows):
        self.blas_threads += _blas_thread_counts()
        return self.model.predict(windows)


@pytest.mark.skipif(
    not (default_model_dir() / "model.tflite").exists(), reason="no shipped model yet"
)
def test_decoder_keeps_numpy_blas_to_its_threads():
    """BLAS pools spin on idle cores: the decoder caps them at its num_threads while it runs and
    leaves the process's own setting as it was."""
    bundle = load_default_bundle()
    melody = MelodyCode().encode(0x1234567890)
    audio = render_notes(list(melody.notes), params=SynthParams(sample_rate_hz=16000)).audio
    with threadpool_limits(limits=3, user_api="blas"):
        watcher = _ThreadWatcher(bundle)
        out = decode_audio(audio, 16000, bundle, classifier=watcher)
        after = set(_blas_thread_counts())
    assert out.melodies
    assert watcher.blas_threads and set(watcher.blas_threads) == {1}
    assert after == {3}


def test_pool_workers_keep_to_one_thread():
    with threadpool_limits(limits=2, user_api="blas"):  # workers inherit nothing of this
        with ProcessPoolExecutor(2, initializer=init_pool_worker) as pool:
            counts = [pool.submit(_blas_thread_counts).result() for _ in range(4)]
        with ProcessPoolExecutor(1) as pool:
            plain = pool.submit(_blas_thread_counts).result()
    if max(plain) == 1:
        pytest.skip("this machine has one core: BLAS runs one thread anyway")
    assert all(set(c) == {1} for c in counts)
