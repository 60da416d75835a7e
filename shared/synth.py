"""Tone synthesis: render a note sequence to audio plus the sample-exact truth of each note.

Every timbre is additive synthesis of harmonics kept below 0.45 x the sample rate, so nothing
aliases even at 8 kHz. Each note starts at phase 0, is shaped by a raised-cosine ADSR envelope
that starts and ends at exactly 0 (no clicks) and is scaled so its peak is `amplitude`. The synth
is deterministic: random choices (durations, detune, timbre) belong to the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from melodypair.shared.alphabet import DEFAULT_ALPHABET, Alphabet
from melodypair.shared.errors import UsageError
from melodypair.shared.rhythm import DEFAULT_RHYTHM, Rhythm

TIMBRE_NAMES: tuple[str, ...] = ("sine", "square", "triangle", "harmonic", "pluck", "vibrato")
# Not a name to choose (nothing to play without its gains): harmonics with the gains the caller
# gives, so training can draw instruments whose fundamental is not the loudest partial.
SPECTRAL = "spectral"
MAX_PARTIALS = 32

# Harmonics above this fraction of the sample rate are dropped: the envelope spreads each one by
# a few tens of Hz, and this margin keeps that spread below Nyquist too.
_MAX_HARMONIC_FRACTION = 0.45

# "harmonic" timbre: relative amplitudes of f, 2f, 3f, 4f.
_HARMONIC_AMPLITUDES = (1.0, 0.5, 1.0 / 3.0, 0.25)


@dataclass(frozen=True)
class Timbre:
    """The sound of a note: one of TIMBRE_NAMES (or SPECTRAL), with the knobs of the vibrato,
    pluck and spectral kinds."""

    name: str = "sine"
    vibrato_rate_hz: float = 5.5
    vibrato_depth_cents: float = 20.0  # peak deviation, +-
    pluck_decay_ms: float = 250.0  # time constant of the fundamental; harmonic k decays k x faster
    partial_gains_db: tuple[float, ...] = ()  # spectral: the gain of harmonic 1, 2, 3, ...
    inharmonicity: float = 0.0  # spectral: partial k sounds at k f sqrt(1 + B k^2) (stiff string)

    def __post_init__(self) -> None:
        if self.name not in (*TIMBRE_NAMES, SPECTRAL):
            choices = ", ".join(TIMBRE_NAMES)
            raise UsageError(f"unknown timbre '{self.name}'; choose one of {choices}")
        if (self.name == SPECTRAL) != bool(self.partial_gains_db):
            raise UsageError("partial gains belong to the spectral timbre, which needs them")
        if len(self.partial_gains_db) > MAX_PARTIALS or not np.all(
            np.isfinite(self.partial_gains_db)
        ):
            raise UsageError(f"a spectral timbre has 1-{MAX_PARTIALS} finite partial gains (dB)")
        if not 0.0 <= self.inharmonicity <= 0.01:
            raise UsageError("inharmonicity must be in 0-0.01")
        if not 0.0 < self.vibrato_rate_hz <= 20.0 or not 0.0 <= self.vibrato_depth_cents <= 100.0:
            raise UsageError("vibrato needs a rate of 0-20 Hz and a depth of 0-100 cents")
        if self.pluck_decay_ms <= 0.0:
            raise UsageError("the pluck decay time must be positive")


@dataclass(frozen=True)
class Envelope:
    """ADSR amplitude envelope; ramps are raised-cosine, so each note starts and ends at 0.

    Attack rises 0 -> 1, decay falls 1 -> `sustain`, release falls `sustain` -> 0 and ends on the
    note's last sample. A tone shorter than attack + decay + release shrinks the three in
    proportion.
    """

    attack_ms: float = 10.0
    decay_ms: float = 30.0
    release_ms: float = 15.0
    sustain: float = 0.8

    def __post_init__(self) -> None:
        if min(self.attack_ms, self.decay_ms, self.release_ms) < 0.0:
            raise UsageError("envelope times must not be negative")
        if not 0.0 < self.sustain <= 1.0:
            raise UsageError("the envelope's sustain level must be in (0, 1]")

    def gains(self, n_samples: int, sample_rate_hz: float) -> np.ndarray:
        """The envelope of an `n_samples`-long tone (float64, in [0, 1], 0 at both ends)."""
        want = np.array([self.attack_ms, self.decay_ms, self.release_ms]) * sample_rate_hz / 1e3
        if want.sum() > n_samples:
            want = want * n_samples / want.sum()
        attack, decay, release = (int(v) for v in want)
        attack, release = max(attack, 1), max(release, 1)  # so the first and last samples are 0
        decay = max(0, min(decay, n_samples - attack - release))
        peak = 1.0 if decay else self.sustain
        g = np.full(n_samples, self.sustain)
        g[:attack] = peak * (0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack))
        fall = 0.5 + 0.5 * np.cos(np.pi * np.arange(decay) / max(decay, 1))
        g[attack : attack + decay] = self.sustain + (peak - self.sustain) * fall
        g[n_samples - release :] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, release + 1) / release)
        return g


@dataclass(frozen=True)
class SynthParams:
    """How notes are rendered: timbre, rate, tempo (2.0 = twice as fast), detune, peak level."""

    timbre: Timbre = field(default_factory=Timbre)
    sample_rate_hz: int = 16000
    tempo: float = 1.0
    detune_cents: float = 0.0
    amplitude: float = 0.5
    envelope: Envelope = field(default_factory=Envelope)

    def __post_init__(self) -> None:
        if not 8000 <= self.sample_rate_hz <= 192000:
            raise UsageError(f"sample rate {self.sample_rate_hz} Hz is not in 8000-192000 Hz")
        if not 0.25 <= self.tempo <= 4.0:
            raise UsageError(f"tempo {self.tempo} is not in 0.25-4 (1 = normal speed)")
        if not -100.0 <= self.detune_cents <= 100.0:
            raise UsageError(f"detune {self.detune_cents} cents is not in -100 to 100 cents")
        if not 0.0 < self.amplitude <= 1.0:
            raise UsageError(f"amplitude {self.amplitude} is not in (0, 1]")


DEFAULT_SYNTH = SynthParams()


@dataclass(frozen=True)
class NoteEvent:
    """One sounding note: its symbol (-1 for a tone off the alphabet) and samples [start, end)."""

    symbol: int
    start_sample: int
    end_sample: int
    frequency_hz: float


@dataclass(frozen=True, eq=False)
class Rendering:
    """Rendered audio (float32 mono in [-1, 1]) and the frame-exact truth of its notes."""

    audio: np.ndarray
    events: tuple[NoteEvent, ...]
    sample_rate_hz: int

    @property
    def duration_ms(self) -> float:
        return 1000.0 * self.audio.size / self.sample_rate_hz


def render_notes(
    symbols: Sequence[int],
    *,
    alphabet: Alphabet = DEFAULT_ALPHABET,
    rhythm: Rhythm = DEFAULT_RHYTHM,
    tone_ms: float | Sequence[float] | None = None,
    rest_ms: float | Sequence[float] | None = None,
    detune_cents: Sequence[float] | None = None,
    gain_db: Sequence[float] | None = None,
    params: SynthParams = DEFAULT_SYNTH,
) -> Rendering:
    """Render alphabet symbols; each note is a tone then a rest (from `rhythm` unless given).

    `tone_ms` / `rest_ms` override the rhythm with one value or one per note; `detune_cents`
    adds a per-note detune to `params.detune_cents`, `gain_db` a per-note gain to
    `params.amplitude`. Durations are divided by `params.tempo`.
    """
    freqs = alphabet.frequencies_hz
    for s in symbols:
        if not 0 <= s < len(freqs):
            raise UsageError(f"symbol {s} is outside the {len(freqs)}-note alphabet")
    return render_tones(
        [freqs[s] for s in symbols],
        symbols=symbols,
        tone_ms=rhythm.tone_ms if tone_ms is None else tone_ms,
        rest_ms=rhythm.rest_ms if rest_ms is None else rest_ms,
        detune_cents=detune_cents,
        gain_db=gain_db,
        params=params,
    )


def render_tones(
    frequencies_hz: Sequence[float],
    *,
    tone_ms: float | Sequence[float],
    rest_ms: float | Sequence[float],
    symbols: Sequence[int] | None = None,
    detune_cents: Sequence[float] | None = None,
    gain_db: Sequence[float] | None = None,
    params: SynthParams = DEFAULT_SYNTH,
) -> Rendering:
    """Render arbitrary frequencies (e.g. off-alphabet tones); events carry `symbols` or -1."""
    n = len(frequencies_hz)
    tones = _per_note(tone_ms, n, "tone_ms")
    rests = _per_note(rest_ms, n, "rest_ms")
    detunes = _per_note(0.0 if detune_cents is None else detune_cents, n, "detune_cents")
    gains = 10.0 ** (np.asarray(_per_note(0.0 if gain_db is None else gain_db, n, "gain_db")) / 20)
    labels = [-1] * n if symbols is None else [int(s) for s in symbols]
    if len(labels) != n:
        raise UsageError(f"{len(labels)} symbols for {n} frequencies")
    if any(t <= 0.0 for t in tones) or any(r < 0.0 for r in rests):
        raise UsageError("tone durations must be positive and rests not negative")
    rate = params.sample_rate_hz
    onsets_ms = np.concatenate([[0.0], np.cumsum(np.add(tones, rests))]) / params.tempo
    total = _to_samples(onsets_ms[-1], rate)
    audio = np.zeros(total, dtype=np.float64)
    events = []
    for i in range(n):
        start = _to_samples(onsets_ms[i], rate)
        end = _to_samples(onsets_ms[i] + tones[i] / params.tempo, rate)
        if end - start < 2:
            raise UsageError(f"note {i + 1} is shorter than two samples")
        f_hz = frequencies_hz[i] * 2.0 ** ((params.detune_cents + detunes[i]) / 1200.0)
        if not 20.0 <= f_hz < rate * _MAX_HARMONIC_FRACTION:
            raise UsageError(f"{f_hz:.1f} Hz cannot be rendered at {rate} Hz")
        tone = _waveform(f_hz, end - start, rate, params.timbre)
        envelope = params.envelope.gains(end - start, rate)
        audio[start:end] += params.amplitude * gains[i] * tone * envelope
        events.append(NoteEvent(labels[i], start, end, f_hz))
    return Rendering(audio.astype(np.float32), tuple(events), rate)


def _to_samples(ms: float, rate: int) -> int:
    return round(float(ms) * rate / 1000.0)


def _per_note(value: float | Sequence[float], n: int, name: str) -> list[float]:
    if np.ndim(value) == 0:
        return [float(value)] * n
    values = [float(v) for v in np.asarray(value).reshape(-1)]
    if len(values) != n:
        raise UsageError(f"{name} has {len(values)} values for {n} notes")
    return values


def _harmonics(timbre: Timbre) -> tuple[np.ndarray, np.ndarray]:
    """(harmonic numbers, amplitudes) of a timbre's Fourier series, up to harmonic 255."""
    name = timbre.name
    k = np.arange(1, 256)
    if name == SPECTRAL:
        return k[: len(timbre.partial_gains_db)], 10.0 ** (np.array(timbre.partial_gains_db) / 20)
    if name == "square":
        odd = k[k % 2 == 1]
        return odd, 1.0 / odd
    if name == "triangle":
        odd = k[k % 2 == 1]
        return odd, np.where(odd % 4 == 1, 1.0, -1.0) / odd**2
    if name == "harmonic":
        return k[:4], np.array(_HARMONIC_AMPLITUDES)
    if name == "pluck":
        return k[:8], 1.0 / k[:8]
    return k[:1], np.ones(1)


def _waveform(f_hz: float, n_samples: int, rate: int, timbre: Timbre) -> np.ndarray:
    """One note's waveform, peak-normalized to 1, phase 0 at its first sample, band-limited."""
    t = np.arange(n_samples) / rate
    if timbre.name == "vibrato":
        # Centred on the note (odd about its middle), so the mean pitch is f whatever the length.
        depth = timbre.vibrato_depth_cents / 1200.0
        centred = t - t[-1] / 2.0
        inst_hz = f_hz * 2.0 ** (depth * np.sin(2.0 * np.pi * timbre.vibrato_rate_hz * centred))
        phase = 2.0 * np.pi * np.concatenate([[0.0], np.cumsum(inst_hz[:-1])]) / rate
        top_hz = f_hz * 2.0**depth
    else:
        phase = 2.0 * np.pi * f_hz * t
        top_hz = f_hz
    numbers, amps = _harmonics(timbre)
    ratios = numbers * np.sqrt(1.0 + timbre.inharmonicity * numbers**2.0)
    keep = (numbers == 1) | (ratios * top_hz < rate * _MAX_HARMONIC_FRACTION)
    wave = np.zeros(n_samples)
    for k, ratio, a in zip(numbers[keep], ratios[keep], amps[keep], strict=True):
        partial = a * np.sin(ratio * phase)
        if timbre.name == "pluck":
            partial *= np.exp(-t * k * 1000.0 / timbre.pluck_decay_ms)
        wave += partial
    peak = np.max(np.abs(wave))
    return wave / peak if peak > 0.0 else wave
