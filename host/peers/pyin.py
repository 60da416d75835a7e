"""The pitch-tracker peer: librosa's pYIN f0 track, snapped to the alphabet, cut into notes.

pYIN (Mauch & Dixon 2014) is the standard probabilistic monophonic pitch tracker. Per frame its
f0 (when voiced) is snapped to the nearest alphabet note within `max_cents`; runs of frames on the
same note form notes, bridging short unvoiced gaps; a rise of the band energy by `onset_db` inside
a run (a re-attack) splits it, as in the STFT peer. The notes then go through the same melody
finder as every other decoder. librosa is an optional dependency (the `eval` extra).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from melodypair.host.baselines import stft_peaks
from melodypair.shared.alphabet import DEFAULT_ALPHABET, Alphabet
from melodypair.shared.melody_finder import HeardNote

NAME = "pyin"


def available() -> bool:
    """Whether librosa can be imported."""
    try:
        import librosa  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(frozen=True)
class PyinParams:
    """pYIN framing and the note segmentation; defaults chosen with `tune` on 80 training
    recordings (dataset.make_examples seed 777): 192 note errors in 670 notes (the STFT peer: 195).
    Two settings matter most: pYIN's HMM limits how fast the pitch may move (35.92 octaves/s by
    default, made for voices), which turns a melody's leaps into octave errors (276 errors); and a
    quarter-semitone pitch grid errs no more than pYIN's default 0.1 at a quarter of the cost."""

    sample_rate_hz: int = 16000
    frame_samples: int = 1024  # 64 ms: at least 30 periods of the lowest note
    hop_samples: int = 160  # 10 ms, as the learned recognizer
    f_min_hz: float = 450.0
    f_max_hz: float = 2800.0
    resolution_semitones: float = 0.25  # the notes are whole semitones apart
    max_transition_octaves_per_s: float = 200.0  # melodies leap; pYIN's default 35.92 suits voices
    max_cents: float = 50.0
    onset_db: float = 4.0
    onset_span: int = 3
    min_note_frames: int = 10
    max_gap_frames: int = 2


def frame_symbols(
    audio: np.ndarray, p: PyinParams = PyinParams(), alphabet: Alphabet = DEFAULT_ALPHABET
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame (centred at frame * hop): snapped alphabet symbol (-1 = none), band energy dB."""
    import librosa

    y = np.asarray(audio, np.float32)
    f0, voiced, _ = librosa.pyin(
        y,
        fmin=p.f_min_hz,
        fmax=p.f_max_hz,
        sr=p.sample_rate_hz,
        frame_length=p.frame_samples,
        hop_length=p.hop_samples,
        resolution=p.resolution_semitones,
        max_transition_rate=p.max_transition_octaves_per_s,
    )
    notes = np.array(alphabet.frequencies_hz)
    f0 = np.where(voiced & np.isfinite(f0), f0, 1.0)
    cents = 1200.0 * np.log2(f0[:, None] / notes[None, :])
    nearest = np.argmin(np.abs(cents), axis=1)
    ok = voiced & (np.abs(cents[np.arange(f0.size), nearest]) <= p.max_cents)
    power = (
        np.abs(librosa.stft(y, n_fft=p.frame_samples, hop_length=p.hop_samples, center=True)) ** 2
    )
    freqs = librosa.fft_frequencies(sr=p.sample_rate_hz, n_fft=p.frame_samples)
    band = (freqs >= p.f_min_hz) & (freqs <= p.f_max_hz)
    energy_db = 10.0 * np.log10(power[band].sum(axis=0) + 1e-20)
    n = min(f0.size, energy_db.size)
    return np.where(ok, nearest, -1)[:n], energy_db[:n]


def notes_from_frames(
    symbols: np.ndarray,
    energy_db: np.ndarray,
    p: PyinParams = PyinParams(),
    alphabet: Alphabet = DEFAULT_ALPHABET,
) -> list[HeardNote]:
    """Runs of frames on one note -> notes (the rule-based peers share this segmentation)."""
    return stft_peaks.notes_from_frames(symbols, energy_db, p, alphabet, offset_samples=0)


def decode(
    audio: np.ndarray, p: PyinParams = PyinParams(), alphabet: Alphabet = DEFAULT_ALPHABET
) -> list[HeardNote]:
    """Notes heard by pYIN in mono audio at `p.sample_rate_hz`."""
    symbols, energy_db = frame_symbols(audio, p, alphabet)
    return notes_from_frames(symbols, energy_db, p, alphabet)


def tune(examples, grid: dict | None = None, base: PyinParams = PyinParams()) -> PyinParams:
    """The segmentation with the fewest note errors on `examples` (objects with audio at 16 kHz
    and symbols); pYIN runs once per example, only the segmentation is searched."""
    from melodypair.host.baselines.stft_peaks import note_sequence_errors

    grid = grid or {
        "onset_db": [3.0, 6.0, 9.0, 100.0],
        "min_note_frames": [3, 5, 8],
        "max_gap_frames": [0, 2, 4],
    }
    tracks = [(frame_symbols(ex.audio, base), list(ex.symbols)) for ex in examples]
    best, best_err = base, None
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        params = replace(base, **dict(zip(keys, values, strict=True)))
        err = sum(
            note_sequence_errors([n.symbol for n in notes_from_frames(s, e, params)], truth)
            for (s, e), truth in tracks
        )
        if best_err is None or err < best_err:
            best, best_err = params, err
    return best
