"""Heard notes -> one symbol per beat of the pairing rhythm: what the melody code should read.

A pairing melody is one note per beat. The smoother's notes mostly fall on that beat grid, and its
typical mistakes are visible against it:
  - a note split in two: the second part starts off the beat, or on the same beat -> dropped;
  - a note ringing on into the next beat, heard as a short tail there before the (late, short)
    note played on that beat -> the beat is that note's;
  - two equal notes heard as one (a rest filled by reverb or a ringing note): the note lasts into
    the next beat -> that beat gets the same symbol, marked `filled` (the caller may also try it
    as an erasure);
  - a note not heard at all: a beat with no note -> an erasure;
  - a real note heard off the beat (a room's ringing note delayed its onset, or a voice) -> it
    takes its nearest beat if no note on the beat holds it;
  - a note heard so late that its nearest beat is the next one, already held (a re-attack of a
    note still ringing in a room) -> it takes the free beat it started in.
When more than a third of the notes that are long enough to be real fall off the beat, there is
no steady rhythm, and no grid is returned. The beat period and phase are fitted to the long
notes, so any tempo works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from melodypair.shared.melody_finder import HeardNote

ANCHOR_FRACTION = 0.5  # a note at least this fraction of the median length is a real note
SPAN_FRACTION = 0.5  # a note covers a later beat when it lasts this much of a note past it
SPLIT_GAP_FRACTION = 0.25  # a gap of up to this fraction of a beat can split one note
MIN_BEAT_FRACTION = 0.8  # a beat is at least this fraction of the median note
MAX_STRAY_FRACTION = 1 / 3  # more real notes than this off the beat: no steady rhythm
LATE_FRACTION = 0.75  # a note left out that starts this late in a free beat still takes it
REFINE_SPAN = 0.08  # the beat is searched within +-8% of the best onset interval ...
REFINE_STEP = 0.0025  # ... in steps of 0.25%


@dataclass(frozen=True)
class BeatGrid:
    """One entry per beat from the first heard beat to the last."""

    symbols: tuple[int | None, ...]  # None = nothing heard on that beat (an erasure)
    filled: tuple[bool, ...]  # True = symbol carried over from a note still sounding
    sources: tuple[HeardNote | None, ...]  # the heard note behind each beat's symbol
    period_samples: float
    first_beat_sample: float  # where the first beat starts (heard onsets lag a little)


def fit_beats(notes: list[HeardNote], tolerance: float) -> BeatGrid | None:
    """Place `notes` on the beat grid that fits their long notes; None when there is no grid.

    `tolerance`: how far (as a fraction of the beat period) a real note may start off its beat,
    on either side, is tolerance / 2.
    """
    if len(notes) < 3:
        return None
    onsets = np.array([n.start_sample for n in notes], dtype=np.float64)
    lengths = np.array([n.end_sample - n.start_sample for n in notes], dtype=np.float64)
    median_length = float(np.median(lengths))
    anchors = np.flatnonzero(lengths >= ANCHOR_FRACTION * median_length)
    if anchors.size < 3:
        return None
    min_period = MIN_BEAT_FRACTION * median_length
    fit = _fit_period(onsets[anchors], tolerance, min_period)
    if fit is None:
        return None
    start, period, beat, offset = _place(onsets, *fit)
    off_beat = np.abs(offset) > 0.5 * tolerance * period
    inliers = anchors[~off_beat[anchors]]
    if inliers.size >= 3 and inliers.size < anchors.size:  # refit without the outliers
        fit = _fit_period(onsets[inliers], tolerance, min_period)
        if fit is None:
            return None
        start, period, beat, offset = _place(onsets, *fit)
        off_beat = np.abs(offset) > 0.5 * tolerance * period
    strays = [int(i) for i in anchors[off_beat[anchors]] if not _continues(notes, i, period)]
    if len(strays) > MAX_STRAY_FRACTION * anchors.size:
        return None  # many real notes off the beat: no steady rhythm here
    anchors = anchors[~off_beat[anchors]]
    chosen: dict[int, int] = {}
    for i in sorted(anchors, key=lambda i: -lengths[i]):
        chosen.setdefault(int(beat[i]), int(i))  # two real notes on one beat: keep the longer
    # A real note off the beat (a room's ringing note delayed it, or a voice) takes its nearest
    # beat if no note on the beat holds it; then a short (weak, late) note does; where two short
    # notes share one, one that only continues the note before it (a ringing tail) yields.
    short = np.flatnonzero(lengths < ANCHOR_FRACTION * median_length)
    unplaced = strays + sorted(short, key=lambda i: _continues(notes, i, period))
    for i in unplaced:
        if abs(offset[i]) <= tolerance * period:
            chosen.setdefault(int(beat[i]), int(i))
    # A room delays onsets, most of all a re-attack of the note still ringing: a note left out
    # that starts late in a beat no note holds is that beat's note (a ringing tail is not).
    placed = set(chosen.values())
    for i in unplaced:
        own = int(np.floor((onsets[i] - start) / period))
        late = onsets[i] - start - own * period
        free = i not in placed and own not in chosen
        if free and late <= LATE_FRACTION * period and not _continues(notes, i, period):
            chosen[own] = int(i)
            placed.add(i)
    heard: dict[int, tuple[HeardNote, bool]] = {b: (notes[i], False) for b, i in chosen.items()}
    for b in sorted(chosen):
        note, nxt = notes[chosen[b]], b + 1
        while nxt not in chosen and note.end_sample >= start + nxt * period + SPAN_FRACTION * (
            median_length
        ):
            heard[nxt] = (note, True)  # still sounding a beat later: the same note played again
            nxt += 1
    beats = range(min(heard), max(heard) + 1)
    symbols = tuple(heard[b][0].symbol if b in heard else None for b in beats)
    filled = tuple(b in heard and heard[b][1] for b in beats)
    sources = tuple(heard[b][0] if b in heard else None for b in beats)
    return BeatGrid(symbols, filled, sources, period, start + beats.start * period)


def _place(
    onsets: np.ndarray, start: float, period: float
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(start, period, nearest beat of each onset, onset minus that beat's time)."""
    beat = np.rint((onsets - start) / period).astype(int)
    return start, period, beat, onsets - start - beat * period


def _continues(notes: list[HeardNote], i: int, period: float) -> bool:
    """Note i is the second part of a split note: same symbol, right after the previous one."""
    if i == 0:
        return False
    before, note = notes[i - 1], notes[i]
    gap = note.start_sample - before.end_sample
    return before.symbol == note.symbol and gap <= SPLIT_GAP_FRACTION * period


def _score(on_beat_slack: np.ndarray, empty_beats: float) -> float:
    """How well a beat fits onsets: each on-beat onset scores 1 less its slack (its distance
    from its beat over the tolerance), and each beat left empty between them costs 0.5 (so
    half the true period, which empties every other beat, loses)."""
    return float(np.sum(1.0 - on_beat_slack)) - 0.5 * empty_beats


def _fit_period(
    onsets: np.ndarray, tolerance: float, min_period: float
) -> tuple[float, float] | None:
    """Beat start and period (samples) for onsets that are (mostly) each on some beat.

    The period is an onset interval, or a half or a third of one (notes missing from beats);
    the candidate that puts the onsets closest to its beats wins (`_score`). A beat is never
    shorter than `min_period`.
    """
    intervals = np.diff(onsets)
    if intervals.size == 0 or np.median(intervals) <= 0:
        return None
    candidates = sorted({float(v) / k for v in intervals if v > 0 for k in (1, 2, 3)}, reverse=True)
    candidates = [c for c in candidates if c >= min_period]
    best: tuple[float, float] | None = None
    for guess in candidates:
        steps = np.rint(intervals / guess)
        slack = np.abs(intervals - steps * guess) / (0.5 * tolerance * guess)
        on_beat = (steps >= 1) & (slack <= 1.0)
        score = _score(slack[on_beat], float(np.sum(np.maximum(steps - 1, 0))))
        if best is None or score > best[0]:
            best = (score, guess)
    if best is None:
        return None
    guess = best[1]
    refined = _refine(onsets, guess, tolerance, min_period)
    if refined is not None:
        return refined
    beat = np.rint((onsets - onsets[0]) / guess)
    if len(np.unique(beat)) < 2:
        return None
    period, start = np.polyfit(beat, onsets, 1)
    if period <= 0:
        return None
    return float(start), float(period)


def _refine(
    onsets: np.ndarray, guess: float, tolerance: float, min_period: float
) -> tuple[float, float] | None:
    """Beat start and period near `guess` that put the onsets closest to their beats.

    An onset interval is only roughly the beat, and beats numbered from the first onset with it
    drift (4% off is half a beat over 13 notes), so that a split note's second part takes a beat
    and the melody's last notes fall off the grid. So every period within +-REFINE_SPAN of the
    guess is tried, each with the phase of the onsets' circular mean and scored as the guess
    was (`_score`); the line is then fitted through the on-beat onsets only.
    """
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for period in guess * np.arange(1 - REFINE_SPAN, 1 + REFINE_SPAN, REFINE_STEP):
        if period < min_period:
            continue
        phase = np.angle(np.mean(np.exp(2j * np.pi * onsets / period)))
        beat = np.rint((onsets - phase / (2 * np.pi) * period) / period)
        slack = np.abs(onsets - phase / (2 * np.pi) * period - beat * period) / (
            0.5 * tolerance * period
        )
        on_beat = slack <= 1.0
        used = np.unique(beat[on_beat])
        if used.size < 3:
            continue
        score = _score(slack[on_beat], float(used[-1] - used[0] + 1 - used.size))
        if best is None or score > best[0]:
            best = (score, beat, on_beat)
    if best is None:
        return None
    _, beat, on_beat = best
    period, start = np.polyfit(beat[on_beat], onsets[on_beat], 1)
    if period <= 0:
        return None
    return float(start), float(period)
