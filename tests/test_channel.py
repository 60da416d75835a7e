"""The evaluation's acoustic channel: one SNR definition, own channel per device, clock drift."""

import numpy as np
import pytest
from scipy.signal import hilbert

from melodypair.host import augment, channel
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.rhythm import DEFAULT_RHYTHM

RATE = channel.AIR_RATE_HZ


def _melody(seed=1):
    rng = np.random.default_rng(seed)
    melody = MelodyCode().encode(int(rng.integers(2**40)))
    return melody, channel.melody_transmission(melody, channel.Timbre("harmonic"), rng)


def _tone_hz(x: np.ndarray, rate: int) -> float:
    """Instantaneous frequency of a pure tone, fitted over its middle."""
    phase = np.unwrap(np.angle(hilbert(x)))[2000:-2000]
    return np.polyfit(np.arange(phase.size) / rate, phase, 1)[0] / (2 * np.pi)


def test_melody_transmission_marks_the_notes_active():
    melody, tx = _melody()
    n = len(melody.notes)
    rhythm = DEFAULT_RHYTHM
    assert tx.rate_hz == RATE
    assert tx.on_air_s == pytest.approx((n * rhythm.note_ms - rhythm.rest_ms) / 1000, abs=1e-3)
    assert np.count_nonzero(tx.active) == round(n * rhythm.tone_ms * RATE / 1000)
    assert np.max(np.abs(tx.audio)) == pytest.approx(1.0)
    assert np.all(tx.audio[~tx.active][:100] == 0)  # the lead is silent


def test_waveform_transmission_is_active_from_first_to_last_sample():
    wave = np.zeros(1000)
    wave[100] = 0.3
    wave[700] = -0.5
    tx = channel.waveform_transmission(wave, 8000, np.random.default_rng(0), (100, 100), (50, 50))
    lead = 800  # 100 ms at 8 kHz
    assert np.flatnonzero(tx.active)[[0, -1]].tolist() == [lead + 100, lead + 700]
    assert tx.on_air_s == pytest.approx(601 / 8000)


@pytest.mark.parametrize("noise", channel.CHANNEL_NOISES)
def test_every_noise_is_mixed_at_the_requested_snr(noise):
    _, tx = _melody(2)
    device = channel.draw_device(channel.Condition(noise, -3.5, 0.3), np.random.default_rng(3))
    heard = channel.hear(tx, device)
    assert heard.snr_db == pytest.approx(-3.5, abs=1e-6)
    assert heard.audio.dtype == np.float32
    assert np.max(np.abs(heard.audio)) <= 1.0


def test_the_snr_is_measured_over_the_active_samples_only():
    """A quiet melody in a long silence: whole-signal SNR would be far lower than the active one."""
    tone = np.sin(2 * np.pi * 1000 * np.arange(RATE // 4) / RATE)
    tx = channel.pad(tone, np.ones(tone.size, bool), 2 * RATE, 2 * RATE, RATE)
    noise = channel.channel_noise("white", tx.audio.size, RATE, np.random.default_rng(4))
    mixed = augment.mix_at_snr(tx.audio, noise, 6.0, tx.active)
    assert augment.measured_snr_db(tx.audio, mixed - tx.audio, tx.active) == pytest.approx(6.0)
    whole = 10 * np.log10(np.mean(tx.audio**2) / np.mean((mixed - tx.audio) ** 2))
    assert whole < 6.0 - 10


def test_each_device_hears_its_own_version_and_the_same_device_the_same():
    _, tx = _melody(5)
    cond = channel.Condition("pink", 5.0, 0.3)
    rng = np.random.default_rng(6)
    a, b = channel.draw_device(cond, rng), channel.draw_device(cond, rng)
    assert (a.ir_seed, a.noise_seed, a.drift_ppm) != (b.ir_seed, b.noise_seed, b.drift_ppm)
    heard_a, again = channel.hear(tx, a), channel.hear(tx, a)
    np.testing.assert_array_equal(heard_a.audio, again.audio)
    heard_b = channel.hear(tx, b, capture_rate_hz=heard_a.rate_hz)
    n = min(heard_a.audio.size, heard_b.audio.size)
    assert not np.allclose(heard_a.audio[:n], heard_b.audio[:n], atol=1e-3)


def test_devices_drift_within_the_limit_and_use_the_capture_rates():
    rng = np.random.default_rng(7)
    cond = channel.Condition("none", 0.0, 0.0)
    devices = [channel.draw_device(cond, rng) for _ in range(200)]
    drifts = np.array([d.drift_ppm for d in devices])
    assert np.all(np.abs(drifts) <= channel.MAX_DRIFT_PPM)
    assert drifts.max() > 150 and drifts.min() < -150
    assert {d.capture_rate_hz for d in devices} == set(channel.CAPTURE_RATES_HZ)


@pytest.mark.parametrize("ppm", [200.0, -200.0, 37.5])
def test_drift_resamples_by_the_clock_error_without_distortion(ppm):
    """A converter running `ppm` fast records more samples per second: a 1 kHz tone reads lower."""
    t = np.arange(3 * RATE) / RATE
    x = np.sin(2 * np.pi * 1000.0 * t)
    y = channel.drift(x, ppm)
    factor = 1 + ppm * 1e-6
    assert y.size == round(x.size * factor)
    assert _tone_hz(y, RATE) == pytest.approx(1000.0 / factor, abs=0.002)
    exact = np.sin(2 * np.pi * 1000.0 * np.arange(y.size) / factor / RATE)
    error = (y - exact)[200:-200]
    assert 20 * np.log10(np.sqrt(np.mean(error**2)) / np.sqrt(0.5)) < -70


def test_drift_of_zero_is_the_identity():
    x = np.random.default_rng(8).standard_normal(1000)
    np.testing.assert_array_equal(channel.drift(x, 0.0), x)


def test_capture_length_follows_rate_and_drift():
    _, tx = _melody(9)
    device = channel.draw_device(channel.Condition("none", 0.0, 0.0), np.random.default_rng(10))
    heard = channel.hear(tx, device, capture_rate_hz=16000)
    seconds = tx.audio.size / RATE * (1 + device.drift_ppm * 1e-6)
    assert heard.rate_hz == 16000
    assert heard.audio.size == pytest.approx(seconds * 16000, abs=2)
    assert heard.snr_db == float("inf")


def test_the_converter_is_16_bit_and_never_clips():
    x = np.array([0.0, 0.5, -2.0, 1e-6, 3.0])
    y = channel.quantize_16bit(x)
    assert np.max(np.abs(y)) <= 0.98 + 1 / 32767  # within one step of the gain target
    np.testing.assert_allclose(y * 32767, np.round(y * 32767), atol=1e-3)
    assert y[3] == 0.0  # below one step
    quiet = channel.quantize_16bit(np.array([0.25, -0.125]))
    np.testing.assert_allclose(quiet, [0.25, -0.125], atol=1 / 32767)


def test_music_noise_is_tonal_reproducible_and_unit_level():
    a = channel.music_noise(RATE, RATE, np.random.default_rng(11))
    b = channel.music_noise(RATE, RATE, np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)
    assert np.std(a) == pytest.approx(1.0, rel=1e-3)
    spectrum = np.abs(np.fft.rfft(a)) ** 2
    flatness = np.exp(np.mean(np.log(spectrum[1:] + 1e-20))) / np.mean(spectrum[1:])
    white = np.abs(np.fft.rfft(np.random.default_rng(12).standard_normal(RATE))) ** 2
    white_flatness = np.exp(np.mean(np.log(white[1:]))) / np.mean(white[1:])
    assert flatness < 0.01 * white_flatness  # partials, not a noise floor


def test_unknown_noise_and_negative_rt60_are_refused():
    with pytest.raises(ValueError, match="unknown noise"):
        channel.Condition("rain", 0.0, 0.0)
    with pytest.raises(ValueError, match="rt60"):
        channel.Condition("white", 0.0, -0.1)
