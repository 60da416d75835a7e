"""The melody code: secrets <-> notes, correction of one wrong note, detection of two."""

import itertools

import pytest
import reedsolo
from hypothesis import given, settings
from hypothesis import strategies as st

from melodypair.shared.alphabet import Alphabet
from melodypair.shared.errors import MelodypairError
from melodypair.shared.melody_code import CodeParams, MelodyCode
from melodypair.shared.rhythm import DEFAULT_RHYTHM

CODE = MelodyCode()
SECRETS = st.integers(min_value=0, max_value=(1 << 40) - 1)


def test_default_shape():
    assert CODE.secret_bits == 40
    assert CODE.params.total_notes == 13
    assert CODE.params.correctable == 1
    assert CODE.params.detectable == 2
    assert DEFAULT_RHYTHM.duration_ms(CODE.params.total_notes) <= 3000


def test_new_melodies_are_fresh_and_decode():
    melodies = [CODE.new() for _ in range(50)]
    assert len({m.secret for m in melodies}) == 50
    for m in melodies:
        result = CODE.decode(list(m.notes))
        assert result.valid and result.corrected == 0
        assert result.melody.secret == m.secret
        assert m.notes[: len(m.data)] == m.data  # systematic: data notes come first


def _gf16_mul(a: int, b: int) -> int:
    """GF(16) product modulo x^4 + x + 1, written independently of reedsolo."""
    product = 0
    while b:
        if b & 1:
            product ^= a
        b >>= 1
        a <<= 1
        if a & 0x10:
            a ^= 0x13
    return product


def _syndromes(notes) -> list[int]:
    """c(alpha^j) for j = 0, 1, 2 (alpha = 2, first consecutive root 0) of the codeword under
    a melody (its check notes less the offsets 1, 2, 3): all zero for a melody."""
    notes = (*notes[:10], notes[10] ^ 1, notes[11] ^ 2, notes[12] ^ 3)
    out = []
    for j in range(3):
        root = 1
        for _ in range(j):
            root = _gf16_mul(root, 2)
        value = 0
        for symbol in notes:  # Horner, highest-degree coefficient first
            value = _gf16_mul(value, root) ^ symbol
        out.append(value)
    return out


@pytest.mark.parametrize(
    ("secret", "notes"),
    [
        (0x0123456789, (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 2, 0)),
        (0xFEDCBA9876, (15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 3, 13, 15)),
    ],
)
def test_known_answers_are_pinned_and_are_codewords(secret, notes):
    """The code must never change silently: a melody heard by an old device decodes on a new one.
    (Changed once on purpose, when the check notes got their offsets: 2, 0, 3 and 2, 15, 12
    before.)"""
    assert CODE.encode(secret).notes == notes
    assert _syndromes(notes) == [0, 0, 0]
    assert _syndromes((notes[0] ^ 1, *notes[1:])) != [0, 0, 0]


@given(SECRETS)
def test_every_encoding_is_a_codeword_by_independent_arithmetic(secret):
    assert _syndromes(CODE.encode(secret).notes) == [0, 0, 0]


@given(SECRETS)
def test_encode_decode_round_trip(secret):
    melody = CODE.encode(secret)
    assert all(0 <= s < 16 for s in melody.notes)
    result = CODE.decode(melody.notes)
    assert result.valid and result.melody.secret == secret and result.corrected == 0


@given(SECRETS, st.integers(0, 12), st.integers(1, 15))
def test_any_single_wrong_note_is_corrected(secret, position, delta):
    notes = list(CODE.encode(secret).notes)
    notes[position] ^= delta
    result = CODE.decode(notes)
    assert result.valid
    assert result.melody.secret == secret
    assert result.corrected == 1
    assert result.corrected_positions == (position,)


@settings(max_examples=500)
@given(
    SECRETS,
    st.lists(st.integers(0, 12), min_size=2, max_size=2, unique=True),
    st.integers(1, 15),
    st.integers(1, 15),
)
def test_any_two_wrong_notes_are_detected_never_miscorrected(secret, positions, d1, d2):
    notes = list(CODE.encode(secret).notes)
    notes[positions[0]] ^= d1
    notes[positions[1]] ^= d2
    result = CODE.decode(notes)
    assert not result.valid
    assert result.melody is None
    assert "not a valid melody" in result.reason


def test_every_two_error_position_pair_is_detected():
    """Exhaustive over positions (a fixed secret and error values) as a complement to hypothesis."""
    base = CODE.encode(0xA5A5A5A5A5).notes
    for i, j in itertools.combinations(range(13), 2):
        for d1, d2 in [(1, 1), (15, 3), (8, 9)]:
            notes = list(base)
            notes[i] ^= d1
            notes[j] ^= d2
            assert not CODE.decode(notes).valid, (i, j, d1, d2)


def test_no_melody_read_one_beat_off_is_a_melody_as_it_stands():
    """Reed-Solomon codes are cyclic: without the check-note offsets, a melody that starts with
    C5 read one beat late with a C5 after it (its last note ringing on) was another melody heard
    exactly, and one that ends with C5 read a beat early after a C5 too. Whether a window one
    beat off decodes, and how, depends only on the note shifted out and the note shifted in
    (the code is linear, and the rest is a shifted codeword), so trying every pair of them, on
    any melody, covers every melody."""
    melodies = [CODE.encode(secret) for secret in range(0, 1 << 40, (1 << 40) // 4099)]
    first = {m.notes[0]: m.notes for m in melodies}
    last = {m.notes[-1]: m.notes for m in melodies}
    assert len(first) == len(last) == 16
    for neighbour in range(16):
        for window in [(*notes[1:], neighbour) for notes in first.values()] + [
            (neighbour, *notes[:-1]) for notes in last.values()
        ]:
            result = CODE.decode(window)
            assert not (result.valid and result.corrected == 0), window
    starts_with_c5 = first[0]
    raw = reedsolo.RSCodec(nsym=3, nsize=15, c_exp=4, prim=0x13)  # the code without offsets
    codeword = tuple(raw.encode(bytearray(starts_with_c5[:10])))
    assert raw.check(bytearray((*codeword[1:], 0)))[0]  # what the offsets are for


@settings(max_examples=300)
@given(st.lists(st.integers(0, 15), min_size=13, max_size=13))
def test_decoding_random_notes_never_crashes_and_valid_means_close(notes):
    result = CODE.decode(notes)
    if result.valid:
        differing = sum(a != b for a, b in zip(notes, result.melody.notes, strict=True))
        assert differing == result.corrected <= 1


def test_wrong_length_and_out_of_range_are_invalid_with_reasons():
    assert "13 notes" in CODE.decode([0] * 12).reason
    assert not CODE.decode([0] * 14).valid
    assert not CODE.decode([16] + [0] * 12).valid


def test_decode_names():
    melody = CODE.new()
    assert CODE.decode_names(" ".join(melody.names)).melody.secret == melody.secret


def test_other_shapes_and_alphabets():
    eight = Alphabet(("C5", "D5", "E5", "F5", "G5", "A5", "B5", "C6"))
    code = MelodyCode(eight, CodeParams(data_notes=4, check_notes=3))
    assert code.secret_bits == 12
    melody = code.encode(0xABC)
    assert code.decode(melody.notes).melody.secret == 0xABC
    wrong = list(melody.notes)
    wrong[2] ^= 5
    assert code.decode(wrong).melody.secret == 0xABC
    detect_only = MelodyCode(params=CodeParams(data_notes=10, check_notes=2))
    assert (detect_only.params.correctable, detect_only.params.detectable) == (0, 2)
    wrong = list(detect_only.encode(0x55).notes)
    wrong[0] ^= 1
    assert not detect_only.decode(wrong).valid
    no_check = MelodyCode(params=CodeParams(data_notes=3, check_notes=0))
    assert no_check.decode(no_check.encode(0x123).notes).melody.secret == 0x123


def test_invalid_code_shapes_are_refused():
    with pytest.raises(MelodypairError, match=r"power of two|2, 4"):
        MelodyCode(Alphabet(("C5", "D5", "E5")))
    with pytest.raises(MelodypairError, match="at most 15 notes"):
        MelodyCode(params=CodeParams(data_notes=14, check_notes=3))
    with pytest.raises(MelodypairError):
        CODE.encode(1 << 40)


@given(SECRETS, st.integers(0, 12))
def test_a_known_missing_note_is_recovered(secret, position):
    notes = list(CODE.encode(secret).notes)
    heard = notes.copy()
    heard[position] = 0
    result = CODE.decode(heard, erasures=(position,))
    assert result.valid and result.melody.secret == secret


@given(SECRETS, st.integers(0, 12), st.integers(0, 12), st.integers(1, 15))
def test_an_erasure_plus_a_wrong_note_is_rejected(secret, erased, wrong, delta):
    if erased == wrong:
        return
    notes = list(CODE.encode(secret).notes)
    notes[erased] = 0
    notes[wrong] ^= delta
    assert not CODE.decode(notes, erasures=(erased,)).valid
