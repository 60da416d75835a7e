"""Recognizer model cost: int8 per-window latency (LiteRT, 1 thread), file size, model-only RTF.

Measures the bundle at models/default when there is one, otherwise a freshly built, untrained
model of the default shape exported to int8 (latency and size do not depend on the weights).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_DIR = REPO / "models" / "default"
MAX_MODEL_KB = 100.0


def _default_bundle():
    from melodypair.shared.model_bundle import ModelBundleError, load_bundle

    try:
        return load_bundle(DEFAULT_MODEL_DIR), "models/default"
    except ModelBundleError:
        return None, ""


def _untrained_bundle(folder: Path):
    """Export an untrained default-shape model; representative windows span the feature range."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from melodypair.host.model import ModelConfig, model_from_config
    from melodypair.host.quantize import describe_model, export_int8
    from melodypair.shared.alphabet import DEFAULT_ALPHABET
    from melodypair.shared.features import DEFAULT_FEATURES

    config, f = ModelConfig(), DEFAULT_FEATURES
    model = model_from_config(config, f.n_bands, len(DEFAULT_ALPHABET) + 1)
    rng = np.random.default_rng(0)
    windows = rng.normal(-5.0, 1.2, (200, config.window_frames, f.n_bands)).astype(np.float32)
    fields = describe_model("untrained-default-shape", DEFAULT_ALPHABET, f, config)
    return export_int8(model, windows, folder, fields)


def _per_window_ms(classifier, windows: np.ndarray, batch: int, repeats: int = 5) -> float:
    """Best of `repeats` runs of predict() on `batch` windows at a time, per window."""
    chunks = [windows[i : i + batch] for i in range(0, len(windows) - batch + 1, batch)]
    classifier.predict(chunks[0])  # warm-up (allocation, delegate)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for chunk in chunks:
            classifier.predict(chunk)
        best = min(best, (time.perf_counter() - start) / (len(chunks) * batch))
    return 1000.0 * best


def run() -> list[dict]:
    from melodypair.shared.inference import WindowClassifier

    bundle, source = _default_bundle()
    with tempfile.TemporaryDirectory() as tmp:
        if bundle is None:
            bundle, source = _untrained_bundle(Path(tmp)), "untrained default shape"
        m = bundle.manifest
        n_bands = bundle.feature_params.n_bands
        rng = np.random.default_rng(1)
        windows = rng.normal(-5.0, 1.2, (512, m.window_frames, n_bands)).astype(np.float32)
        single = _per_window_ms(WindowClassifier(bundle, num_threads=1, max_batch=1), windows, 1)
        batched_classifier = WindowClassifier(bundle, num_threads=1)
        batched = _per_window_ms(batched_classifier, windows, batched_classifier.max_batch)
        size_kb = bundle.size_bytes / 1000.0
    hop_ms = m.window_hop_frames * bundle.feature_params.hop_ms
    windows_per_s = 1000.0 / hop_ms
    return [
        {"name": f"int8 model ({source})", "value": size_kb, "unit": "KB",
         "target": f"<= {MAX_MODEL_KB:.0f}", "ok": size_kb <= MAX_MODEL_KB},
        {"name": "latency per window, batch 1, 1 thread", "value": single, "unit": "ms"},
        {"name": f"latency per window, batch {batched_classifier.max_batch}, 1 thread",
         "value": batched, "unit": "ms"},
        {"name": f"model cost per s of audio, batch 1 ({windows_per_s:.0f} windows/s)",
         "value": single * windows_per_s, "unit": "ms/s"},
        {"name": "model-only real-time factor, batched", "value": batched * windows_per_s / 1000,
         "unit": "x"},
    ]  # fmt: skip
