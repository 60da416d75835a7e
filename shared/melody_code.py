"""The melody code: random secret bits <-> notes, with Reed-Solomon check notes.

Each note is one symbol of GF(2^k) where 2^k is the alphabet size (16 notes -> 4 bits a note).
A melody is `data notes + check notes`. With c check notes the code's minimum distance is c + 1;
the decoder corrects up to t = (c - 1) // 2 wrong notes and *guarantees* to reject any pattern of
up to c - t wrong notes instead of silently mis-correcting it.

Why 3 check notes by default (not 2): with 2 the minimum distance is 3, which can correct one
error *or* detect two, not both; measured with reedsolo, 66% of two-wrong-note melodies were
"corrected" into a different valid melody, and 70% of random note strings would pass as valid.
With 3 (distance 4) one wrong note is always corrected, two are always detected, and only
181/4096 (4.4%) of random 13-note strings are accepted. 13 notes x 230 ms = 2.99 s.

The check notes are offset by fixed values (`check_offsets`), so that the melodies are a coset
of the Reed-Solomon code, as CRC-32's final XOR makes its checksums. Reed-Solomon codes are
cyclic: without the offsets, a melody that starts with C5 (symbol 0), read one beat late with a
C5 after it (its last note ringing on, say), is another melody heard exactly, and so is one that
ends with C5 read one beat early after a C5. The melody finder reads windows of beats, and in
`make eval` it took such shifted melodies over the one played. With the offsets no melody read
one beat off is a melody as it stands.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import reedsolo

from melodypair.shared.alphabet import DEFAULT_ALPHABET, Alphabet
from melodypair.shared.errors import MelodypairError

# Primitive polynomials of GF(2^k), pinned so the code never changes with a library default.
_PRIMITIVE_POLY = {1: 0x3, 2: 0x7, 3: 0xB, 4: 0x13, 5: 0x25, 6: 0x43, 7: 0x89, 8: 0x11D}


@dataclass(frozen=True)
class CodeParams:
    """Shape of a pairing melody: how many secret data notes and how many check notes."""

    data_notes: int = 10
    check_notes: int = 3

    def __post_init__(self) -> None:
        if self.data_notes < 1 or self.check_notes < 0:
            raise MelodypairError("a melody needs at least one data note and no negative checks")

    @property
    def total_notes(self) -> int:
        return self.data_notes + self.check_notes

    @property
    def correctable(self) -> int:
        """Wrong notes the decoder corrects."""
        return (self.check_notes - 1) // 2 if self.check_notes else 0

    @property
    def detectable(self) -> int:
        """Wrong notes the decoder is guaranteed to reject rather than mis-correct."""
        return self.check_notes - self.correctable


@dataclass(frozen=True)
class Melody:
    """A pairing melody: its secret, the data symbols that carry it and the full note sequence."""

    secret: int
    data: tuple[int, ...]
    notes: tuple[int, ...]
    alphabet: Alphabet

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.alphabet.names[s] for s in self.notes)

    @property
    def entropy_bits(self) -> int:
        return len(self.data) * bits_per_note(self.alphabet)


@dataclass(frozen=True)
class DecodeResult:
    """What the decoder made of a note sequence.

    `valid` is False for "not a valid melody"; then `reason` says why and `melody` is None.
    """

    valid: bool
    melody: Melody | None
    corrected: int
    corrected_positions: tuple[int, ...]
    reason: str = ""


def bits_per_note(alphabet: Alphabet) -> int:
    """Bits one note carries; the alphabet size must be a power of two (GF(2^k) symbols)."""
    size = len(alphabet)
    k = size.bit_length() - 1
    if size != 1 << k or k not in _PRIMITIVE_POLY:
        raise MelodypairError(
            f"the melody code needs an alphabet of 2, 4, ..., 256 notes; this one has {size}"
        )
    return k


class MelodyCode:
    """Encoder and decoder of pairing melodies for one alphabet and one code shape."""

    def __init__(self, alphabet: Alphabet = DEFAULT_ALPHABET, params: CodeParams | None = None):
        self.alphabet = alphabet
        self.params = params or CodeParams()
        self.bits = bits_per_note(alphabet)
        max_len = (1 << self.bits) - 1
        if self.params.total_notes > max_len:
            raise MelodypairError(
                f"a {len(alphabet)}-note alphabet allows melodies of at most {max_len} notes; "
                f"{self.params.data_notes} data + {self.params.check_notes} check notes is too many"
            )
        self._codec = (
            reedsolo.RSCodec(
                nsym=self.params.check_notes,
                nsize=max_len,
                c_exp=self.bits,
                prim=_PRIMITIVE_POLY[self.bits],
            )
            if self.params.check_notes
            else None
        )
        self.check_offsets = check_offsets(self.params.check_notes, len(alphabet))

    @property
    def secret_bits(self) -> int:
        return self.params.data_notes * self.bits

    def new(self) -> Melody:
        """A fresh melody whose secret comes from the operating system's CSPRNG."""
        return self.encode(secrets.randbits(self.secret_bits))

    def encode(self, secret: int) -> Melody:
        """The melody that carries `secret` (an integer of `secret_bits` bits)."""
        if not 0 <= secret < (1 << self.secret_bits):
            raise MelodypairError(f"a secret must fit in {self.secret_bits} bits")
        mask = (1 << self.bits) - 1
        n = self.params.data_notes
        data = tuple((secret >> (self.bits * (n - 1 - i))) & mask for i in range(n))
        notes = self._offset(tuple(self._codec.encode(bytearray(data)))) if self._codec else data
        return Melody(secret=secret, data=data, notes=notes, alphabet=self.alphabet)

    def decode(
        self, notes: list[int] | tuple[int, ...], erasures: tuple[int, ...] = ()
    ) -> DecodeResult:
        """Correct what the code can and return the melody, or say why it is not a valid one.

        `erasures` are positions known to be unheard (their value in `notes` is ignored), e.g. a
        note missing where the rhythm has a gap. With erasures nothing else may be wrong: the
        check notes they leave over are kept for detection, so a random note string passes
        with probability 16^-(check notes - erasures), never as easily as a correction.
        """
        expected = self.params.total_notes
        if len(notes) != expected:
            return _invalid(f"a pairing melody has {expected} notes, this one has {len(notes)}")
        if any(not 0 <= s < len(self.alphabet) for s in notes):
            return _invalid("a note is outside the alphabet")
        if len(erasures) >= max(self.params.check_notes, 1):
            return _invalid("not a valid melody: too many missing notes")
        invalid = f"not a valid melody: more than {self.params.correctable} wrong note(s)"
        if self._codec is None:
            data, positions = tuple(notes), ()
        else:
            try:
                decoded, _, errata = self._codec.decode(
                    bytearray(self._offset(tuple(notes))), erase_pos=list(erasures) or None
                )
            except reedsolo.ReedSolomonError:
                return _invalid(invalid)
            data, positions = tuple(decoded), tuple(sorted(errata))
            limit = len(erasures) if erasures else self.params.correctable
            if len(positions) > limit:
                return _invalid(invalid)
        secret = 0
        for s in data:
            secret = (secret << self.bits) | s
        melody = self.encode(secret)
        return DecodeResult(True, melody, len(positions), positions)

    def _offset(self, notes: tuple[int, ...]) -> tuple[int, ...]:
        """Codeword <-> melody: the check notes plus (GF addition: xor) their offsets; its own
        inverse."""
        n = self.params.data_notes
        return notes[:n] + tuple(s ^ o for s, o in zip(notes[n:], self.check_offsets, strict=True))

    def decode_names(self, text: str | list[str]) -> DecodeResult:
        """`decode` for a melody written as note names."""
        return self.decode(self.alphabet.parse(text))


def check_offsets(check_notes: int, alphabet_size: int) -> tuple[int, ...]:
    """What is added (GF addition: xor) to each check note: 1, 2, 3, ... (cycling through the
    nonzero symbols).

    A melody read one beat late with note x after it is its codeword shifted (itself a codeword
    when the note shifted out is 0) plus the offsets' steps at the last positions: o[0],
    o[0] ^ o[1], o[1] ^ o[2], ..., and x ^ o[-1]. The steps are nonzero, so it is not that
    codeword; that it is no other melody either was checked for every note shifted out and
    every x, and likewise one beat early (tests/test_melody_code.py).
    """
    return tuple(1 + i % (alphabet_size - 1) for i in range(check_notes))


def _invalid(reason: str) -> DecodeResult:
    return DecodeResult(False, None, 0, (), reason)
