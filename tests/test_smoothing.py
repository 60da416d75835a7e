"""The streaming HMM smoother and the melody finder."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.melody_finder import FinderParams, HeardNote, MelodyFinder
from melodypair.shared.smoothing import NoteSmoother, SmoothingParams

N = 16
SIL = N


def posteriors(labels, p=0.8):
    post = np.full((len(labels), N + 1), (1 - p) / N)
    post[np.arange(len(labels)), labels] = p
    return post


def run(smoother, post, chunk=None):
    smoother.reset()
    if chunk is None:
        out = smoother.process(post)
    else:
        out = []
        for i in range(0, len(post), chunk):
            out += smoother.process(post[i : i + chunk])
    return out + smoother.flush()


def test_repeated_notes_with_a_gap_stay_two_notes_and_glitches_vanish():
    labels = [SIL] * 5 + [3] * 8 + [SIL] * 2 + [3] * 8 + [SIL] + [5] * 3 + [SIL] * 6
    labels += [7] * 8 + [2] + [7] * 7 + [SIL] * 10
    segments = run(NoteSmoother(N), posteriors(labels))
    assert [(s.note, s.first_window, s.last_window) for s in segments] == [
        (3, 5, 12),
        (3, 15, 22),
        (5, 24, 26),
        (7, 33, 48),
    ]


def test_notes_shorter_than_the_minimum_are_dropped():
    labels = [SIL] * 5 + [4, 4] + [SIL] * 10
    assert run(NoteSmoother(N, SmoothingParams(min_note_windows=3)), posteriors(labels)) == []


def test_a_note_running_at_the_end_of_the_stream_is_closed_by_flush():
    segments = run(NoteSmoother(N), posteriors([SIL] * 3 + [9] * 6))
    assert [(s.note, s.first_window, s.last_window) for s in segments] == [(9, 3, 8)]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, N), min_size=1, max_size=120),
    st.integers(1, 40),
    st.integers(0, 2**31 - 1),
)
def test_streaming_equals_batch_for_any_chunking(labels, chunk, seed):
    rng = np.random.default_rng(seed)
    post = rng.dirichlet(np.ones(N + 1) * 0.3, size=len(labels)) * 0.5 + posteriors(labels) * 0.5
    smoother = NoteSmoother(N, SmoothingParams(lag_windows=7))
    assert run(smoother, post) == run(smoother, post, chunk)


def test_committed_path_never_breaks_the_minimum_duration():
    rng = np.random.default_rng(0)
    post = rng.dirichlet(np.ones(N + 1) * 0.2, size=400)
    params = SmoothingParams(min_note_windows=4, lag_windows=3)
    for seg in run(NoteSmoother(N, params), post):
        assert seg.last_window - seg.first_window + 1 >= 4


def _heard(symbols, start_ms=500.0, step_ms=200.0, tone_ms=160.0, rate=16000):
    return [
        HeardNote(
            s,
            "x",
            int((start_ms + i * step_ms) * rate / 1000),
            int((start_ms + i * step_ms + tone_ms) * rate / 1000),
            0.9,
            rate,
        )
        for i, s in enumerate(symbols)
    ]


def test_finder_reports_an_exact_melody_as_soon_as_its_last_note_arrives():
    code = MelodyCode()
    melody = code.new()
    finder = MelodyFinder(code)
    notes = _heard(melody.notes)
    found = finder.process(notes, decided_until_sample=notes[-1].end_sample)
    assert len(found) == 1 and found[0].result.melody.secret == melody.secret
    assert finder.flush() == []


def test_finder_corrects_one_wrong_note_only_after_the_group_ends():
    code = MelodyCode()
    melody = code.new()
    wrong = list(melody.notes)
    wrong[4] ^= 3
    finder = MelodyFinder(code)
    notes = _heard(wrong)
    assert finder.process(notes, decided_until_sample=notes[-1].end_sample) == []
    later = notes[-1].end_sample + int(0.6 * 16000)
    found = finder.process([], decided_until_sample=later)
    assert len(found) == 1 and found[0].result.corrected == 1
    assert found[0].result.melody.secret == melody.secret


def test_finder_finds_the_melody_inside_extra_notes_and_ignores_broken_rhythm():
    code = MelodyCode()
    melody = code.new()
    finder = MelodyFinder(code)
    notes = _heard([1, 2, *melody.notes])
    found = finder.process(notes, notes[-1].end_sample) + finder.flush()
    assert [f.result.melody.secret for f in found] == [melody.secret]
    irregular = _heard(melody.notes)
    irregular[6] = HeardNote(
        irregular[6].symbol,
        "x",
        irregular[6].start_sample + 2400,
        irregular[6].end_sample + 2400,
        0.9,
        16000,
    )
    finder = MelodyFinder(code, FinderParams(rhythm_tolerance=0.35))
    assert finder.process(irregular, irregular[-1].end_sample) + finder.flush() == []


def test_finder_splits_groups_at_long_gaps():
    code = MelodyCode()
    melody = code.new()
    finder = MelodyFinder(code)
    first = _heard(melody.notes[:6])
    second = _heard(melody.notes[6:], start_ms=500 + 6 * 200 + 900)
    assert finder.process(first + second, second[-1].end_sample) + finder.flush() == []


def test_the_finder_uses_a_sounding_last_note_once():
    code = MelodyCode()
    melody = code.new()
    notes = _heard(melody.notes)
    finder = MelodyFinder(code)
    early = finder.process(notes[:-1], notes[-2].end_sample, sounding=notes[-1])
    assert [f.result.melody.secret for f in early] == [melody.secret]
    later = finder.process([notes[-1]], notes[-1].end_sample) + finder.flush()
    assert later == []


def test_open_note_is_reported_before_it_ends():
    smoother = NoteSmoother(N, SmoothingParams(lag_windows=4))
    smoother.process(posteriors([SIL] * 3 + [6] * 12))
    assert smoother.open_note is not None and smoother.open_note.note == 6
    assert smoother.open_note.first_window == 3


def test_finder_restores_a_note_missing_from_the_rhythm():
    code = MelodyCode()
    melody = code.new()
    notes = _heard(melody.notes)
    heard = notes[:5] + notes[6:]  # the 6th note went unheard (or merged into the 5th)
    finder = MelodyFinder(code)
    found = finder.process(heard, heard[-1].end_sample) + finder.flush()
    assert [f.result.melody.secret for f in found] == [melody.secret]
    assert found[0].result.corrected == 1


def test_finder_does_not_guess_a_missing_note_without_a_rhythm_gap():
    code = MelodyCode()
    melody = code.new()
    notes = _heard(melody.notes[:12])  # 12 evenly spaced notes: nothing says where one is missing
    finder = MelodyFinder(code)
    assert finder.process(notes, notes[-1].end_sample) + finder.flush() == []
