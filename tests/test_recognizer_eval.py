"""The recognizer's per-condition evaluation runs end to end on the shipped model (a tiny sweep)."""

from melodypair.host import recognizer_eval


def test_a_quiet_condition_pairs_with_both_decoders_and_reports_every_figure():
    rows = recognizer_eval.run(
        trials_per_condition=2,
        noises=("white",),
        snrs_db=(30.0,),
        rooms=(("dry", 0.0),),
        workers=1,
        progress=False,
    )
    assert [r["decoder"] for r in rows] == ["learned", "stft"]
    learned = rows[0]
    assert learned["trials"] == 2 and learned["pairing_success"] == 1.0
    assert learned["wrong_melody"] == 0.0 and 0.0 < learned["rtf"] < 1.0
    for row in rows:
        assert 0.0 <= row["melody_exact"] <= row["pairing_success"]
        assert 0.0 <= row["notes_exact"] <= 1.0
        assert 0.0 <= row["note_error_rate"] <= 1.0
    assert learned["melody_exact"] == 1.0  # a quiet room: every note of both melodies heard
    table = recognizer_eval.markdown_table(rows)
    assert "| white | dry | 30 | 100% |" in table and len(table.splitlines()) == 3


def test_evaluation_recordings_are_seeded_melodies_included():
    """The evaluation hears the same melodies every run (make model's table is reproducible)."""
    import numpy as np

    from melodypair.shared.melody_code import MelodyCode

    cfg, code = recognizer_eval.pairing_config(), MelodyCode()

    def recording(seed):
        rng = np.random.default_rng(seed)
        return recognizer_eval.pairing_recording(rng, cfg, code, "white", 10.0, 0.0)

    (m1, ex1), (m2, ex2) = recording(5), recording(5)
    assert m1.secret == m2.secret and m1.notes == m2.notes
    np.testing.assert_array_equal(ex1.audio, ex2.audio)
    secrets = {recording(seed)[0].secret for seed in range(6)}
    assert len(secrets) == 6 and all(0 <= s < 1 << code.secret_bits for s in secrets)


def test_the_same_seed_gives_the_same_figures():
    def figures():
        rows = recognizer_eval.run(
            trials_per_condition=2,
            noises=("pink",),
            snrs_db=(0.0,),
            rooms=(("reverb", 0.5),),
            workers=1,
            progress=False,
        )
        return [{k: v for k, v in r.items() if k != "rtf"} for r in rows]

    assert figures() == figures()


def _heard(symbols, first_beat=2, beat_samples=3200, rate=16000):
    """Notes in the pairing rhythm (one per beat from `first_beat`), as a decoder reports them."""
    from melodypair.shared.melody_finder import HeardNote

    return [
        HeardNote(
            s,
            str(s),
            (first_beat + i) * beat_samples,
            (first_beat + i) * beat_samples + int(0.8 * beat_samples),
            0.9,
            rate,
        )
        for i, s in enumerate(symbols)
    ]


def test_a_stray_note_outside_the_melody_fails_notes_exact_but_not_melody_exact():
    from melodypair.shared.melody_code import MelodyCode
    from melodypair.shared.melody_finder import find_melodies

    code = MelodyCode()
    played = list(code.encode(123456789).notes)
    stray = (played[0] + 5) % len(code.alphabet)
    heard = _heard([stray, *played])  # e.g. a voice heard as a note one beat before the melody
    found = find_melodies(heard, code)
    assert recognizer_eval.melody_heard_exactly(found, played)
    assert [h.symbol for h in heard] != played  # what `notes_exact` compares

    wrong = [*played]
    wrong[4] = (wrong[4] + 1) % len(code.alphabet)  # one melody note misheard: corrected, not exact
    found = find_melodies(_heard(wrong), code)
    assert found and found[0].result.melody.notes == tuple(played)
    assert not recognizer_eval.melody_heard_exactly(found, played)
    assert not recognizer_eval.melody_heard_exactly([], played)
