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
        assert (
            0.0 <= row["melody_exact"] <= row["pairing_success"] + 1e-9 or row["melody_exact"] <= 1
        )
        assert 0.0 <= row["note_error_rate"] <= 1.0
    assert "| white | dry | 30 |" in recognizer_eval.markdown_table(rows)
