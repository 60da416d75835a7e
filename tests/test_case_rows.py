"""The rows the re-attack, quiet-note and instrument evaluations share: grouping, rates and the
side-by-side table."""

from melodypair.host import case_rows


def _trial(case: str, decoder: str, heard: bool) -> dict:
    return {"case": case, "decoder": decoder, "heard": heard}


def test_case_groups_follow_the_case_order_learned_first_and_skip_empty_groups():
    trials = [
        _trial("b", "stft", True),
        _trial("a", "learned", False),
        _trial("b", "learned", True),
        _trial("a", "learned", True),
        _trial("c", "stft", False),
    ]
    groups = list(case_rows.case_groups(trials, ["b", "a", "c", "missing"]))
    assert [(case, decoder, len(group)) for case, decoder, group in groups] == [
        ("b", "learned", 1),
        ("b", "stft", 1),
        ("a", "learned", 2),
        ("c", "stft", 1),
    ]
    assert all(t["case"] == "a" for t in groups[2][2])


def test_rate_rows_give_each_groups_trials_and_share_of_true_values():
    trials = [
        _trial("a", "learned", True),
        _trial("a", "learned", False),
        _trial("a", "stft", False),
        _trial("b", "learned", True),
    ]
    assert case_rows.rate_rows(trials, ["a", "b"], ("heard",)) == [
        {"case": "a", "decoder": "learned", "trials": 2, "heard": 0.5},
        {"case": "a", "decoder": "stft", "trials": 1, "heard": 0.0},
        {"case": "b", "decoder": "learned", "trials": 1, "heard": 1.0},
    ]


def test_side_by_side_puts_counts_then_learned_then_stft_and_skips_one_sided_cases():
    rows = [
        {"case": "dry", "decoder": "learned", "n": 7, "x": 0.5, "y": 1.0},
        {"case": "dry", "decoder": "stft", "n": 9, "x": 0.25, "y": 0.125},
        {"case": "room", "decoder": "learned", "n": 3, "x": 1.0, "y": 1.0},
    ]
    table = case_rows.side_by_side(rows, (("x heard", "x"), ("y", "y")), "room", (("n", "n"),))
    assert table.splitlines() == [
        "| room | n | learned: x heard | learned: y | STFT: x heard | STFT: y |",
        "|---|---:|---:|---:|---:|---:|",
        "| dry | 7 | 50% | 100% | 25% | 12% |",
    ]
