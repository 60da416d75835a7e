"""The smoother is tuned on pairing melodies from the training distribution, never on the
evaluation split, and the tuner keeps the candidate that hears the most melodies."""

import itertools
from dataclasses import replace

import numpy as np

from melodypair.host import dataset, tune_smoothing
from melodypair.shared.decoder import load_default_bundle
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.smoothing import SmoothingParams


def test_tuning_recordings_are_pairing_melodies_without_held_out_conditions():
    cfg = tune_smoothing.tuning_config()
    train = dataset.DataConfig()
    assert cfg.timbres == train.timbres and cfg.noises == train.noises
    assert not set(cfg.timbres) & set(dataset.HELD_OUT_TIMBRES)
    assert not set(cfg.noises) & set(dataset.HELD_OUT_NOISES)
    assert cfg.pairing_rhythm_prob == 1.0 and cfg.empty_prob == 0.0
    code = MelodyCode()
    assert cfg.notes == (code.params.total_notes,) * 2
    silence = len(code.alphabet)
    ex = dataset.make_example(np.random.default_rng(3), cfg)
    assert len(ex.symbols) == code.params.total_notes
    assert tune_smoothing.true_notes(ex.labels, silence) == list(ex.symbols)


def test_the_tuner_keeps_the_candidate_that_hears_the_melodies():
    bundle = load_default_bundle()
    cfg = replace(tune_smoothing.tuning_config(), clean_prob=1.0, reverb_prob=0.0)
    examples = [dataset.make_example(np.random.default_rng(s), cfg) for s in range(3)]
    # p_note_on = 1e-12 makes every onset too dear: that candidate hears (almost) nothing.
    grid = {"p_note_on": [1e-12, 0.5], "silence_weight": [1.0]}
    best, summary = tune_smoothing.tune(bundle, examples, grid)
    assert best == replace(SmoothingParams(), p_note_on=0.5, silence_weight=1.0)
    assert summary["recordings"] == 3
    assert summary["notes"] == sum(len(e.symbols) for e in examples)
    assert summary["note_error_rate"] < 0.2 and summary["exact"] > 0.0
    assert summary["melody_heard"] >= summary["exact"]
    played = [list(e.symbols) for e in examples]
    assert summary["repeats"] == sum(a == b for n in played for a, b in itertools.pairwise(n))
    assert 0.0 <= summary["repeats_heard"] <= 1.0


def test_a_melody_is_heard_when_its_notes_are_one_unbroken_run():
    played = [1, 2, 2, 3]
    assert tune_smoothing.melody_heard([1, 2, 2, 3], played)
    assert tune_smoothing.melody_heard([7, 1, 2, 2, 3, 9, 9], played)  # strays around it
    assert not tune_smoothing.melody_heard([1, 2, 3], played)  # the re-attack lost
    assert not tune_smoothing.melody_heard([1, 2, 5, 2, 3], played)  # a stray within it
    assert not tune_smoothing.melody_heard([2, 2, 3], played)


def test_melodies_heard_outrank_note_errors():
    """Strays in the noise around a melody cost nothing in pairing; a lost note costs the
    melody. So a candidate that adds strays but hears the melody beats one that loses a note."""
    played = [[1, 2, 2, 3], [4, 5, 6, 7]]
    with_strays = [[9, 8, 1, 2, 2, 3, 9, 8], [4, 5, 6, 7]]  # 4 errors, both melodies heard
    one_lost = [[1, 2, 3], [4, 5, 6, 7]]  # 1 error, one melody heard
    assert tune_smoothing.tuning_score(with_strays, played) == (2, -4)
    assert tune_smoothing.tuning_score(one_lost, played) == (1, -1)
    assert tune_smoothing.tuning_score(with_strays, played) > tune_smoothing.tuning_score(
        one_lost, played
    )
    fewer_strays = [[9, 1, 2, 2, 3], [4, 5, 6, 7]]  # same melodies, fewer errors: better
    assert tune_smoothing.tuning_score(fewer_strays, played) > tune_smoothing.tuning_score(
        with_strays, played
    )


def test_the_tuner_prefers_strays_around_a_melody_to_a_lost_note(monkeypatch):
    """Inside tune(): a candidate whose notes add strays before and after each melody (more
    note errors) wins over one that loses a note of each (fewer note errors)."""
    bundle = load_default_bundle()
    cfg = replace(tune_smoothing.tuning_config(), clean_prob=1.0, reverb_prob=0.0)
    examples = [dataset.make_example(np.random.default_rng(s), cfg) for s in range(2)]
    played = [list(e.symbols) for e in examples]

    def heard(params, silence, cases):
        if params.p_note_on == 0.5:
            return [[0, 1, *notes, 2, 3] for notes in played]  # 4 strays each, melody heard
        return [notes[:5] + notes[6:] for notes in played]  # 1 note lost each

    monkeypatch.setattr(tune_smoothing, "_notes", heard)
    grid = {"p_note_on": [0.2, 0.5], "silence_weight": [1.0]}
    best, summary = tune_smoothing.tune(bundle, examples, grid)
    assert best.p_note_on == 0.5
    assert summary["melody_heard"] == 1.0 and summary["exact"] == 0.0
    assert summary["note_error_rate"] == 8 / sum(len(n) for n in played)


def test_a_third_of_the_tuning_melodies_are_rich_in_repeats(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(tune_smoothing, "TUNING_RECORDINGS", 2)
    monkeypatch.setattr(tune_smoothing, "REPEAT_RICH_RECORDINGS", 2)
    rich = tune_smoothing.tuning_config(tune_smoothing.REPEAT_RICH_PROB)
    assert rich == replace(tune_smoothing.tuning_config(), repeat_prob=0.5)
    recordings = tune_smoothing.tuning_recordings(seed=1, progress=False)
    silence = len(MelodyCode().alphabet)
    notes = [tune_smoothing.true_notes(r.labels, silence) for r in recordings]
    repeats = [sum(a == b for a, b in itertools.pairwise(n)) for n in notes]
    assert len(recordings) == 4 and all(len(n) == 13 for n in notes)
    assert min(repeats[2:]) >= 3  # about 6 of 12 repeat in the rich ones
