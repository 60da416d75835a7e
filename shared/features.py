"""The model's input features: log-power in log-spaced bands covering the alphabet's pitch range.

This is the only feature code in the project: training, evaluation and the device all call it.
Frame i covers samples [i * hop, i * hop + frame) of 16 kHz mono float audio in [-1, 1]; it is
emitted as soon as its last sample arrives, so streaming and whole-file runs give the same frames.

Vocabulary used everywhere:
- chunk: the samples an audio source delivers at once (any size);
- hop: the step between feature frames (`hop_samples`, 10 ms by default);
- window: the run of consecutive frames the model classifies at once (see the model manifest).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# Bump when the computation changes in a way the parameters do not show; it is in the fingerprint.
FEATURE_ALGORITHM_VERSION = 1


@dataclass(frozen=True)
class FeatureParams:
    """Everything that determines the feature frames; its fingerprint is stored with each model."""

    sample_rate_hz: int = 16000
    frame_samples: int = (
        640  # 40 ms Hann window: resolves E5/F5 (39 Hz apart), short enough for rests
    )
    hop_samples: int = 160  # 10 ms
    fft_samples: int = 2048  # zero-padded so the narrow low bands each cover several bins
    n_bands: int = 64
    # A4, a minor third below C5 ... (82 bands down to 255 Hz, to show the babble under C5: compare
    # rooms 1377 -> 1354 of 1500, p = 0.02; not adopted)
    f_min_hz: float = 440.0
    # ... to above D7 (2349 Hz) with margin for detune and vibrato. Tried: 80 bands to 4900 Hz
    # (same band width; it shows the harmonics above 2960 Hz that tell a note from the note an
    # octave or a twelfth up), one full training of the shipped recipe: recognizer evaluation melody
    # exact / paired sums 1444 / 1374, 1492 / 1486 -> 1448 / 1390, 1490 / 1480; `compare`
    # melody exact 2846 -> 2849 of 3000, paired 2973 -> 2970. Level, not adopted.
    f_max_hz: float = 2960.0
    log_floor: float = 1e-10  # -100 dB re a full-scale sine
    # No noise reduction: each band less its running mean (micro_speech's, commit 9362e98) heard
    # fewer melodies in rooms and at -5 dB; nor a floor per band as a second input for the model
    # (the minimum over the last second, commit 5ab57c2), which heard no more in rooms and missed
    # the int8 gate; nor a second look at the bands over 80 ms (commit edaf9f3), which heard more
    # dry melodies and fewer in rooms. docs/recognizer-notes.md has the figures.

    def __post_init__(self) -> None:
        if not 0 < self.hop_samples <= self.frame_samples <= self.fft_samples:
            raise ValueError("need 0 < hop_samples <= frame_samples <= fft_samples")
        if not 0 < self.f_min_hz < self.f_max_hz < self.sample_rate_hz / 2:
            raise ValueError("need 0 < f_min_hz < f_max_hz < Nyquist")
        if self.n_bands < 2 or self.log_floor <= 0:
            raise ValueError("need n_bands >= 2 and log_floor > 0")

    @property
    def hop_ms(self) -> float:
        return 1000.0 * self.hop_samples / self.sample_rate_hz

    @property
    def frame_ms(self) -> float:
        return 1000.0 * self.frame_samples / self.sample_rate_hz

    @property
    def silent_value(self) -> float:
        """What every band of a digitally silent frame reads: log10 of the floor."""
        return float(np.log10(self.log_floor))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> FeatureParams:
        return cls(**d)

    def fingerprint(self) -> str:
        """Short hash of the parameters and the algorithm version; a model records it."""
        blob = json.dumps(
            {"version": FEATURE_ALGORITHM_VERSION, **self.to_dict()}, sort_keys=True
        ).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


DEFAULT_FEATURES = FeatureParams()


def band_centres_hz(params: FeatureParams) -> np.ndarray:
    """Centre frequency of each band, log-spaced from f_min to f_max."""
    return np.geomspace(params.f_min_hz, params.f_max_hz, params.n_bands)


@lru_cache(maxsize=8)
def _analysis(params: FeatureParams) -> tuple[np.ndarray, np.ndarray, slice]:
    """(window, filterbank, bins): a Hann window scaled so a full-scale sine peaks near power 1,
    triangular band weights (n_fft_bins x n_bands) each reaching its neighbours' centres, and
    the FFT bins any band uses (the others are skipped: they would only add zeros)."""
    n = np.arange(params.frame_samples)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * (n + 0.5) / params.frame_samples)
    window = window / (window.sum() / 2.0)
    centres = band_centres_hz(params)
    ratio = centres[1] / centres[0]
    edges = np.concatenate([[centres[0] / ratio], centres, [centres[-1] * ratio]])
    bins_hz = np.fft.rfftfreq(params.fft_samples, 1.0 / params.sample_rate_hz)
    fb = np.zeros((bins_hz.size, params.n_bands))
    for b in range(params.n_bands):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        rise = (bins_hz - lo) / (mid - lo)
        fall = (hi - bins_hz) / (hi - mid)
        fb[:, b] = np.clip(np.minimum(rise, fall), 0.0, None)
    fb /= fb.sum(axis=0, keepdims=True)
    used = np.flatnonzero(fb.any(axis=1))
    return window, fb, slice(int(used[0]), int(used[-1]) + 1)


def n_frames(n_samples: int, params: FeatureParams = DEFAULT_FEATURES) -> int:
    """Number of complete frames in `n_samples` samples."""
    if n_samples < params.frame_samples:
        return 0
    return 1 + (n_samples - params.frame_samples) // params.hop_samples


def compute_features(audio: np.ndarray, params: FeatureParams = DEFAULT_FEATURES) -> np.ndarray:
    """Feature frames (n_frames x n_bands, float32) of mono audio at `params.sample_rate_hz`."""
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    count = n_frames(x.size, params)
    if count == 0:
        return np.zeros((0, params.n_bands), dtype=np.float32)
    window, fb, bins = _analysis(params)
    frames = sliding_window_view(x, params.frame_samples)[:: params.hop_samples][:count]
    spectrum = np.fft.rfft(frames * window, n=params.fft_samples, axis=1)[:, bins]
    power = spectrum.real**2 + spectrum.imag**2
    return np.log10(power @ fb[bins] + params.log_floor).astype(np.float32)


class FeatureExtractor:
    """Streaming `compute_features`: push chunks of any size, get the frames they complete."""

    def __init__(self, params: FeatureParams = DEFAULT_FEATURES):
        self.params = params
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float64)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Frames completed by this chunk (possibly none); keeps only the samples still needed."""
        p = self.params
        self._pending = np.concatenate([self._pending, np.asarray(chunk, np.float64).reshape(-1)])
        frames = compute_features(self._pending, p)
        if len(frames):
            self._pending = self._pending[len(frames) * p.hop_samples :]
        return frames
