"""The rule-based peer decodes clean melodies, including repeated notes."""

import numpy as np
import pytest

from melodypair.host.baselines import stft_peaks
from melodypair.shared.rhythm import DEFAULT_RHYTHM, Rhythm
from melodypair.shared.synth import render_notes


@pytest.mark.parametrize("rhythm", [DEFAULT_RHYTHM, Rhythm(tone_ms=160.0, rest_ms=40.0)])
def test_decodes_a_clean_pairing_melody_with_repeats(rhythm):
    notes = [3, 3, 3, 9, 9, 0, 15, 15, 4, 7, 7, 1, 2]
    audio = np.concatenate(
        [np.zeros(4000), render_notes(notes, rhythm=rhythm).audio, np.zeros(4000)]
    )
    heard = stft_peaks.decode(audio)
    assert [h.symbol for h in heard] == notes
    onsets_ms = [h.start_ms for h in heard]
    # 64 ms analysis frames straddle a 40 ms rest, so re-attacks are found up to ~40 ms late
    assert np.allclose(np.diff(onsets_ms), rhythm.note_ms, atol=45.0)


def test_edit_distance():
    assert stft_peaks.note_sequence_errors([1, 2, 3], [1, 2, 3]) == 0
    assert stft_peaks.note_sequence_errors([1, 3], [1, 2, 3]) == 1
    assert stft_peaks.note_sequence_errors([1, 9, 3, 4], [1, 2, 3]) == 2
