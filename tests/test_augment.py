"""Augmentation: the one SNR definition, noise spectra, rooms, colouring."""

import numpy as np
import pytest

from melodypair.host import augment
from melodypair.shared.alphabet import DEFAULT_ALPHABET

RATE = 16000


def _slope_db_per_octave(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / RATE)
    band = (f > 100) & (f < 6000)
    slope, _ = np.polyfit(np.log2(f[band]), 10 * np.log10(spectrum[band] + 1e-20), 1)
    return slope


@pytest.mark.parametrize("snr_db", [-10.0, 0.0, 7.5, 30.0])
def test_mix_at_snr_hits_the_requested_snr_over_the_active_region(snr_db):
    rng = np.random.default_rng(1)
    n = RATE
    sig = np.zeros(n)
    active = np.zeros(n, bool)
    active[4000:8000] = True
    sig[active] = np.sin(2 * np.pi * 1000 * np.arange(4000) / RATE)
    noise = augment.pink_noise(n, RATE, rng)
    mixed = augment.mix_at_snr(sig, noise, snr_db, active)
    assert augment.measured_snr_db(sig, mixed - sig, active) == pytest.approx(snr_db, abs=1e-6)
    # the definition is over the active samples only: silence around the tone does not count
    whole = 10 * np.log10(np.mean(sig**2) / np.mean((mixed - sig) ** 2))
    assert whole < snr_db - 5


@pytest.mark.parametrize(("kind", "slope"), [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_coloured_noise_spectral_slopes(kind, slope):
    x = augment.make_noise(kind, 4 * RATE, RATE, np.random.default_rng(2))
    assert np.std(x) == pytest.approx(1.0, rel=0.05)
    assert _slope_db_per_octave(x) == pytest.approx(slope, abs=0.6)


def test_tonal_interferers_avoid_alphabet_notes():
    rng = np.random.default_rng(3)
    for _ in range(200):
        f = augment._off_alphabet_hz(rng, DEFAULT_ALPHABET)
        cents = 1200 * np.abs(np.log2(f / np.array(DEFAULT_ALPHABET.frequencies_hz)))
        assert cents.min() >= 45.0


def test_harmonic_interferers_sit_off_the_alphabet_and_reach_below_it():
    rng = np.random.default_rng(3)
    notes = np.array(DEFAULT_ALPHABET.frequencies_hz)
    fs = [
        augment._off_alphabet_hz(rng, DEFAULT_ALPHABET, range_hz=(120.0, 1500.0))
        for _ in range(300)
    ]
    assert min(fs) >= 120.0 and max(fs) <= 1500.0
    assert all(1200 * np.abs(np.log2(f / notes)).min() >= 45.0 for f in fs)
    assert np.mean(np.array(fs) < notes.min()) > 0.5  # mostly under the alphabet's lowest note


def test_harmonic_voice_is_harmonics_of_its_fundamental():
    n = RATE
    tone = augment.harmonic_voice(330.0, n, RATE, np.random.default_rng(8))
    power = np.abs(np.fft.rfft(tone)) ** 2  # 1 Hz bins over one second
    harmonics = power[np.arange(330, RATE // 2, 330)].sum()
    assert harmonics / power.sum() > 0.99
    assert power[330 * 3] > 0  # at least three partials
    assert np.argmax(power) % 330 == 0


def test_harmonic_noise_has_much_power_below_the_alphabet():
    x = augment.make_noise("harmonic", 5 * RATE, RATE, np.random.default_rng(9))
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(x.size, 1 / RATE)
    assert power[f < 500].sum() / power.sum() > 0.2


@pytest.mark.parametrize("kind", sorted(augment.NOISES))
def test_every_noise_is_finite_unit_and_seeded(kind):
    a = augment.make_noise(kind, RATE, RATE, np.random.default_rng(4))
    b = augment.make_noise(kind, RATE, RATE, np.random.default_rng(4))
    assert a.shape == (RATE,)
    assert np.all(np.isfinite(a))
    assert np.std(a) == pytest.approx(1.0, rel=0.05)
    np.testing.assert_array_equal(a, b)


def test_unknown_noise_is_refused():
    with pytest.raises(ValueError, match="unknown noise"):
        augment.make_noise("rain", 10, RATE, np.random.default_rng(0))


@pytest.mark.parametrize("rt60_s", [0.3, 0.8])
def test_room_decays_by_60_db_in_rt60(rt60_s):
    ir = augment.room_impulse_response(rt60_s, RATE, np.random.default_rng(5))
    # Schroeder backward integration of the energy decay curve
    edc = np.cumsum((ir**2)[::-1])[::-1]
    edc_db = 10 * np.log10(edc / edc[0])
    t5 = np.argmax(edc_db < -5) / RATE
    t25 = np.argmax(edc_db < -25) / RATE
    assert 3 * (t25 - t5) == pytest.approx(rt60_s, rel=0.25)  # T20 extrapolated to 60 dB


def test_dry_room_is_identity_and_reverb_keeps_length():
    x = np.random.default_rng(6).standard_normal(1000)
    np.testing.assert_array_equal(augment.reverberate(x, np.array([1.0])), x)
    ir = augment.room_impulse_response(0.5, RATE, np.random.default_rng(6))
    assert augment.reverberate(x, ir).shape == x.shape


def test_colouring_band_limits_clips_and_offsets():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(RATE) * 0.1
    c = augment.Colouring(lowpass_hz=2000, drive=3.0, dc_offset=0.02)
    y = augment.apply_colouring(x, c, RATE)
    spectrum = np.abs(np.fft.rfft(y - y.mean())) ** 2
    f = np.fft.rfftfreq(RATE, 1 / RATE)
    assert spectrum[f > 5000].mean() < 1e-3 * spectrum[f < 1500].mean()
    y0 = augment.apply_colouring(x, augment.Colouring(lowpass_hz=2000, drive=3.0), RATE)
    np.testing.assert_allclose(y - y0, 0.02 * np.max(np.abs(y0)))  # offset relative to the peak
    for _ in range(20):
        c = augment.random_colouring(rng, 8000)
        assert np.all(np.isfinite(augment.apply_colouring(x, c, 8000)))
