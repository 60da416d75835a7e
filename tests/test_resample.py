"""The streaming resampler: chunk invariance, alignment, passband, anti-aliasing, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from melodypair.shared.resample import (
    Resampler,
    lowpass_taps,
    output_length,
    ratio,
    resample,
)

TO_MODEL = [(r, 16000) for r in (8000, 11025, 16000, 22050, 32000, 44100, 48000)]
PAIRS = [*TO_MODEL, (16000, 48000)]
RESAMPLING_PAIRS = [p for p in PAIRS if p[0] != p[1]]


def _tone(freq_hz: float, rate_hz: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    n = np.arange(round(seconds * rate_hz))
    return (amplitude * np.sin(2 * np.pi * freq_hz * n / rate_hz)).astype(np.float32)


def _middle(x: np.ndarray, fraction: float = 0.2) -> np.ndarray:
    """Drop `fraction` at each end, where the abrupt start and end of a test signal ring."""
    cut = int(len(x) * fraction)
    return x[cut : len(x) - cut]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2)))


def _chunked(resampler: Resampler, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Feed `x` in chunks of the given sizes (cycled), then flush; the concatenated output."""
    parts, pos, i = [], 0, 0
    while pos < len(x):
        size = sizes[i % len(sizes)]
        parts.append(resampler.process(x[pos : pos + size]))
        pos, i = pos + size, i + 1
    parts.append(resampler.flush())
    return np.concatenate(parts)


def _whole(from_hz: int, to_hz: int, x: np.ndarray) -> np.ndarray:
    r = Resampler(from_hz, to_hz)
    return np.concatenate([r.process(x), r.flush()])


@settings(max_examples=60, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    n_samples=st.integers(0, 1500),
    sizes=st.lists(
        st.one_of(st.just(1), st.integers(1, 50), st.integers(1, 2000)), min_size=1, max_size=8
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_chunking_gives_the_whole_signal_output_bit_for_bit(pair, n_samples, sizes, seed):
    x = np.random.default_rng(seed).uniform(-1, 1, n_samples).astype(np.float32)
    whole = _whole(*pair, x)
    assert np.array_equal(_chunked(Resampler(*pair), x, sizes), whole)


@pytest.mark.parametrize("pair", PAIRS)
def test_one_sample_chunks_give_the_whole_signal_output_bit_for_bit(pair):
    x = np.random.default_rng(1).uniform(-1, 1, 700).astype(np.float32)
    assert np.array_equal(_chunked(Resampler(*pair), x, [1]), _whole(*pair, x))


@pytest.mark.parametrize("pair", RESAMPLING_PAIRS)
def test_flush_emits_every_output_up_to_the_end_of_the_input(pair):
    from_hz, to_hz = pair
    for n in (0, 1, 2, 3, 440, 441, 1000):
        out = _whole(from_hz, to_hz, np.ones(n, np.float32))
        assert len(out) == -(-n * to_hz // from_hz)


def test_equal_rates_pass_samples_through_unchanged():
    x = np.random.default_rng(2).uniform(-1, 1, 1000)
    r = Resampler(16000, 16000)
    out = np.concatenate([r.process(x[:333]), r.process(x[333:]), r.flush()])
    assert out.dtype == np.float32
    assert np.array_equal(out, x.astype(np.float32))
    assert np.array_equal(resample(x, 16000, 16000), x.astype(np.float32))


@pytest.mark.parametrize("pair", PAIRS)
def test_a_1khz_sine_keeps_frequency_amplitude_and_phase(pair):
    from_hz, to_hz = pair
    out = resample(_tone(1000.0, from_hz, 1.0), from_hz, to_hz)
    expected = _tone(1000.0, to_hz, 1.0)
    assert len(out) == len(expected)
    # Sample for sample against the ideal sine at the new rate: right frequency, no delay.
    assert np.max(np.abs(_middle(out) - _middle(expected))) < 1e-3
    gain_db = 20 * np.log10(_rms(_middle(out)) / _rms(_middle(expected)))
    assert abs(gain_db) < 0.1


@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("click_at", [1001, 4567])
def test_a_click_lands_at_the_output_sample_of_its_time(pair, click_at):
    from_hz, to_hz = pair
    x = np.zeros(from_hz, np.float32)
    x[click_at] = 1.0
    out = resample(x, from_hz, to_hz)
    assert abs(int(np.argmax(np.abs(out))) - click_at * to_hz / from_hz) <= 1


@pytest.mark.parametrize("from_hz", [48000, 44100, 32000])
@pytest.mark.parametrize("freq_hz", [9000.0, 12000.0])
def test_tones_above_the_new_nyquist_do_not_alias(from_hz, freq_hz):
    tone = _tone(freq_hz, from_hz, 1.0)
    out = resample(tone, from_hz, 16000)
    attenuation_db = 20 * np.log10(_rms(_middle(out)) / _rms(tone))
    assert attenuation_db <= -60.0


def test_upsampling_leaves_no_images_above_the_old_nyquist():
    out = _middle(resample(_tone(1000.0, 16000, 1.0), 16000, 48000))
    spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
    freqs_hz = np.fft.rfftfreq(len(out), 1 / 48000)
    image_db = 20 * np.log10(spectrum[freqs_hz >= 8000].max() / spectrum.max())
    assert image_db <= -60.0


@pytest.mark.parametrize("pair", RESAMPLING_PAIRS)
def test_the_designed_lowpass_stops_60db_from_the_lower_nyquist(pair):
    from_hz, to_hz = pair
    taps = lowpass_taps(from_hz, to_hz)
    up, _ = ratio(from_hz, to_hz)
    n_fft = 1 << int(np.ceil(np.log2(len(taps) * 8)))
    response = np.abs(np.fft.rfft(taps, n_fft)) / up
    freqs_hz = np.fft.rfftfreq(n_fft, 1 / (up * from_hz))
    stop_hz = min(from_hz, to_hz) / 2
    assert 20 * np.log10(response[freqs_hz >= stop_hz].max()) <= -60.0
    passband = 20 * np.log10(response[freqs_hz <= 0.8 * stop_hz])
    assert np.all(np.abs(passband) < 0.01)
    assert len(taps) % 2 == 1


@pytest.mark.parametrize("pair", RESAMPLING_PAIRS)
def test_close_to_scipy_resample_poly_on_a_band_limited_signal(pair):
    from scipy.signal import resample_poly

    from_hz, to_hz = pair
    rng = np.random.default_rng(3)
    n = np.arange(from_hz)
    x = sum(
        a * np.sin(2 * np.pi * f * n / from_hz + p)
        for a, f, p in zip(
            rng.uniform(0.05, 0.2, 6), rng.uniform(100, 3000, 6), rng.uniform(0, 6, 6), strict=True
        )
    )
    up, down = ratio(from_hz, to_hz)
    ours = resample(x, from_hz, to_hz)
    theirs = resample_poly(x, up, down)[: len(ours)]
    diff = np.max(np.abs(_middle(ours) - _middle(theirs)))
    assert diff < 2e-3 * np.max(np.abs(x))


def test_reset_gives_a_fresh_state():
    x = np.random.default_rng(4).uniform(-1, 1, 5000).astype(np.float32)
    fresh = _whole(44100, 16000, x)
    r = Resampler(44100, 16000)
    r.process(np.ones(1234, np.float32))
    r.reset()
    assert np.array_equal(np.concatenate([r.process(x), r.flush()]), fresh)
    # flush ends the stream and resets too, so the resampler can take the next one.
    assert np.array_equal(np.concatenate([r.process(x), r.flush()]), fresh)


@pytest.mark.parametrize("pair", PAIRS)
def test_resample_length_is_the_rounded_duration(pair):
    from_hz, to_hz = pair
    for n in (1, 2, 5, 7, 441, 1000, 12345):
        assert len(resample(np.zeros(n), from_hz, to_hz)) == round(n * to_hz / from_hz)
        assert output_length(n, from_hz, to_hz) == round(n * to_hz / from_hz)


def test_output_is_float32_and_empty_input_gives_empty_output():
    assert resample(np.zeros(100, np.float64), 44100, 16000).dtype == np.float32
    assert resample(np.zeros(0), 44100, 16000).shape == (0,)
    r = Resampler(48000, 16000)
    assert r.process(np.zeros(0)).shape == (0,)
    assert r.flush().shape == (0,)


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="positive integer"):
        Resampler(0, 16000)
    with pytest.raises(ValueError, match="positive integer"):
        Resampler(44100.0, 16000)
    with pytest.raises(ValueError, match="mono"):
        Resampler(48000, 16000).process(np.zeros((10, 2)))


def test_60s_at_44_1khz_to_16khz_takes_well_under_a_second():
    x = np.random.default_rng(5).uniform(-1, 1, 60 * 44100).astype(np.float32)
    resample(x[:44100], 44100, 16000)  # design and cache the filter outside the timing
    start = time.process_time()
    out = resample(x, 44100, 16000)
    elapsed_s = time.process_time() - start
    assert len(out) == 60 * 16000
    assert elapsed_s < 1.0
