"""Training data: labels follow the synthesis timing, seeds reproduce, held-out stays out."""

import itertools
from dataclasses import replace

import numpy as np
import pytest

from melodypair.host import dataset
from melodypair.shared.alphabet import DEFAULT_ALPHABET
from melodypair.shared.features import DEFAULT_FEATURES


def test_frame_labels_follow_the_note_spans_at_frame_centres():
    f = DEFAULT_FEATURES
    spans = ((3, 1000, 4000), (7, 4800, 8000))
    labels = dataset.frame_labels(spans, 60, 16, f)
    centres = np.arange(60) * f.hop_samples + f.frame_samples // 2
    for i, c in enumerate(centres):
        want = 3 if 1000 <= c < 4000 else 7 if 4800 <= c < 8000 else 16
        assert labels[i] == want


def test_examples_are_reproducible_and_consistent():
    a = dataset.make_example(np.random.default_rng(11))
    b = dataset.make_example(np.random.default_rng(11))
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.condition == b.condition
    assert a.frames.shape == (len(a.labels), DEFAULT_FEATURES.n_bands)
    assert np.all(np.abs(a.audio) <= 1.0)
    sounding = [int(s) for s in np.unique(a.labels) if s != 16]
    assert set(sounding) <= set(a.symbols)


@pytest.mark.parametrize("seed", range(6))
def test_labelled_notes_are_where_the_energy_is(seed):
    """In clean dry recordings the labelled frames carry the note's band energy."""
    cfg = dataset.DataConfig(
        clean_prob=1.0,
        reverb_prob=0.0,
        colouring_prob=0.0,
        interferer_prob=0.0,
        empty_prob=0.0,
        timbres=("sine",),
    )
    ex = dataset.make_example(np.random.default_rng(seed), cfg)
    note_frames = ex.labels != 16
    loud = ex.frames.max(axis=1)
    assert np.median(loud[note_frames]) > np.median(loud[~note_frames]) + 3.0


def test_held_out_conditions_only_in_evaluation():
    train = dataset.DataConfig()
    assert not set(dataset.HELD_OUT_TIMBRES) & set(train.timbres)
    assert not set(dataset.HELD_OUT_NOISES) & set(train.noises)
    ev = dataset.eval_config(train)
    assert set(dataset.HELD_OUT_TIMBRES) <= set(ev.timbres)
    assert set(dataset.HELD_OUT_NOISES) <= set(ev.noises)
    assert "spectral" in train.timbres and "spectral" not in ev.timbres  # the instrument row's


def test_windows_index_frames_of_one_recording_only():
    rng = np.random.default_rng(3)
    exs = [dataset.make_example(rng) for _ in range(3)]
    ws = dataset.windows_of(exs, window_frames=32, hop_frames=4, label_frame=16)
    windows, labels = ws.take(np.arange(len(ws)))
    assert windows.shape[1:] == (32, DEFAULT_FEATURES.n_bands)
    first = exs[0]
    np.testing.assert_array_equal(windows[1], first.frames[4:36])
    assert labels[1] == first.labels[4 + 16]
    assert len(ws) == sum((len(e.frames) - 32) // 4 + 1 for e in exs)
    assert np.all(ws.weights == 1.0)  # examples without weights weigh 1


def test_window_weights_are_their_label_frames_weights():
    rng = np.random.default_rng(4)
    exs = [dataset.make_example(rng) for _ in range(2)]
    weighted = [
        dataset.FrameExample(e.frames, e.labels, np.arange(len(e.labels), dtype=np.float32))
        for e in exs
    ]
    ws = dataset.windows_of(weighted, window_frames=32, hop_frames=4, label_frame=16)
    first = (len(exs[0].frames) - 32) // 4 + 1
    assert ws.weights[:3].tolist() == [16.0, 20.0, 24.0]
    assert ws.weights[first] == 16.0  # the second recording's frames are counted afresh


def test_reattack_gaps_mark_only_short_rests_between_equal_notes():
    s = 16
    labels = np.array([s, 3, 3, s, s, 3, 3, s, 4, s, 5, 5, s, s, s, s, 5, s, 3, s, s, 3])
    want = [0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]
    assert dataset.reattack_gaps(labels, s, 3).astype(int).tolist() == want
    longer = dataset.reattack_gaps(labels, s, 4).astype(int).tolist()
    assert longer[12:16] == [1, 1, 1, 1]  # the 4-frame rest between the two 5s now counts
    assert not dataset.reattack_gaps(np.array([3, 3, 4, 4, 3], np.int16), s, 5).any()
    assert dataset.reattack_gaps(np.array([], np.int16), s, 5).size == 0


def test_erode_notes_widens_gaps_and_keeps_short_notes():
    s = 16
    labels = np.array([s, 3, 3, 3, 3, s, s, s, s, 3, 3, 3, 5, 5, 5, 5, s, 7, s])
    eroded = dataset.erode_notes(labels, s, 1)
    assert eroded.tolist() == [s, s, 3, 3, s, s, s, s, s, s, 3, s, s, 5, 5, s, s, 7, s]
    np.testing.assert_array_equal(dataset.erode_notes(labels, s, 0), labels)


def test_note_gain_spreads_the_notes_levels_by_at_most_its_decibels():
    """Dry, clean, sine, no colouring: each note's band peak differs from the even rendering of
    the same draw by its own gain, within +- note_gain_db, and the gains differ."""
    quiet = dict(clean_prob=1.0, reverb_prob=0.0, colouring_prob=0.0, interferer_prob=0.0)
    quiet |= dict(empty_prob=0.0, timbres=("sine",), notes=(8, 8), rates_hz=(16000,))
    even = dataset.make_example(np.random.default_rng(3), dataset.DataConfig(**quiet))
    spread = dataset.make_example(
        np.random.default_rng(3), dataset.DataConfig(**quiet, note_gain_db=9.0)
    )
    assert spread.symbols == even.symbols and spread.note_spans == even.note_spans

    def note_peaks_db(ex):
        return np.array(
            [10 * ex.frames[a // 160 + 2 : b // 160 - 2].max() for _, a, b in ex.note_spans]
        )

    # Both recordings are peak-normalized, so compare the notes' levels relative to each other.
    change = note_peaks_db(spread) - note_peaks_db(even)
    change -= change.mean()
    assert np.ptp(change) > 3.0 and np.all(np.abs(change) <= 18.0 + 0.5)


def test_quiet_notes_drop_under_the_spread_and_settings_at_zero_draw_nothing():
    """A note chosen as quiet plays its drop under its level; with both settings at 0 no
    random number is drawn, and the spread alone draws what it drew before quiet notes."""
    rng = np.random.default_rng(5)
    assert dataset._draw_note_gains(rng, dataset.DataConfig(note_gain_db=0.0), 9) is None
    assert rng.random() == np.random.default_rng(5).random()
    spread = dataset.DataConfig(note_gain_db=6.0)
    expected = np.random.default_rng(5).uniform(-6.0, 6.0, size=9)
    np.testing.assert_array_equal(
        dataset._draw_note_gains(np.random.default_rng(5), spread, 9), expected
    )
    always = dataset.DataConfig(note_gain_db=0.0, quiet_note_prob=1.0)
    gains = np.array(dataset._draw_note_gains(np.random.default_rng(5), always, 400))
    assert np.all((gains <= -6.0) & (gains >= -15.0)) and np.ptp(gains) > 8.0
    sometimes = dataset.DataConfig(note_gain_db=3.0, quiet_note_prob=0.25)
    gains = np.array(dataset._draw_note_gains(np.random.default_rng(5), sometimes, 4000))
    assert 0.2 < np.mean(gains < -3.0) < 0.3 and gains.max() <= 3.0 and gains.min() >= -18.0
    clear_only = dataset.DataConfig(note_gain_db=0.0, quiet_note_prob=1.0, quiet_note_min_snr_db=10)
    assert max(dataset._draw_note_gains(np.random.default_rng(5), clear_only, 9, 10.0)) <= -6.0
    assert dataset._draw_note_gains(np.random.default_rng(5), clear_only, 9, 5.0) == [0.0] * 9


def test_pairing_melodies_play_every_note_at_one_level_whatever_training_draws():
    """Evaluation, int8 melody parity and smoothing tuning hear pairing melodies as a player
    plays them: training's uneven note levels (and its small speakers) must not leak into
    them."""
    base = dataset.DataConfig(note_gain_db=6.0, quiet_note_prob=0.1)
    for cfg in (
        dataset.pairing_like(base, 13),
        dataset.pairing_like(dataset.eval_config(base), 13),
    ):
        assert cfg.note_gain_db == 0.0 and cfg.quiet_note_prob == 0.0
    small = dataset.DataConfig(small_speaker_prob=0.25, hard_snr_prob=0.3, duet_prob=0.2)
    narrowed = dataset.pairing_like(dataset.eval_config(small), 13)
    assert narrowed.small_speaker_prob == 0.0 and narrowed.hard_snr_prob == 0.0
    assert narrowed.duet_prob == 0.0


def test_a_share_of_noisy_examples_comes_from_the_low_snr_range():
    """`hard_snr_prob`: that share of the SNRs is drawn from `hard_snr_db`, the rest from
    `snr_db`. At 0 nothing extra is drawn, so a config without it draws the examples it drew
    before the setting existed. Bad settings fail in one line."""
    cfg = dataset.DataConfig(snr_db=(20.0, 30.0), hard_snr_db=(-8.0, -6.0), hard_snr_prob=0.3)
    rng = np.random.default_rng(3)
    snrs = np.array([dataset._draw_snr_db(rng, cfg) for _ in range(2000)])
    low = (snrs >= -8.0) & (snrs <= -6.0)
    assert np.all(low | ((snrs >= 20.0) & (snrs <= 30.0)))
    assert 0.26 < low.mean() < 0.34
    plain = dataset.DataConfig()
    drawn, expected = np.random.default_rng(4), np.random.default_rng(4)
    assert dataset._draw_snr_db(drawn, plain) == expected.uniform(*plain.snr_db)
    assert drawn.random() == expected.random()  # one draw, as before
    with pytest.raises(dataset.UsageError, match="hard_snr_prob"):
        dataset.data_config_from_table({"hard_snr_prob": 1.5})
    with pytest.raises(dataset.UsageError, match="hard_snr_db"):
        dataset.data_config_from_table({"hard_snr_db": [5.0, -10.0]})


def _steps_semitones(cfg, melodies: int) -> np.ndarray:
    from melodypair.shared.alphabet import DEFAULT_ALPHABET, midi_number

    midis = np.array([midi_number(n) for n in DEFAULT_ALPHABET.names])
    rng = np.random.default_rng(11)
    steps = []
    for _ in range(melodies):
        symbols = dataset._draw_symbols(rng, cfg, DEFAULT_ALPHABET)
        steps += [abs(midis[b] - midis[a]) for a, b in itertools.pairwise(symbols)]
    return np.array(steps)


def test_leap_prob_leans_melodies_to_leaps_and_at_zero_draws_what_it_drew_before():
    """With `leap_prob` 1 every note that does not repeat lies an octave or more from the one
    before; at 0 the melodies are the ones drawn before the setting existed."""
    cfg = dataset.DataConfig(repeat_prob=0.35)
    rng = np.random.default_rng(11)
    before = []
    for _ in range(50):
        count = int(rng.integers(cfg.notes[0], cfg.notes[1] + 1))
        symbols = [int(rng.integers(16))]
        for _ in range(count - 1):
            symbols.append(symbols[-1] if rng.random() < cfg.repeat_prob else int(rng.integers(16)))
        before.append(symbols)
    from melodypair.shared.alphabet import DEFAULT_ALPHABET

    rng = np.random.default_rng(11)
    assert [dataset._draw_symbols(rng, cfg, DEFAULT_ALPHABET) for _ in range(50)] == before
    always = _steps_semitones(dataset.DataConfig(repeat_prob=0.0, leap_prob=1.0), 300)
    assert always.min() >= dataset.LEAP_SEMITONES
    uniform = _steps_semitones(dataset.DataConfig(repeat_prob=0.0), 300)
    leaning = _steps_semitones(dataset.DataConfig(repeat_prob=0.0, leap_prob=0.3), 300)
    assert 0.3 < np.mean(uniform >= 12) < 0.45 < 0.5 < np.mean(leaning >= 12) < 0.65
    assert dataset.pairing_like(dataset.DataConfig(leap_prob=0.3), 13).leap_prob == 0.0
    with pytest.raises(dataset.UsageError, match="leap_prob"):
        dataset.data_config_from_table({"leap_prob": 1.5})


def _onset_steps_ms(cfg) -> np.ndarray:
    condition = dataset.Condition("sine", 16000, "none", float("inf"), 0.0, -20.0)
    ex = dataset.make_example(np.random.default_rng(3), cfg, condition=condition)
    return np.diff([start for _, start, _ in ex.note_spans]) / 16.0


def test_training_plays_tighter_rests_than_pairing_and_evaluation_plays_what_pairing_does():
    """Training's pairing-rhythm examples (and the smoothing tuning) rest `pairing_rest_ms`, the
    re-attack row its own short rest; everything measured as pairing plays it uses the pairing
    rhythm's rest."""
    from melodypair.host import reattack_eval, tune_smoothing
    from melodypair.shared.rhythm import DEFAULT_RHYTHM

    base = dataset.DataConfig(pairing_rhythm_prob=1.0, pairing_tempo_jitter=0.0, notes=(8, 8))
    assert base.pairing_rest_ms < DEFAULT_RHYTHM.rest_ms
    tone_ms = DEFAULT_RHYTHM.tone_ms
    cases = [
        (base, tone_ms + base.pairing_rest_ms),
        (dataset.pairing_like(base, 13), DEFAULT_RHYTHM.note_ms),
        (dataset.pairing_like(dataset.eval_config(base), 13), DEFAULT_RHYTHM.note_ms),
        (reattack_eval._config(), tone_ms + reattack_eval.REST_MS),
        (tune_smoothing.tuning_config(), tone_ms + base.pairing_rest_ms),
    ]
    for cfg, step_ms in cases:
        steps = _onset_steps_ms(cfg)
        assert steps.size >= 7 and np.allclose(steps, step_ms, atol=0.1), (cfg, steps)
    with pytest.raises(dataset.UsageError, match="pairing_rest_ms"):
        dataset.data_config_from_table({"pairing_rest_ms": -5.0})


def _peak_near(audio: np.ndarray, hz: float, rate_hz: int = 16000) -> float:
    """The largest spectrum magnitude within 40 Hz of `hz`."""
    spectrum = np.abs(np.fft.rfft(audio))
    f = np.fft.rfftfreq(audio.size, 1 / rate_hz)
    return float(spectrum[np.abs(f - hz) < 40].max())


def test_a_small_speaker_puts_a_low_notes_fundamental_under_its_octave():
    """`small_speaker_prob`: the melody through a high-pass before the room. A harmonic C5
    (fundamental twice as strong as its octave) comes out with the octave on top at 1500 Hz;
    without the speaker the fundamental stays on top. Bad settings fail in one line."""
    condition = dataset.Condition("harmonic", 16000, "none", float("inf"), 0.0, -20.0)
    plain = dataset.DataConfig(colouring_prob=0.0, interferer_prob=0.0, detune_cents=0.0)
    small = replace(plain, small_speaker_prob=1.0, small_speaker_hz=(1500.0, 1500.0))
    c5_hz = 523.25
    for cfg, fundamental_on_top in ((plain, True), (small, False)):
        ex = dataset.make_example(np.random.default_rng(5), cfg, symbols=[0], condition=condition)
        on_top = _peak_near(ex.audio, c5_hz) > _peak_near(ex.audio, 2 * c5_hz)
        assert on_top == fundamental_on_top
    for bad in ({"small_speaker_hz": [0.0, 1000.0]}, {"small_speaker_hz": [500.0, 5000.0]}):
        with pytest.raises(dataset.UsageError, match="small_speaker_hz"):
            dataset.data_config_from_table(bad)
    with pytest.raises(dataset.UsageError, match="small_speaker_prob"):
        dataset.data_config_from_table({"small_speaker_prob": 2.0})


def test_drawn_instruments_vary_their_loudest_partial_and_keep_the_fundamental_audible():
    """The spectral timbre's drawn gains: the loudest partial at 0 dB, often not the
    fundamental, which stays within 30 dB of it; some odd-only spectra and some stretched."""
    rng = np.random.default_rng(5)
    drawn = [dataset.draw_partials(rng) for _ in range(400)]
    gains = [np.array(g) for g, _ in drawn]
    assert all(3 <= len(g) <= 16 and g.max() == 0.0 and g[0] >= -30.0 for g in gains)
    assert 0.3 < np.mean([g[0] < 0.0 for g in gains]) < 0.95
    assert 0.1 < np.mean([g[1::2].max() < -10.0 for g in gains]) < 0.4
    assert 0.3 < np.mean([b > 0.0 for _, b in drawn]) < 0.7


def test_the_spectral_fundamental_keeps_within_the_configured_depth_of_the_loudest_partial():
    """`max_fundamental_under_db` caps how far under the loudest partial the fundamental lies
    and changes nothing else: the same draws, with only the deepest fundamentals raised."""
    deep = [dataset.draw_partials(np.random.default_rng(s)) for s in range(300)]
    capped = [dataset.draw_partials(np.random.default_rng(s), 15.0) for s in range(300)]
    assert min(g[0] for g, _ in deep) < -20.0
    assert all(c[0] >= -15.0 for c, _ in capped)
    for (g, stretch), (c, stretch_capped) in zip(deep, capped, strict=True):
        assert c[1:] == g[1:] and stretch_capped == stretch and c[0] == max(g[0], -15.0)
    with pytest.raises(dataset.UsageError, match="spectral_fundamental_max_under_db"):
        dataset.data_config_from_table({"spectral_fundamental_max_under_db": -1.0})


def test_one_training_example_in_eleven_draws_a_random_instrument():
    timbres = dataset.DataConfig().timbres
    named = [t for t in timbres if t != "spectral"]
    assert timbres.count("spectral") == 1 and len(timbres) == 11
    assert all(named.count(t) == 2 for t in named)


def test_examples_of_the_spectral_timbre_render_with_their_labels():
    cfg = replace(dataset.DataConfig(), timbres=("spectral",), clean_prob=1.0, reverb_prob=0.0)
    ex = dataset.make_example(np.random.default_rng(3), cfg)
    assert ex.condition.timbre == "spectral" and ex.symbols and np.all(np.isfinite(ex.audio))
    assert [s for s, _, _ in ex.note_spans] == list(ex.symbols)
    silence = len(DEFAULT_ALPHABET)
    assert set(np.unique(ex.labels).tolist()) == set(ex.symbols) | {silence}


def test_a_duet_voice_sounds_other_alphabet_notes_quieter_under_the_melodys_notes_only():
    """`duet_voice` under a sine melody: about two notes in three are joined by one other
    alphabet note, 6-8 dB under the melody's note over the same span (the others are silent),
    never an octave, a twelfth, ... away, and nothing of it sounds in the rests."""
    from melodypair.shared.synth import Envelope, SynthParams, Timbre, render_notes

    cfg = dataset.DataConfig(duet_below_db=(6.0, 8.0))
    rate = 16000
    symbols = [0, 3, 3, 9, 15, 7, 12, 5, 1, 10, 14, 6] * 3
    tones, rests = np.full(len(symbols), 250.0), np.full(len(symbols), 100.0)
    levels_db = np.linspace(-4.0, 4.0, len(symbols))
    params = SynthParams(
        timbre=Timbre("sine"),
        sample_rate_hz=rate,
        envelope=Envelope(attack_ms=5.0, decay_ms=5.0, release_ms=5.0, sustain=1.0),
    )
    melody = render_notes(
        symbols, tone_ms=tones.tolist(), rest_ms=rests.tolist(), gain_db=levels_db, params=params
    )
    voice = dataset.duet_voice(
        np.random.default_rng(8),
        cfg,
        DEFAULT_ALPHABET,
        symbols,
        tones,
        rests,
        levels_db,
        params,
        melody.audio.size,
    )
    notes_hz = np.array(DEFAULT_ALPHABET.frequencies_hz)
    joined = far = 0
    for event in melody.events:
        mid = slice(event.start_sample + 400, event.end_sample - 400)
        x, m = voice[mid], melody.audio[mid]
        if np.sqrt(np.mean(x**2)) < 1e-6:
            continue
        joined += 1
        under_db = 20 * np.log10(np.sqrt(np.mean(m**2)) / np.sqrt(np.mean(x**2)))
        assert 6.0 - 0.2 <= under_db <= 8.0 + 0.2
        spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), 1 << 16))
        peak_hz = np.argmax(spectrum) * rate / (1 << 16)
        nearest = int(np.argmin(np.abs(notes_hz - peak_hz)))
        assert abs(1200 * np.log2(peak_hz / notes_hz[nearest])) < 15.0 + 10.0  # detune + bins
        assert nearest != event.symbol
        ratio = notes_hz[event.symbol] / notes_hz[nearest]  # never a harmonic, either way
        apart = max(ratio, 1 / ratio)
        assert min(abs(1200 * np.log2(apart / k)) for k in range(2, 7)) > 50.0
        far += apart > 1.9
    assert 0.5 * len(symbols) <= joined <= 0.8 * len(symbols)
    assert far > 0  # notes an octave or more away stay allowed, just not an octave, a twelfth, ...
    rest_mask = np.ones(voice.size, bool)
    for event in melody.events:
        rest_mask[event.start_sample : event.end_sample + rate // 50] = False
    assert np.max(np.abs(voice[rest_mask])) < 1e-6


def test_a_duet_leaves_the_melody_and_its_labels_as_drawn_and_is_off_by_default():
    quiet = dict(clean_prob=1.0, reverb_prob=0.0, colouring_prob=0.0, interferer_prob=0.0)
    quiet |= dict(empty_prob=0.0, timbres=("harmonic",), notes=(10, 10), rates_hz=(16000,))
    plain = dataset.make_example(np.random.default_rng(21), dataset.DataConfig(**quiet))
    duet = dataset.make_example(np.random.default_rng(21), dataset.DataConfig(**quiet, duet_prob=1))
    assert duet.symbols == plain.symbols and duet.note_spans == plain.note_spans
    np.testing.assert_array_equal(duet.labels, plain.labels)
    assert not np.allclose(duet.audio, plain.audio)
    assert dataset.DataConfig().duet_prob == 0.0
    with pytest.raises(dataset.UsageError, match="duet_prob"):
        dataset.data_config_from_table({"duet_prob": 2.0})
