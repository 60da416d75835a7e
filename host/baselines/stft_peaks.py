"""The rule-based peer: STFT peak picking + onset segmentation + snapping to the alphabet.

Written the way a careful DSP engineer would, and tuned on training data (`tune`), so that the
comparison with the learned recognizer is honest. Per frame: the strongest spectral peak in the
alphabet's band, refined by parabolic interpolation, kept when it stands out of the band's median
by `prominence_db` and is within `max_cents` of an alphabet note. Runs of frames on the same note
form notes; an energy rise of `onset_db` inside a run (a re-attack) splits it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from melodypair.shared.alphabet import DEFAULT_ALPHABET, Alphabet
from melodypair.shared.melody_finder import HeardNote


@dataclass(frozen=True)
class PeakParams:
    sample_rate_hz: int = 16000
    frame_samples: int = 1024  # 64 ms: fine pitch resolution
    hop_samples: int = 160
    fft_samples: int = 4096
    f_min_hz: float = 450.0
    f_max_hz: float = 2800.0
    prominence_db: float = 12.0
    max_cents: float = 50.0
    onset_db: float = 6.0  # energy rise over `onset_span` frames that marks a re-attack
    onset_span: int = 3
    min_note_frames: int = 5
    max_gap_frames: int = 2  # unvoiced frames bridged inside a note


def _frames(audio: np.ndarray, p: PeakParams) -> np.ndarray:
    if audio.size < p.frame_samples:
        return np.zeros((0, p.fft_samples // 2 + 1))
    n = 1 + (audio.size - p.frame_samples) // p.hop_samples
    idx = np.arange(p.frame_samples)[None, :] + p.hop_samples * np.arange(n)[:, None]
    window = np.hanning(p.frame_samples)
    spectrum = np.fft.rfft(audio[idx] * window, n=p.fft_samples, axis=1)
    return spectrum.real**2 + spectrum.imag**2


def frame_pitches(
    audio: np.ndarray, p: PeakParams, alphabet: Alphabet = DEFAULT_ALPHABET
) -> tuple[np.ndarray, np.ndarray]:
    """Per frame: snapped alphabet symbol (-1 = none) and band energy in dB."""
    power = _frames(np.asarray(audio, np.float64), p)
    freqs = np.fft.rfftfreq(p.fft_samples, 1.0 / p.sample_rate_hz)
    band = np.flatnonzero((freqs >= p.f_min_hz) & (freqs <= p.f_max_hz))
    sub = power[:, band] + 1e-20
    k = np.argmax(sub, axis=1)
    k = np.clip(k, 1, band.size - 2)
    rows = np.arange(sub.shape[0])
    a, b, c = (np.log(sub[rows, k - 1]), np.log(sub[rows, k]), np.log(sub[rows, k + 1]))
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0.0)
    peak_hz = freqs[band[0]] + (k + np.clip(shift, -0.5, 0.5)) * (freqs[1] - freqs[0])
    prominence = 10 * np.log10(sub[rows, k] / np.median(sub, axis=1))
    notes = np.array(alphabet.frequencies_hz)
    cents = 1200 * np.log2(peak_hz[:, None] / notes[None, :])
    nearest = np.argmin(np.abs(cents), axis=1)
    ok = (prominence >= p.prominence_db) & (np.abs(cents[rows, nearest]) <= p.max_cents)
    energy_db = 10 * np.log10(sub.sum(axis=1))
    return np.where(ok, nearest, -1), energy_db


def decode(
    audio: np.ndarray, p: PeakParams = PeakParams(), alphabet: Alphabet = DEFAULT_ALPHABET
) -> list[HeardNote]:
    """Notes heard in 16 kHz mono audio by the rule-based decoder."""
    symbols, energy = frame_pitches(audio, p, alphabet)
    return notes_from_frames(symbols, energy, p, alphabet, offset_samples=p.frame_samples // 2)


def notes_from_frames(
    symbols: np.ndarray, energy_db: np.ndarray, p, alphabet: Alphabet, offset_samples: int = 0
) -> list[HeardNote]:
    """Runs of frames on one note -> notes; short unvoiced gaps bridged, re-attacks (an energy
    rise of `p.onset_db` over `p.onset_span` frames inside a run) split. Shared by the rule-based
    peers; `p` needs hop_samples, sample_rate_hz, onset_span, onset_db, min_note_frames and
    max_gap_frames; `offset_samples` is where frame 0's time sits."""
    rise = np.zeros_like(energy_db)
    if energy_db.size > p.onset_span:
        rise[p.onset_span :] = energy_db[p.onset_span :] - energy_db[: -p.onset_span]
    notes: list[HeardNote] = []
    start, current, gap = None, -1, 0

    def close(end_frame: int) -> None:
        if start is not None and end_frame - start + 1 >= p.min_note_frames:
            notes.append(
                HeardNote(
                    int(current),
                    alphabet.names[current],
                    start * p.hop_samples + offset_samples,
                    (end_frame + 1) * p.hop_samples + offset_samples,
                    1.0,
                    p.sample_rate_hz,
                )
            )

    for i, s in enumerate(symbols):
        reattack = (
            start is not None
            and s == current
            and i - start > p.min_note_frames
            and rise[i] >= p.onset_db
            and rise[i] == rise[max(0, i - 2) : i + 3].max()
        )
        if s == current and not reattack:
            gap = 0
            continue
        if s == -1 and start is not None and gap < p.max_gap_frames:
            gap += 1
            continue
        close(i - 1 - gap)
        start, current, gap = (i, int(s), 0) if s != -1 else (None, -1, 0)
    close(len(symbols) - 1 - gap)
    return notes


def note_sequence_errors(heard: list[int], truth: list[int]) -> int:
    """Edit distance between two note sequences (substitutions, insertions, deletions)."""
    prev = list(range(len(truth) + 1))
    for i, h in enumerate(heard, 1):
        cur = [i] + [0] * len(truth)
        for j, t in enumerate(truth, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (h != t))
        prev = cur
    return prev[-1]


def tune(examples, grid: dict | None = None, base: PeakParams = PeakParams()) -> PeakParams:
    """The parameters with the fewest note errors on `examples` (objects with audio, symbols)."""
    grid = grid or {
        "prominence_db": [6.0, 9.0, 12.0, 15.0],
        "onset_db": [3.0, 5.0, 8.0],
        "min_note_frames": [3, 5, 8],
    }
    best, best_err = base, None
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        params = replace(base, **dict(zip(keys, values, strict=True)))
        err = sum(
            note_sequence_errors([n.symbol for n in decode(ex.audio, params)], list(ex.symbols))
            for ex in examples
        )
        if best_err is None or err < best_err:
            best, best_err = params, err
    return best
