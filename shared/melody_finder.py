"""Heard notes -> pairing melodies: find runs of notes in the pairing rhythm that the melody code
accepts.

Notes are grouped while the gaps between them stay short. A run of exactly the code's length whose
notes form a codeword is reported at once (the fast path: no correction, so a random run passes
with probability 16^-3). A group that ended is searched for such a run too, and read beat by beat
(rhythm_grid), with the model's own reading of each beat where a `BeatListener` is given, so that
split, merged and unheard notes do not cost the melody. Only a melody read on the beats may be
corrected or have notes filled in, and only where its notes start on their beats
(MAX_CORRECTED_SPREAD): notes that keep the rhythm loosely are music or voices as often as the
melody, and the code would make some other melody of them. A melody read on the beats counts as
heard note for note only if every beat's note was heard: the smoother's note on the beat, or one
the model named there itself (not one carried over from the beat before, whose re-attack nobody
heard).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from melodypair.shared.melody_code import DecodeResult, MelodyCode
from melodypair.shared.rhythm import DEFAULT_RHYTHM
from melodypair.shared.rhythm_grid import BeatGrid, fit_beats


@dataclass(frozen=True)
class HeardNote:
    """A note the decoder heard: alphabet symbol and name, time span in samples, confidence."""

    symbol: int
    name: str
    start_sample: int
    end_sample: int
    confidence: float
    sample_rate_hz: int

    @property
    def start_ms(self) -> float:
        return 1000.0 * self.start_sample / self.sample_rate_hz

    @property
    def end_ms(self) -> float:
        return 1000.0 * self.end_sample / self.sample_rate_hz

    def to_dict(self) -> dict:
        return {
            "note": self.name,
            "start_ms": round(self.start_ms, 1),
            "end_ms": round(self.end_ms, 1),
            "confidence": round(self.confidence, 3),
        }


@dataclass(frozen=True)
class FoundMelody:
    """A pairing melody found in the stream: the notes heard and what the code made of them."""

    notes: tuple[HeardNote, ...]
    result: DecodeResult

    @property
    def end_sample(self) -> int:
        return self.notes[-1].end_sample


@dataclass(frozen=True)
class FinderParams:
    """How notes are grouped and what counts as the pairing rhythm."""

    # A longer silence ends a group. Two notes missed in a row leave two beats and a rest
    # (530 ms); at 450 ms they cut the melody in two, and it was lost. `make eval` sweep,
    # learned recognizer only: 600 ms paired 1747 of 2016 noisy trials (450: 1732; 15 more, none
    # fewer), wrong melodies 63 of 4032 device decodes (58); with the check-note offsets
    # (melody_code), 1734 against 1717, wrong melodies 68 against 61.
    max_gap_ms: float = 600.0
    rhythm_tolerance: float = 0.5  # each onset interval within +-50% of the run's median


class BeatListener(Protocol):
    """What the model heard in a span of the stream (PosteriorHistory is one)."""

    def reading(self, start_sample: float, end_sample: float) -> tuple[int | None, float]:
        """The note the model heard most in the span (or None), and its margin."""
        ...

    def heard(self, note: int, start_sample: float, end_sample: float) -> float | None:
        """The model's confidence in `note` there if it named that note itself, else None."""
        ...


@dataclass(frozen=True)
class _Beats:
    """Per beat of a group: the notes' symbol (None = no note), whether it was carried over
    from a note still sounding, the note behind it, and the model's own reading and margin;
    beat b starts at first_beat_sample + b * period_samples."""

    symbols: tuple[int | None, ...]
    filled: tuple[bool, ...]
    sources: tuple[HeardNote | None, ...]
    model: tuple[int | None, ...]
    margin: tuple[float, ...]
    first_beat_sample: float
    period_samples: float

    def start_sample(self, beat: int) -> float:
        """Where beat `beat` starts."""
        return self.first_beat_sample + beat * self.period_samples

    def onset_spread(self, window: slice) -> float:
        """How far the notes in `window` start from their beats: the mean distance, as a
        fraction of the beat (0 when no note starts in the window)."""
        offsets = [
            abs(note.start_sample - self.start_sample(b))
            for b, note, filled in zip(
                range(len(self.sources))[window],
                self.sources[window],
                self.filled[window],
                strict=True,
            )
            if note is not None and not filled
        ]
        return float(np.mean(offsets)) / self.period_samples if offsets else 0.0

    @property
    def heard(self) -> tuple[int | None, ...]:
        """The notes, and the model's reading where there is no note."""
        return tuple(m if s is None else s for s, m in zip(self.symbols, self.model, strict=True))

    def readings(self, window: slice) -> list[tuple[tuple[int | None, ...], tuple[int, ...]]]:
        """(symbols, erased positions) to try in order, for the beats in `window`."""

        def unread(symbols) -> tuple[int, ...]:
            return tuple(j for j, s in enumerate(symbols) if s is None)

        notes, heard, model = self.symbols[window], self.heard[window], self.model[window]
        filled = tuple(j for j, f in enumerate(self.filled[window]) if f)
        out = [(heard, unread(heard)), (notes, unread(notes))]
        if filled:
            out.append((notes, tuple(sorted(unread(notes) + filled))))
        if any(s is not None for s in model):
            margin = self.margin[window]
            unsure = sorted(
                (j for j, s in enumerate(model) if s is not None), key=margin.__getitem__
            )
            for k in (0, 1, 2):
                out.append((model, tuple(sorted(unread(model) + tuple(unsure[:k])))))
        return list(dict.fromkeys(out))


# a beat's note sounds in its first part (the rest is the rest)
GUESS_SPAN_FRACTION = DEFAULT_RHYTHM.tone_ms / DEFAULT_RHYTHM.note_ms
# A melody's notes start on their beats (a room delays them all alike, and the grid absorbs
# that); notes that start on average further off than this are something else that the grid
# happened to fit (music, a voice), and the code may not correct or fill them into a melody.
# Melodies with two beats filled in (the code's last check note left to test them) were right
# 29 times and wrong 28 (24 in music) in a learned-only `make eval` sweep (2016 noisy trials,
# 4032 decodes). A tighter limit for them does not pay: at 0.06 it drops 27 wrong and 11 right
# ones, which loses 7 pairings; a wrong melody dropped only ends in nothing heard instead of a
# failed attempt (shared/attempts.py) in a trial that did not pair anyway.
MAX_CORRECTED_SPREAD = 0.12


class MelodyFinder:
    """Streaming: process(notes, decided_until_sample) -> melodies found (process/reset)."""

    def __init__(
        self,
        code: MelodyCode,
        params: FinderParams = FinderParams(),
        listener: BeatListener | None = None,
    ):
        """`listener`: what the model heard on a beat; without it, beats with no note are
        erasures and only the smoother's notes count as heard."""
        self.code = code
        self.params = params
        self.listener = listener
        self.reset()

    def reset(self) -> None:
        self._group: list[HeardNote] = []
        self._skip_onset: int | None = None  # a sounding note already used by the fast path

    def process(
        self,
        notes: list[HeardNote],
        decided_until_sample: int,
        sounding: HeardNote | None = None,
    ) -> list[FoundMelody]:
        """Add newly heard notes; `decided_until_sample` = how far the decoder has decided;
        `sounding` = a note whose onset is decided but whose end is not (it may complete an
        exact melody already; it comes again in `notes` once it has ended)."""
        found: list[FoundMelody] = []
        for note in notes:
            if self._skip_onset == note.start_sample:
                self._skip_onset = None  # already used, while it was sounding
                continue
            if self._group and self._gap_ms(self._group[-1].end_sample, note.start_sample) > (
                self.params.max_gap_ms
            ):
                found.extend(self._close_group())
            self._group.append(note)
            fast = self._fast_path()
            if fast:
                found.append(fast)
        if sounding is not None and self._skip_onset != sounding.start_sample:
            fast = self._fast_path(sounding)
            if fast:
                self._skip_onset = sounding.start_sample
                found.append(fast)
        # A note already sounding decides whether the group goes on, however long it lasts.
        until = sounding.start_sample if sounding is not None else decided_until_sample
        if self._group and self._gap_ms(self._group[-1].end_sample, until) > (
            self.params.max_gap_ms
        ):
            found.extend(self._close_group())
        return found

    def flush(self) -> list[FoundMelody]:
        """End of stream: judge the last group."""
        return self._close_group()

    def _gap_ms(self, a_sample: int, b_sample: int) -> float:
        rate = self._group[-1].sample_rate_hz if self._group else 16000
        return 1000.0 * (b_sample - a_sample) / rate

    def _fast_path(self, sounding: HeardNote | None = None) -> FoundMelody | None:
        n = self.code.params.total_notes
        candidates = self._group + ([sounding] if sounding else [])
        if len(candidates) < n:
            return None
        if (
            sounding
            and self._group
            and self._gap_ms(self._group[-1].end_sample, sounding.start_sample)
            > self.params.max_gap_ms
        ):
            return None
        run = candidates[-n:]
        if not self._rhythmic(run):
            return None
        result = self.code.decode([h.symbol for h in run])
        if result.valid and result.corrected == 0:
            self._group = []
            return FoundMelody(tuple(run), result)
        return None

    def _close_group(self) -> list[FoundMelody]:
        """The group's melody: a run of its notes that is one as heard, else the one read on its
        beats with the fewest corrections, of those the one whose notes start closest to their
        beats (a window shifted against the melody can need as few corrections). A run is never
        corrected: in `make eval` (two seeds) the beats found every played melody that a
        corrected run found, and none of the 26 that only a corrected run found had been
        played."""
        group, self._group = self._group, []
        n = self.code.params.total_notes
        best: FoundMelody | None = None
        for i in range(len(group) - n + 1):
            run = group[i : i + n]
            if not self._rhythmic(run):
                continue
            result = self.code.decode([h.symbol for h in run])
            if result.valid and result.corrected == 0:
                best = FoundMelody(tuple(run), result)
                break
        on_beats = self._on_beats(group)
        if on_beats:
            found, _ = min(on_beats, key=lambda fs: (fs[0].result.corrected, fs[1]))
            if best is None or found.result.corrected < best.result.corrected:
                best = found
        return [best] if best else []

    def _on_beats(self, group: list[HeardNote]) -> list[tuple[FoundMelody, float]]:
        """Melodies read one symbol per beat (see rhythm_grid): split notes count once, a note
        lasting into the next beat repeats, a beat with no note gets the model's reading or is
        left an erasure. Readings, in order: the notes (+ model on empty beats); the notes with
        erasures; the model alone on every beat, then with its one or two least sure beats
        erased. The first the code accepts gives the melody, unless a later one is accepted
        with nothing corrected and every beat's note heard (`_heard_notes`). Where the window's
        notes start further off their beats than MAX_CORRECTED_SPREAD, only a reading that is a
        melody as it stands counts. Each melody comes with its window's onset spread."""
        grid = fit_beats(group, self.params.rhythm_tolerance)
        if grid is None:
            return []
        beats = self._listen_to(grid)
        n = self.code.params.total_notes
        out = []
        for i in range(len(beats.heard) - n + 1):
            window = slice(i, i + n)
            if beats.heard[i] is None or beats.heard[i + n - 1] is None:
                continue  # nothing says a melody starts or ends on an empty beat
            notes = tuple(dict.fromkeys(s for s in beats.sources[window] if s is not None))
            if not notes:
                continue  # a melody needs at least one note the smoother heard
            found: FoundMelody | None = None
            spread = beats.onset_spread(window)
            steady = spread <= MAX_CORRECTED_SPREAD
            for reading, erasures in beats.readings(window):
                if len(erasures) >= self.code.params.check_notes or (erasures and not steady):
                    continue
                result = self.code.decode([s or 0 for s in reading], erasures=erasures)
                if not result.valid or (result.corrected and not steady):
                    continue
                heard = None
                if not erasures and result.corrected == 0:
                    heard = self._heard_notes(beats, i, reading, notes[0].sample_rate_hz)
                if heard is not None:
                    found = FoundMelody(heard, result)
                    break
                found = found or FoundMelody(notes, result)
            if found is not None:
                out.append((found, spread))
        return out

    def _heard_notes(
        self, beats: _Beats, first: int, reading: tuple[int | None, ...], rate_hz: int
    ) -> tuple[HeardNote, ...] | None:
        """One note per beat from beat `first` on, each as `reading` has it: the smoother's
        note on the beat, else the note the model named itself in the beat's tone span. None
        when a beat's note was not heard: a beat carried over from a note still sounding (its
        re-attack was not heard), or one the model never named."""
        out = []
        for j, symbol in enumerate(reading, start=first):
            source = beats.sources[j]
            if beats.filled[j] or symbol is None:
                return None
            if source is not None and source.symbol == symbol:
                out.append(source)
                continue
            start = max(0.0, beats.start_sample(j))
            end = start + GUESS_SPAN_FRACTION * beats.period_samples
            confidence = self.listener.heard(symbol, start, end) if self.listener else None
            if confidence is None:
                return None
            name = self.code.alphabet.names[symbol]
            out.append(HeardNote(symbol, name, round(start), round(end), confidence, rate_hz))
        return tuple(out)

    def _listen_to(self, grid: BeatGrid) -> _Beats:
        """The grid's beats with what the model heard on each, plus one beat more at either
        end where the model heard a note that the smoother dropped."""
        size = len(grid.symbols)
        period = grid.period_samples
        span = GUESS_SPAN_FRACTION * period
        model: list[tuple[int | None, float]] = [(None, 0.0)] * (size + 2)
        if self.listener is not None:
            for b in range(-1, size + 1):
                start = grid.first_beat_sample + b * period
                model[b + 1] = self.listener.reading(start, start + span)
        keep = slice(0 if model[0][0] is not None else 1, size + 1 + (model[-1][0] is not None))
        front, back = 1 - keep.start, keep.stop - size - 1
        return _Beats(
            symbols=(None,) * front + grid.symbols + (None,) * back,
            filled=(False,) * front + grid.filled + (False,) * back,
            sources=(None,) * front + grid.sources + (None,) * back,
            model=tuple(m[0] for m in model[keep]),
            margin=tuple(m[1] for m in model[keep]),
            first_beat_sample=grid.first_beat_sample - front * period,
            period_samples=period,
        )

    def _rhythmic(self, run: list[HeardNote]) -> bool:
        onsets = np.array([h.start_sample for h in run], dtype=np.float64)
        intervals = np.diff(onsets)
        if intervals.size == 0:
            return True
        median = float(np.median(intervals))
        if median <= 0:
            return False
        tol = self.params.rhythm_tolerance
        return bool(np.all(np.abs(intervals - median) <= tol * median))


def find_melodies(notes: list[HeardNote], code: MelodyCode) -> list[FoundMelody]:
    """Every melody in a finished list of notes (a whole recording, no posteriors)."""
    finder = MelodyFinder(code)
    return finder.process(notes, decided_until_sample=0) + finder.flush()


def best_melody(found: list[FoundMelody]) -> FoundMelody | None:
    """The found melody that needed the fewest corrections, or None."""
    return min(found, key=lambda m: m.result.corrected) if found else None
