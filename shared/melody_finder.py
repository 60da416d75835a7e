"""Heard notes -> pairing melodies: find runs of notes in the pairing rhythm that the melody code
accepts.

Notes are grouped while the gaps between them stay short. A run of exactly the code's length whose
notes form a codeword is reported at once (the fast path: no correction, so a random run passes
with probability 16^-3); a run that needs correction is reported only once its group has ended,
so a longer sequence of notes cannot be cut into a wrongly corrected melody.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melodypair.shared.melody_code import DecodeResult, MelodyCode


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


class MelodyFinder:
    """Streaming: process(notes, decided_until_sample) -> melodies found (process/reset)."""

    def __init__(self, code: MelodyCode, params: FinderParams = FinderParams()):
        self.code = code
        self.params = params
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
        for i in range(len(group) - n + 2):
            if best is not None:
                break
            best = self._with_erasure(group[i : i + n - 1])
        return [best] if best else []

    def _with_erasure(self, run: list[HeardNote]) -> FoundMelody | None:
        """A run one note short whose rhythm shows where the note went missing (one onset
        interval twice as long as the others: an unheard note, or two equal notes heard as one):
        decode with that position erased."""
        onsets = np.array([h.start_sample for h in run], dtype=np.float64)
        intervals = np.diff(onsets)
        if intervals.size < 2:
            return None
        median = float(np.median(intervals))
        tol = self.params.rhythm_tolerance
        double = np.abs(intervals - 2 * median) <= tol * median
        regular = np.abs(intervals - median) <= tol * median
        if median <= 0 or double.sum() != 1 or not np.all(double | regular):
            return None
        gap = int(np.flatnonzero(double)[0]) + 1
        symbols = [h.symbol for h in run]
        symbols.insert(gap, 0)
        result = self.code.decode(symbols, erasures=(gap,))
        return FoundMelody(tuple(run), result) if result.valid else None

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
