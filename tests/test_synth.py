"""Tone synthesis: pitch, detune, clicks, sample-exact events, durations, aliasing, level."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from melodypair.shared.alphabet import DEFAULT_ALPHABET
from melodypair.shared.errors import UsageError
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.rhythm import DEFAULT_RHYTHM, Rhythm
from melodypair.shared.synth import (
    SPECTRAL,
    TIMBRE_NAMES,
    Envelope,
    SynthParams,
    Timbre,
    render_notes,
    render_tones,
)

ALL_SYMBOLS = list(range(len(DEFAULT_ALPHABET)))


def _params(timbre: str, rate: int, **kw) -> SynthParams:
    return SynthParams(timbre=Timbre(timbre), sample_rate_hz=rate, **kw)


def _notes(rendering):
    """Each note's samples, as the events say."""
    return [rendering.audio[e.start_sample : e.end_sample] for e in rendering.events]


def _power_spectrum(x: np.ndarray, rate: int, pad: int = 8) -> tuple[np.ndarray, float]:
    """Hann-windowed power spectrum zero-padded to >= pad x the length; (power, bin width Hz)."""
    n_fft = 1 << int(np.ceil(np.log2(len(x) * pad)))
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)), n_fft)) ** 2
    return power, rate / n_fft


def measured_pitch_hz(x: np.ndarray, rate: int) -> float:
    """Frequency of the strongest spectral peak above 100 Hz, by parabolic interpolation of the
    log power around the peak bin. Every timbre here has its fundamental as the strongest
    partial, so a note rendered an octave or a fifth off is caught."""
    power, bin_hz = _power_spectrum(x, rate)
    lo = int(100 / bin_hz)
    k = lo + int(np.argmax(power[lo:]))
    a, b, c = np.log(power[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * bin_hz


def measured_mean_pitch_hz(x: np.ndarray, rate: int, half_width_hz: float = 100.0) -> float:
    """Power-weighted centroid of the spectrum around the strongest peak (iterated re-centring).

    For vibrato the FM sidebands can outgrow the carrier (modulation index ~5 at D7), so the
    peak is not the pitch; the centroid of the sidebands, which are symmetric, is."""
    power, bin_hz = _power_spectrum(x, rate)
    lo = int(100 / bin_hz)
    f = (lo + int(np.argmax(power[lo:]))) * bin_hz
    for _ in range(6):
        a, b = int((f - half_width_hz) / bin_hz), int((f + half_width_hz) / bin_hz) + 1
        f = float(np.sum(np.arange(a, b) * bin_hz * power[a:b]) / np.sum(power[a:b]))
    return f


def _pitch(timbre: str, x: np.ndarray, rate: int) -> float:
    if timbre == "vibrato":
        return measured_mean_pitch_hz(x, rate)
    return measured_pitch_hz(x, rate)


@pytest.mark.parametrize("rate", [16000, 44100])
@pytest.mark.parametrize("timbre", TIMBRE_NAMES)
def test_every_note_of_every_timbre_has_the_alphabet_pitch(timbre, rate):
    rendering = render_notes(ALL_SYMBOLS, tone_ms=1000.0, rest_ms=0.0, params=_params(timbre, rate))
    for symbol, x in zip(ALL_SYMBOLS, _notes(rendering), strict=True):
        expected = DEFAULT_ALPHABET.frequencies_hz[symbol]
        assert _pitch(timbre, x, rate) == pytest.approx(expected, abs=1.0), (timbre, symbol)


def test_a_short_note_has_its_pitch_too():
    rendering = render_notes([5], params=_params("harmonic", 16000))  # 160 ms A5
    assert measured_pitch_hz(_notes(rendering)[0], 16000) == pytest.approx(880.0, abs=1.0)


@pytest.mark.parametrize("timbre", ["sine", "square", "vibrato"])
def test_detune_moves_the_pitch_by_its_cents(timbre):
    rate = 16000
    plain = render_notes([0, 15], tone_ms=1000.0, rest_ms=0.0, params=_params(timbre, rate))
    sharp = render_notes(
        [0, 15], tone_ms=1000.0, rest_ms=0.0, params=_params(timbre, rate, detune_cents=30.0)
    )
    ratio = 2.0 ** (30.0 / 1200.0)
    pairs = zip(_notes(plain), _notes(sharp), (523.2511, 2349.3181), strict=True)
    for x_plain, x_sharp, f in pairs:
        assert _pitch(timbre, x_plain, rate) == pytest.approx(f, abs=1.0)
        assert _pitch(timbre, x_sharp, rate) == pytest.approx(f * ratio, abs=1.0)


def test_per_note_detune_adds_to_the_global_detune():
    rate = 16000
    rendering = render_notes(
        [5, 5],
        tone_ms=1000.0,
        rest_ms=0.0,
        detune_cents=[-50.0, 20.0],
        params=_params("sine", rate, detune_cents=10.0),
    )
    pitches = [measured_pitch_hz(x, rate) for x in _notes(rendering)]
    assert pitches[0] == pytest.approx(880.0 * 2 ** (-40 / 1200), abs=0.5)
    assert pitches[1] == pytest.approx(880.0 * 2 ** (30 / 1200), abs=0.5)
    assert [e.frequency_hz for e in rendering.events] == pytest.approx(pitches, abs=0.5)


def test_per_note_gain_scales_each_note_by_its_decibels():
    kwargs = dict(tone_ms=200.0, rest_ms=50.0, params=_params("sine", 16000))
    even = render_notes([3, 9, 12], **kwargs)
    uneven = render_notes([3, 9, 12], gain_db=[0.0, -12.0, 6.0], **kwargs)
    for a, b, db in zip(_notes(even), _notes(uneven), [0.0, -12.0, 6.0], strict=True):
        assert np.allclose(b, a * 10 ** (db / 20), atol=1e-6)
    assert uneven.events == even.events


@pytest.mark.parametrize("rate", [16000, 44100])
@pytest.mark.parametrize("timbre", TIMBRE_NAMES)
def test_notes_start_and_end_silent_with_a_ramp(timbre, rate):
    amplitude = 0.5
    rendering = render_notes(ALL_SYMBOLS, params=_params(timbre, rate, amplitude=amplitude))
    edge = rate // 1000  # 1 ms
    inside = np.zeros(rendering.audio.size, dtype=bool)
    for e, x in zip(rendering.events, _notes(rendering), strict=True):
        inside[e.start_sample : e.end_sample] = True
        assert x[0] == 0.0 and x[-1] == 0.0
        # raised-cosine ramps: 1 ms into a 10 ms attack the gain is 2.4%, 1 ms before the end 1.1%
        assert np.max(np.abs(x[:edge])) < 0.03 * amplitude
        assert np.max(np.abs(x[-edge:])) < 0.03 * amplitude
        assert np.max(np.abs(x)) > 0.5 * amplitude
    assert not np.any(rendering.audio[~inside])


def _max_jump(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x))))


@pytest.mark.parametrize("timbre", ["sine", "vibrato"])
def test_sample_to_sample_jumps_stay_within_the_band_limit(timbre):
    """A band-limited signal of peak A moves at most 2 pi f_max A / rate per sample (Bernstein);
    a click (a hard onset) jumps by up to A. At 44.1 kHz and C5 the bound is 0.075 A."""
    rate, amplitude = 44100, 0.5
    params = _params(timbre, rate, amplitude=amplitude)
    top = 2.0 ** (params.timbre.vibrato_depth_cents / 1200.0) if timbre == "vibrato" else 1.0
    rendering = render_notes(ALL_SYMBOLS, rest_ms=0.0, params=params)
    for e in rendering.events:
        bound = 1.02 * amplitude * 2 * np.pi * e.frequency_hz * top / rate
        assert _max_jump(rendering.audio[e.start_sample : e.end_sample]) <= bound
    # The bound does catch a click: the same C5 gated on and off abruptly at its crest.
    t = np.arange(7056) / rate
    gated = np.concatenate([np.zeros(10), amplitude * np.cos(2 * np.pi * 523.25 * t)])
    assert _max_jump(gated) > 5 * amplitude * 2 * np.pi * 523.25 / rate


@pytest.mark.parametrize("timbre", TIMBRE_NAMES)
def test_the_envelope_ramps_add_no_jump_bigger_than_the_waveform_has(timbre):
    rate = 44100
    rendering = render_notes([0, 7], tone_ms=300.0, params=_params(timbre, rate))
    ramp = int(0.005 * rate)
    for x in _notes(rendering):
        steady = _max_jump(x[int(0.05 * rate) : -int(0.05 * rate)])
        assert _max_jump(x[:ramp]) <= steady * 1.3
        assert _max_jump(x[-ramp:]) <= steady * 1.3


def test_a_sine_note_is_the_enveloped_sine_from_phase_zero():
    rate, f = 16000, DEFAULT_ALPHABET.frequencies_hz[3]
    params = _params("sine", rate, amplitude=0.7)
    rendering = render_notes([3, 3], params=params)
    for e, x in zip(rendering.events, _notes(rendering), strict=True):
        n = e.end_sample - e.start_sample
        sine = np.sin(2 * np.pi * f * np.arange(n) / rate)
        expected = 0.7 * params.envelope.gains(n, rate) * sine
        np.testing.assert_allclose(x, expected, atol=1e-3 * 0.7)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_events_match_the_rhythm_exactly_in_samples(rate):
    melody = MelodyCode().new()
    rendering = render_notes(melody.notes, params=SynthParams(sample_rate_hz=rate))
    note_ms = DEFAULT_RHYTHM.note_ms
    assert [e.symbol for e in rendering.events] == list(melody.notes)
    for i, e in enumerate(rendering.events):
        assert e.start_sample == round(i * note_ms * rate / 1000)
        assert e.end_sample == round((i * note_ms + DEFAULT_RHYTHM.tone_ms) * rate / 1000)
    assert rendering.audio.size == round(DEFAULT_RHYTHM.duration_ms(13) * rate / 1000)


def test_per_note_durations_place_every_event():
    tone_ms = [100.0, 400.0, 250.5, 137.0]
    rest_ms = [0.0, 150.0, 33.3, 12.0]
    rate = 16000
    rendering = render_notes([1, 2, 3, 4], tone_ms=tone_ms, rest_ms=rest_ms)
    onset = 0.0
    for e, tone, rest in zip(rendering.events, tone_ms, rest_ms, strict=True):
        assert (e.start_sample, e.end_sample) == (
            round(onset * rate / 1000),
            round((onset + tone) * rate / 1000),
        )
        onset += tone + rest
    assert rendering.audio.size == round(onset * rate / 1000)
    assert rendering.duration_ms == pytest.approx(onset, abs=0.1)


def test_a_rhythm_object_sets_the_durations():
    rendering = render_notes([0, 1], rhythm=Rhythm(tone_ms=300.0, rest_ms=100.0))
    assert [(e.start_sample, e.end_sample) for e in rendering.events] == [(0, 4800), (6400, 11200)]


def test_the_default_melody_lasts_at_most_3_s_and_tempo_2_halves_it():
    notes = MelodyCode().new().notes
    normal = render_notes(notes)
    fast = render_notes(notes, params=SynthParams(tempo=2.0))
    assert len(notes) == 13
    assert normal.duration_ms <= 3000.0
    assert fast.duration_ms == pytest.approx(normal.duration_ms / 2)
    for slow_e, fast_e in zip(normal.events, fast.events, strict=True):
        assert fast_e.start_sample == slow_e.start_sample // 2
        assert fast_e.end_sample == slow_e.end_sample // 2


def _non_harmonic_fraction(x: np.ndarray, rate: int, f_hz: float, tol_hz: float = 20.0) -> float:
    """Share of the power that lies farther than tol_hz from every multiple of f_hz."""
    power, bin_hz = _power_spectrum(x, rate, pad=4)
    freqs = np.arange(power.size) * bin_hz
    nearest = np.maximum(np.round(freqs / f_hz), 1.0) * f_hz
    return float(power[np.abs(freqs - nearest) > tol_hz].sum() / power.sum())


@pytest.mark.parametrize("timbre", ["square", "triangle", "pluck", "harmonic"])
def test_nothing_aliases_at_8_khz(timbre):
    rate = 8000
    rendering = render_notes(ALL_SYMBOLS, tone_ms=1000.0, rest_ms=0.0, params=_params(timbre, rate))
    for e, x in zip(rendering.events, _notes(rendering), strict=True):
        assert _non_harmonic_fraction(x, rate, e.frequency_hz) < 1e-6, e
    # The measure does see aliasing: a naive (not band-limited) square wave of D7 fails it.
    n = rendering.events[-1].end_sample - rendering.events[-1].start_sample
    f = rendering.events[-1].frequency_hz
    naive = Envelope().gains(n, rate) * np.sign(np.sin(2 * np.pi * f * np.arange(n) / rate))
    assert _non_harmonic_fraction(naive, rate, f) > 0.01


@settings(max_examples=60, deadline=None)
@given(
    timbre=st.sampled_from(TIMBRE_NAMES),
    rate=st.sampled_from([8000, 16000, 22050, 44100, 48000]),
    amplitude=st.floats(min_value=0.01, max_value=1.0),
    detune=st.floats(min_value=-100.0, max_value=100.0),
    tempo=st.floats(min_value=0.5, max_value=4.0),
    symbols=st.lists(st.sampled_from(ALL_SYMBOLS), min_size=1, max_size=6),
    rest_ms=st.sampled_from([0.0, 40.0]),
)
def test_amplitude_never_exceeds_the_requested_peak(
    timbre, rate, amplitude, detune, tempo, symbols, rest_ms
):
    params = _params(timbre, rate, amplitude=amplitude, detune_cents=detune, tempo=tempo)
    audio = render_notes(symbols, rest_ms=rest_ms, params=params).audio
    assert audio.dtype == np.float32
    assert np.all(np.isfinite(audio))
    assert np.max(np.abs(audio)) <= amplitude * (1 + 1e-6) <= 1.0 + 1e-6


def test_rendering_is_deterministic():
    params = _params("vibrato", 16000, detune_cents=-12.5)
    a = render_notes([3, 1, 4, 1, 5], tone_ms=[100, 200, 300, 150, 120], params=params)
    b = render_notes([3, 1, 4, 1, 5], tone_ms=[100, 200, 300, 150, 120], params=params)
    assert np.array_equal(a.audio, b.audio) and a.events == b.events


def test_off_alphabet_tones_render_with_symbol_minus_one():
    rendering = render_tones([500.0, 1234.5], tone_ms=1000.0, rest_ms=0.0)
    assert [e.symbol for e in rendering.events] == [-1, -1]
    x = _notes(rendering)[1]
    assert measured_pitch_hz(x, 16000) == pytest.approx(1234.5, abs=1.0)


def _partial_db(x: np.ndarray, rate: int, f_hz: float) -> float:
    """Power (dB) of the spectrum's peak within 1% of f_hz."""
    power, bin_hz = _power_spectrum(x, rate)
    lo, hi = int(f_hz * 0.99 / bin_hz), int(f_hz * 1.01 / bin_hz) + 1
    return 10.0 * np.log10(np.max(power[lo:hi]))


def test_a_spectral_timbre_sounds_its_partials_at_their_gains_and_stretch():
    """A weak fundamental under a loud 3rd harmonic, as given; with inharmonicity B, partial k
    sits at k f sqrt(1 + B k^2)."""
    gains = (-12.0, -6.0, 0.0, -20.0)
    f = DEFAULT_ALPHABET.frequencies_hz[0]
    for b in (0.0, 1e-3):
        timbre = Timbre(SPECTRAL, partial_gains_db=gains, inharmonicity=b)
        x = _notes(render_notes([0], tone_ms=1000.0, params=SynthParams(timbre=timbre)))[0]
        levels = [_partial_db(x, 16000, k * f * np.sqrt(1 + b * k * k)) for k in (1, 2, 3, 4)]
        assert np.subtract(levels, levels[2]) == pytest.approx(gains, abs=0.5), b
        assert measured_pitch_hz(x, 16000) == pytest.approx(3 * f * np.sqrt(1 + 9 * b), abs=1.0)


def test_a_short_tone_shrinks_its_envelope_and_still_starts_and_ends_at_zero():
    for n in (2, 3, 10, 100, 800):
        g = Envelope().gains(n, 16000)
        assert g[0] == 0.0 and g[-1] == 0.0
        assert np.all((g >= 0.0) & (g <= 1.0))


@pytest.mark.parametrize(
    "make",
    [
        lambda: SynthParams(amplitude=1.5),
        lambda: SynthParams(amplitude=0.0),
        lambda: SynthParams(sample_rate_hz=4000),
        lambda: SynthParams(tempo=0.0),
        lambda: SynthParams(detune_cents=250.0),
        lambda: Timbre("saw"),
        lambda: Timbre(SPECTRAL),
        lambda: Timbre("sine", partial_gains_db=(0.0,)),
        lambda: Timbre(SPECTRAL, partial_gains_db=(0.0,) * 33),
        lambda: Timbre(SPECTRAL, partial_gains_db=(0.0, float("nan"))),
        lambda: Timbre(SPECTRAL, partial_gains_db=(0.0,), inharmonicity=0.1),
        lambda: Envelope(sustain=0.0),
        lambda: Envelope(attack_ms=-1.0),
        lambda: render_notes([16]),
        lambda: render_notes([0, 1], tone_ms=[100.0]),
        lambda: render_notes([0], tone_ms=0.0),
        lambda: render_notes([0], rest_ms=-5.0),
        lambda: render_notes([0, 1], gain_db=[3.0]),
        lambda: render_tones([7500.0], tone_ms=100.0, rest_ms=0.0),
    ],
)
def test_bad_parameters_are_refused(make):
    with pytest.raises(UsageError):
        make()
