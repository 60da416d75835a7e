"""The note alphabet: which notes a melody may use, their names and their frequencies.

The alphabet is data: a tuple of note names in scientific pitch notation, tuned in equal
temperament from A4. Every other module takes an `Alphabet` instead of hard-coding notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from melodypair.shared.errors import AlphabetError

_NOTE_RE = re.compile(r"^([A-Ga-g])([#b]?)(-?\d)$")
_SEMITONE_OF = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTAL = {"": 0, "#": 1, "b": -1}

DEFAULT_NOTE_NAMES: tuple[str, ...] = (
    "C5", "D5", "E5", "F5", "G5", "A5", "B5",
    "C6", "D6", "E6", "F6", "G6", "A6", "B6",
    "C7", "D7",
)  # fmt: skip


def midi_number(name: str) -> int:
    """MIDI number of a note in scientific pitch notation ("A4" -> 69, "C5" -> 72, "F#3" -> 54)."""
    match = _NOTE_RE.match(name.strip())
    if not match:
        raise AlphabetError(
            f"'{name}' is not a note name; write notes like C5, F#6 or Bb4 "
            "(letter, optional # or b, octave number)"
        )
    letter, accidental, octave = match.groups()
    return 12 * (int(octave) + 1) + _SEMITONE_OF[letter.upper()] + _ACCIDENTAL[accidental]


def frequency_hz(name: str, a4_hz: float = 440.0) -> float:
    """Equal-temperament frequency of a named note."""
    return a4_hz * 2.0 ** ((midi_number(name) - 69) / 12.0)


@dataclass(frozen=True)
class Alphabet:
    """An ordered set of notes; a note's index is its symbol value in the melody code."""

    names: tuple[str, ...] = DEFAULT_NOTE_NAMES
    a4_hz: float = 440.0

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise AlphabetError("an alphabet needs at least two notes")
        midis = [midi_number(n) for n in self.names]
        if len(set(midis)) != len(midis):
            raise AlphabetError(f"the alphabet repeats a pitch: {' '.join(self.names)}")
        if not 400.0 <= self.a4_hz <= 480.0:
            raise AlphabetError(f"A4 = {self.a4_hz} Hz is not a plausible tuning (400-480 Hz)")

    def __len__(self) -> int:
        return len(self.names)

    @property
    def frequencies_hz(self) -> tuple[float, ...]:
        return tuple(frequency_hz(n, self.a4_hz) for n in self.names)

    def index(self, name: str) -> int:
        """Symbol value of a note name; accepts the same pitch in another spelling (C#5 = Db5)."""
        midi = midi_number(name)
        for i, known in enumerate(self.names):
            if midi_number(known) == midi:
                return i
        raise AlphabetError(
            f"note {name} is not in the alphabet ({self.names[0]} to {self.names[-1]}: "
            f"{' '.join(self.names)})"
        )

    def parse(self, text: str | list[str] | tuple[str, ...]) -> list[int]:
        """Symbol values of a melody written as note names ("C5 E5 G5", commas allowed)."""
        tokens = text if isinstance(text, list | tuple) else re.split(r"[\s,]+", text.strip())
        tokens = [t for t in tokens if t]
        if not tokens:
            raise AlphabetError('no notes given; write a melody like "C5 E5 G5"')
        return [self.index(t) for t in tokens]

    def format(self, symbols: list[int] | tuple[int, ...]) -> str:
        """Note names of symbol values, space separated."""
        return " ".join(self.names[s] for s in symbols)


DEFAULT_ALPHABET = Alphabet()
