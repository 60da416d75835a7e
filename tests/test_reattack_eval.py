"""The re-attack row: notes played twice counted by runs, extra notes, and a real (small) run."""

import pytest

from melodypair.host import reattack_eval
from melodypair.host.reattack_eval import RepeatCount, RoomCase, count_repeats, matched_notes


def test_matched_notes_follow_a_minimum_edit_alignment():
    assert matched_notes([1, 2, 3], [1, 2, 3]) == [True, True, True]
    assert matched_notes([1, 2, 3], [1, 3]) == [True, False, True]
    assert matched_notes([1, 2, 3], [1, 5, 3]) == [True, False, True]
    assert matched_notes([1, 2, 3], [9, 1, 2, 3, 9]) == [True, True, True]
    assert matched_notes([1, 2], []) == [False, False]


@pytest.mark.parametrize(
    ("played", "heard", "want"),
    [
        # a repeat heard twice, nothing else lost
        ([4, 4, 6], [4, 4, 6], RepeatCount(1, 1, 2, 2, 0)),
        # merged: the repeat is lost, the note before it is still heard
        ([4, 4, 6], [4, 6], RepeatCount(0, 1, 2, 2, 0)),
        # a run of three heard as two: one of its two repeats heard
        ([4, 4, 4, 6], [4, 4, 6], RepeatCount(1, 2, 2, 2, 0)),
        # a whole run lost counts its first note as unheard, and its repeat
        ([4, 4, 6], [6], RepeatCount(0, 1, 1, 2, 0)),
        # a note split in two is heard, plus one extra note
        ([4, 6], [4, 4, 6], RepeatCount(0, 0, 2, 2, 1)),
        # a wrong note: not heard, and the heard one is extra
        ([4, 6, 8], [4, 7, 8], RepeatCount(0, 0, 2, 3, 1)),
    ],
)
def test_repeats_are_counted_by_runs(played, heard, want):
    assert count_repeats(played, heard) == want


def test_a_small_run_on_the_shipped_model_hears_a_dry_room_and_writes_its_table():
    rows = reattack_eval.run(
        trials_per_case=3, cases=(RoomCase("dry", 0.0),), workers=1, progress=False
    )
    assert [(r["case"], r["decoder"]) for r in rows] == [("dry", "learned"), ("dry", "stft")]
    learned = rows[0]
    assert learned["repeats"] > 5  # half the notes repeat: the melodies have plenty
    assert learned["repeats_heard"] >= 0.9 and learned["extra_notes"] <= 0.05
    table = reattack_eval.markdown_table(rows).splitlines()
    assert len(table) == 3 and table[2].startswith(f"| dry | {learned['repeats']} | ")
    assert table[0].count("|") == table[2].count("|") == 11
