"""Rhythm: when each note of a melody sounds, in milliseconds; sample counts derive from it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rhythm:
    """Each note is a tone of `tone_ms` then a rest of `rest_ms` (so repeats sound twice)."""

    tone_ms: float = 160.0
    rest_ms: float = 40.0

    @property
    def note_ms(self) -> float:
        return self.tone_ms + self.rest_ms

    def duration_ms(self, n_notes: int) -> float:
        """Length of a melody of `n_notes` notes, the last rest included."""
        return n_notes * self.note_ms

    def onsets_ms(self, n_notes: int) -> list[float]:
        return [i * self.note_ms for i in range(n_notes)]


DEFAULT_RHYTHM = Rhythm()
