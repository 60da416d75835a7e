"""Guards for the feature frames: streaming equals batch, golden vectors, pitch lands in its band.

tests/data/features_golden.npz holds a 0.5 s input signal (two synthesized notes plus seeded
noise), its feature frames and the parameters' fingerprint. The test recomputes the frames from
the stored signal, so only a change of shared/features.py can break it. After an intended change
of the feature computation (bump FEATURE_ALGORITHM_VERSION), regenerate the file with

    .venv/bin/python tests/test_features.py
"""

from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from melodypair.shared.alphabet import DEFAULT_ALPHABET
from melodypair.shared.features import (
    DEFAULT_FEATURES,
    FeatureExtractor,
    FeatureParams,
    band_centres_hz,
    compute_features,
    n_frames,
)

GOLDEN = Path(__file__).parent / "data" / "features_golden.npz"
RATE = DEFAULT_FEATURES.sample_rate_hz


def _test_signal(n_samples: int = 12345, seed: int = 7) -> np.ndarray:
    """Two tones with a gap, under light seeded noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / RATE
    x = 0.4 * np.sin(2 * np.pi * 659.26 * t) + 0.2 * np.sin(2 * np.pi * 1975.5 * t)
    x[4000:6000] = 0.0
    return (x + 0.01 * rng.standard_normal(n_samples)).astype(np.float32)


def _stream(audio: np.ndarray, sizes) -> np.ndarray:
    """Frames from a FeatureExtractor fed chunks of the given sizes in turn (cycling)."""
    extractor = FeatureExtractor()
    out, pos, i = [], 0, 0
    while pos < audio.size:
        size = sizes[i % len(sizes)]
        out.append(extractor.process(audio[pos : pos + size]))
        pos, i = pos + size, i + 1
    return np.concatenate(out)


@pytest.mark.parametrize("chunk", [1, 7, 160, 161, 1000, 4096])
def test_streaming_in_fixed_chunks_equals_batch(chunk):
    audio = _test_signal(6000 if chunk == 1 else 12345)
    batch = compute_features(audio)
    assert batch.shape == (n_frames(audio.size), DEFAULT_FEATURES.n_bands)
    assert np.array_equal(_stream(audio, [chunk]), batch)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=40))
def test_streaming_in_random_chunks_equals_batch(sizes):
    audio = _test_signal(8000)
    if not any(sizes):
        sizes = [*sizes, 1]
    assert np.array_equal(_stream(audio, sizes), compute_features(audio))


def test_reset_forgets_pending_samples():
    audio = _test_signal(4000)
    extractor = FeatureExtractor()
    extractor.process(_test_signal(500, seed=99))
    extractor.reset()
    assert np.array_equal(extractor.process(audio), compute_features(audio))


def _golden_audio() -> np.ndarray:
    """Two synthesized notes (E5 sine, B6 pluck) plus seeded noise, 0.5 s at 16 kHz."""
    from melodypair.shared.synth import SynthParams, Timbre, render_notes

    e5 = render_notes([2], tone_ms=200.0, rest_ms=50.0, params=SynthParams()).audio
    b6 = render_notes(
        [13], tone_ms=200.0, rest_ms=50.0, params=SynthParams(timbre=Timbre("pluck"))
    ).audio
    audio = np.concatenate([e5, b6]).astype(np.float64)
    audio += 0.003 * np.random.default_rng(20240611).standard_normal(audio.size)
    return audio.astype(np.float32)


def write_golden(path: Path = GOLDEN) -> None:
    """(Re)create the golden file from the current feature code."""
    audio = _golden_audio()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        audio=audio,
        frames=compute_features(audio),
        fingerprint=np.array(DEFAULT_FEATURES.fingerprint()),
    )


def test_golden_frames_are_reproduced():
    with np.load(GOLDEN) as golden:
        audio, frames, fingerprint = golden["audio"], golden["frames"], str(golden["fingerprint"])
    assert GOLDEN.stat().st_size < 100_000
    assert audio.dtype == np.float32 and frames.dtype == np.float32
    assert fingerprint == DEFAULT_FEATURES.fingerprint(), "feature parameters changed"
    assert frames.shape == (n_frames(audio.size), DEFAULT_FEATURES.n_bands)
    np.testing.assert_allclose(compute_features(audio), frames, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("symbol", range(len(DEFAULT_ALPHABET)))
def test_a_pure_tone_peaks_in_the_band_nearest_its_pitch(symbol):
    f = DEFAULT_ALPHABET.frequencies_hz[symbol]
    audio = 0.5 * np.sin(2 * np.pi * f * np.arange(RATE // 4) / RATE)
    frames = compute_features(audio)
    nearest = int(np.argmin(np.abs(band_centres_hz(DEFAULT_FEATURES) - f)))
    assert len(frames) > 0
    assert np.all(np.argmax(frames, axis=1) == nearest)


def test_band_centres_span_the_range_log_spaced():
    centres = band_centres_hz(DEFAULT_FEATURES)
    assert centres.size == DEFAULT_FEATURES.n_bands
    assert centres[0] == pytest.approx(DEFAULT_FEATURES.f_min_hz)
    assert centres[-1] == pytest.approx(DEFAULT_FEATURES.f_max_hz)
    np.testing.assert_allclose(centres[1:] / centres[:-1], centres[1] / centres[0])


def test_silence_gives_the_log_floor():
    frames = compute_features(np.zeros(RATE // 10))
    assert frames.dtype == np.float32
    assert np.all(frames == np.float32(np.log10(DEFAULT_FEATURES.log_floor)))


_F, _H = DEFAULT_FEATURES.frame_samples, DEFAULT_FEATURES.hop_samples


@pytest.mark.parametrize(
    "n_samples", [0, 1, _F - 1, _F, _F + 1, _F + _H - 1, _F + _H, _F + _H + 1, 16000, 16001]
)
def test_frame_count_matches_n_frames(n_samples):
    p = DEFAULT_FEATURES
    expected = 0 if n_samples < p.frame_samples else 1 + (n_samples - p.frame_samples) // _H
    assert n_frames(n_samples) == expected
    assert compute_features(np.zeros(n_samples)).shape == (expected, p.n_bands)


def _changed(value):
    return value + 1 if isinstance(value, int) else value * 1.01


@pytest.mark.parametrize("name", [f.name for f in fields(FeatureParams)])
def test_fingerprint_changes_when_any_field_changes(name):
    base = FeatureParams(fft_samples=4096)  # room to grow frame_samples
    changed = replace(base, **{name: _changed(getattr(base, name))})
    assert changed.fingerprint() != base.fingerprint()
    assert replace(base).fingerprint() == base.fingerprint()


def test_params_round_trip_through_a_dict():
    params = FeatureParams(hop_samples=80, n_bands=48, f_max_hz=3000.0)
    assert FeatureParams.from_dict(params.to_dict()) == params
    assert FeatureParams.from_dict(params.to_dict()).fingerprint() == params.fingerprint()


@pytest.mark.parametrize(
    "bad",
    [
        {"hop_samples": 0},
        {"hop_samples": 2000},
        {"frame_samples": 4096},
        {"f_min_hz": 0.0},
        {"f_min_hz": 3000.0},
        {"f_max_hz": 8000.0},
        {"n_bands": 1},
        {"log_floor": 0.0},
    ],
)
def test_bad_params_raise(bad):
    with pytest.raises(ValueError):
        FeatureParams(**bad)


if __name__ == "__main__":
    write_golden()
    print(f"wrote {GOLDEN}")
