"""The quiet-note row: one note played under the others, found by time overlap, and a real
(small) run on the shipped model."""

import numpy as np

from melodypair.host import dataset, quiet_note_eval
from melodypair.host.quiet_note_eval import QuietCase, heard_at
from melodypair.shared.melody_finder import HeardNote


def _note(symbol, start, end):
    return HeardNote(symbol, "x", start, end, 0.9, 16000)


def test_a_note_is_heard_when_a_note_of_its_pitch_overlaps_it():
    heard = [_note(3, 1000, 2000), _note(5, 2500, 3000)]
    assert heard_at(heard, 3, 1900, 2600)
    assert not heard_at(heard, 3, 2000, 2600)  # touching is not overlapping
    assert not heard_at(heard, 5, 1000, 2000)  # another pitch at that time
    assert not heard_at([], 3, 0, 10**6)


def test_pinned_note_gains_play_one_note_under_the_others():
    cfg = dataset.DataConfig(clean_prob=1.0, colouring_prob=0.0, interferer_prob=0.0)
    notes = [2, 9, 4, 11]
    cond = dataset.Condition("sine", 16000, "none", float("inf"), 0.0, -12.0)
    ex = dataset.make_example(
        np.random.default_rng(1), cfg, symbols=notes, condition=cond, gain_db=[0, 0, -15, 0]
    )
    peaks = [10 * ex.frames[a // 160 + 2 : b // 160 - 2].max() for _, a, b in ex.note_spans]
    assert peaks[2] < min(peaks[:2] + peaks[3:]) - 10


def test_a_small_run_on_the_shipped_model_hears_a_step_of_6_db_dry_and_writes_its_table():
    case = QuietCase("dry, 6 dB", 0.0, 6.0)
    rows = quiet_note_eval.run(trials_per_case=3, cases=(case,), workers=1, progress=False)
    assert [r["decoder"] for r in rows] == ["learned", "stft"]
    assert {r["case"] for r in rows} == {case.name}
    learned = rows[0]
    assert learned["trials"] == 3
    assert learned["quiet_heard"] == 1.0 and learned["others_heard"] >= 0.95
    table = quiet_note_eval.markdown_table(rows).splitlines()
    assert len(table) == 3 and table[2].startswith(f"| {case.name} | 100% | ")
    assert table[0].count("|") == table[2].count("|") == 10
