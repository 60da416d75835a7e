"""`melodypair compare`: the sign test's known answers, the counting, and a model against a
deafened copy of itself on the same recordings."""

import json
import shutil

import pytest

from melodypair.cli import main
from melodypair.host import compare_models
from melodypair.shared.decoder import default_model_dir


def test_sign_test_gives_the_binomial_tail_both_ways():
    assert compare_models.sign_test_p(0, 0) == 1.0
    assert compare_models.sign_test_p(3, 3) == 1.0
    assert compare_models.sign_test_p(5, 0) == pytest.approx(2 / 32)
    assert compare_models.sign_test_p(0, 10) == pytest.approx(2 / 1024)
    assert compare_models.sign_test_p(9, 2) == pytest.approx(2 * (1 + 11 + 55) / 2048)
    assert compare_models.sign_test_p(2, 9) == compare_models.sign_test_p(9, 2)


def test_split_counts_only_the_trials_one_model_got_right():
    def trial(a_exact, b_exact):
        return compare_models.PairedTrial("white", 0.0, "dry", a_exact, True, b_exact, a_exact)

    trials = [trial(True, True)] * 4 + [trial(True, False)] * 3 + [trial(False, True)]
    exact = compare_models.split(trials, "melody_exact")
    assert (exact.trials, exact.a, exact.b, exact.a_only, exact.b_only) == (8, 7, 5, 3, 1)
    assert exact.p_value == pytest.approx(compare_models.sign_test_p(3, 1))
    paired = compare_models.split(trials, "paired")
    assert (paired.a, paired.b, paired.a_only, paired.b_only) == (8, 7, 1, 0)


def _deafened_copy(tmp_path):
    """The shipped bundle with its smoother told that silence is overwhelmingly likely."""
    folder = tmp_path / "deaf"
    folder.mkdir()
    source = default_model_dir()
    shutil.copy(source / "model.tflite", folder / "model.tflite")
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["metrics"]["smoothing"]["silence_weight"] = 1e12
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_a_deafened_model_loses_on_the_same_recordings(tmp_path):
    trials = compare_models.run(
        str(default_model_dir()),
        str(_deafened_copy(tmp_path)),
        trials_per_condition=6,
        noises=("white",),
        snrs_db=(20.0,),
        rooms=(("dry", 0.0),),
        workers=1,
        progress=False,
    )
    assert len(trials) == 6 and {(t.noise, t.snr_db, t.room) for t in trials} == {
        ("white", 20.0, "dry")
    }
    result = compare_models.summary(trials)
    exact = result["splits"]["all"]["melody_exact"]
    assert exact["a"] == 6 and exact["b"] == 0 and exact["a_only"] == 6
    assert exact["p_value"] == pytest.approx(2 / 64)
    assert result["conditions"]["white/dry/20dB"]["paired"] == [6, 0]


def test_the_command_compares_a_model_with_itself_and_reports_json(capsys):
    model = str(default_model_dir())
    assert (
        main(
            [
                "compare",
                model,
                model,
                "--trials",
                "1",
                "--rooms",
                "reverb",
                "--json",
                "--no-progress",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out["splits"]) == {"reverb", "all"} and len(out["conditions"]) == 15
    for figure in ("melody_exact", "paired"):
        s = out["splits"]["all"][figure]
        assert s["trials"] == 15 and s["a"] == s["b"] and s["a_only"] == s["b_only"] == 0
        assert s["p_value"] == 1.0


@pytest.mark.parametrize(
    "args, message",
    [
        (["no/such/model", "no/such/model"], "is not a model folder"),
        (["{model}", "{model}", "--rooms", "kitchen"], "--rooms takes some of dry, reverb"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    model = str(default_model_dir())
    assert main(["compare", *[a.format(model=model) for a in args]]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
