"""The note alphabet: names, frequencies, parsing."""

import pytest

from melodypair.shared.alphabet import DEFAULT_ALPHABET, Alphabet, frequency_hz, midi_number
from melodypair.shared.errors import AlphabetError


def test_default_alphabet_is_c_major_c5_to_d7():
    assert DEFAULT_ALPHABET.names == (
        *("C5", "D5", "E5", "F5", "G5", "A5", "B5"),
        *("C6", "D6", "E6", "F6", "G6", "A6", "B6"),
        *("C7", "D7"),
    )
    assert len(DEFAULT_ALPHABET) == 16


@pytest.mark.parametrize(
    ("name", "hz"),
    [("A4", 440.0), ("C5", 523.2511), ("A5", 880.0), ("E6", 1318.5102), ("D7", 2349.3181)],
)
def test_equal_temperament_frequencies(name, hz):
    assert frequency_hz(name) == pytest.approx(hz, abs=1e-3)


def test_alphabet_frequencies_ascend_and_match_names():
    freqs = DEFAULT_ALPHABET.frequencies_hz
    assert list(freqs) == sorted(freqs)
    assert freqs[0] == pytest.approx(523.25, abs=0.01)
    assert freqs[-1] == pytest.approx(2349.32, abs=0.01)


def test_midi_numbers_and_enharmonics():
    assert midi_number("C4") == 60
    assert midi_number("F#3") == midi_number("Gb3") == 54
    alphabet = Alphabet(("C5", "C#5", "D5", "Eb5"))
    assert alphabet.index("Db5") == 1
    assert alphabet.index("D#5") == 3


def test_parse_and_format_round_trip():
    text = "C5 E5, G5  D7"
    symbols = DEFAULT_ALPHABET.parse(text)
    assert symbols == [0, 2, 4, 15]
    assert DEFAULT_ALPHABET.format(symbols) == "C5 E5 G5 D7"
    assert DEFAULT_ALPHABET.parse(["c5", "d5"]) == [0, 1]


@pytest.mark.parametrize("bad", ["H5", "C", "5", "C#", "Cb", ""])
def test_bad_note_names_give_clear_errors(bad):
    with pytest.raises(AlphabetError):
        DEFAULT_ALPHABET.parse(bad)


def test_note_outside_alphabet_names_the_range():
    with pytest.raises(AlphabetError, match=r"not in the alphabet.*C5 to D7"):
        DEFAULT_ALPHABET.parse("C5 C#5")


def test_invalid_alphabets_are_refused():
    with pytest.raises(AlphabetError):
        Alphabet(("C5",))
    with pytest.raises(AlphabetError, match="repeats"):
        Alphabet(("C5", "B#4"))
    with pytest.raises(AlphabetError):
        Alphabet(a4_hz=300.0)
