"""Heard notes -> pairing melodies: find runs of notes in the pairing rhythm that the melody code
accepts.

Notes are grouped while the gaps between them stay short. A run of exactly the code's length whose
notes form a codeword is reported at once (the fast path: no correction, so a random run passes
with probability 16^-3); a run that needs correction is reported only once its group has ended,
so a longer sequence of notes cannot be cut into a wrongly corrected melody.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from melodypair.shared.melody_code import DecodeResult, MelodyCode
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

    max_gap_ms: float = 450.0  # a longer silence ends a group
    rhythm_tolerance: float = 0.5  # each onset interval within +-50% of the run's median


GUESS_SPAN_FRACTION = 0.8  # a beat's note sounds in its first 80% (the rest is the rest)


class MelodyFinder:
    """Streaming: process(notes, decided_until_sample) -> melodies found (process/reset)."""

    def __init__(
        self,
        code: MelodyCode,
        params: FinderParams = FinderParams(),
        guess: Callable[[float, float], int | None] | None = None,
    ):
        """`guess(start_sample, end_sample)`: the note most likely played in that span, or None
        (e.g. PosteriorHistory.best_note); without it, beats with no note are erasures."""
        self.code = code
        self.params = params
        self.guess = guess
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
        if self._group and self._gap_ms(self._group[-1].end_sample, decided_until_sample) > (
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
        group, self._group = self._group, []
        n = self.code.params.total_notes
        best: FoundMelody | None = None
        for i in range(len(group) - n + 1):
            run = group[i : i + n]
            if not self._rhythmic(run):
                continue
            result = self.code.decode([h.symbol for h in run])
            if result.valid and (best is None or result.corrected < best.result.corrected):
                best = FoundMelody(tuple(run), result)
        for found in self._on_beats(group):
            if best is None or found.result.corrected < best.result.corrected:
                best = found
        return [best] if best else []

    def _on_beats(self, group: list[HeardNote]) -> list[FoundMelody]:
        """Melodies read one symbol per beat (see rhythm_grid): split notes count once, a note
        lasting into the next beat repeats, and a beat with no note gets the model's best guess
        (`guess`) or is left an erasure; each reading the code rejects falls back to the next."""
        grid = fit_beats(group, self.params.rhythm_tolerance)
        if grid is None:
            return []
        grid = self._with_guesses(grid)
        n = self.code.params.total_notes
        out = []
        for i in range(len(grid.symbols) - n + 1):
            symbols = grid.symbols[i : i + n]
            guessed = grid.guessed[i : i + n]
            if guessed[0] is None or guessed[-1] is None:
                continue  # nothing says a melody starts or ends on an empty beat
            filled = tuple(j for j in range(n) if grid.filled[i + j])
            erased = tuple(j for j in range(n) if symbols[j] is None)
            unguessed = tuple(j for j in range(n) if guessed[j] is None)
            readings = [(guessed, unguessed), (symbols, erased)]
            if filled:
                readings.append((symbols, tuple(sorted(erased + filled))))
            notes = tuple(dict.fromkeys(s for s in grid.sources[i : i + n] if s is not None))
            for reading, erasures in dict.fromkeys(readings):
                if len(erasures) >= self.code.params.check_notes:
                    continue
                result = self.code.decode([s or 0 for s in reading], erasures=erasures)
                if result.valid:
                    out.append(FoundMelody(notes, result))
                    break
        return out

    def _with_guesses(self, grid: BeatGrid) -> BeatGrid:
        """The grid with the model's guess on each empty beat, plus one beat more at either end
        where the model heard a note that the smoother dropped."""
        if self.guess is None:
            return replace(grid, guessed=grid.symbols)
        span = GUESS_SPAN_FRACTION * grid.period_samples

        def guess(beat: int) -> int | None:
            start = grid.first_beat_sample + beat * grid.period_samples
            return self.guess(start, start + span)

        before, after = guess(-1), guess(len(grid.symbols))
        front, back = (() if before is None else (before,)), (() if after is None else (after,))
        guessed = tuple(guess(b) if s is None else s for b, s in enumerate(grid.symbols))
        return BeatGrid(
            symbols=(None,) * len(front) + grid.symbols + (None,) * len(back),
            filled=(False,) * len(front) + grid.filled + (False,) * len(back),
            sources=(None,) * len(front) + grid.sources + (None,) * len(back),
            period_samples=grid.period_samples,
            first_beat_sample=grid.first_beat_sample - len(front) * grid.period_samples,
            guessed=front + guessed + back,
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
