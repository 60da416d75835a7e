"""`melodypair train` end to end on a tiny budget, then `melodypair quantize` on its folder.

A few recordings and one epoch each for training and the noisy fine-tune: this checks the
folder contract and the CLI, not the model's quality (that is models/default/eval.md).
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from melodypair.cli import main
from melodypair.host.model import CALIBRATION_FILE, FLOAT_DIR, FLOAT_MODEL_FILE, read_train_config
from melodypair.shared.model_bundle import load_bundle

pytestmark = pytest.mark.slow

TINY = """
[training]
train_recordings = 6
val_recordings = 3
max_epochs = 1
quant_noise_epochs = 1
calibration_windows = 50
parity_windows = 100

[model]
units = 8

[data]
timbres = ["sine", "pluck"]
reverb_prob = 0.0
"""


def test_train_then_quantize_a_tiny_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "tiny"
    assert main(["train", "--config", str(config), "--out", str(out), "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["epochs"], summary["quant_noise_epochs"]) == (1, 1)
    assert (out / FLOAT_DIR / FLOAT_MODEL_FILE).is_file() and (out / CALIBRATION_FILE).is_file()
    assert (out / "report" / "history.png").is_file()
    config_back = read_train_config(out)
    assert config_back.model.units == 8
    assert config_back.training["params"]["quant_noise_epochs"] == 1
    assert config_back.training["data"]["timbres"] == ["sine", "pluck"]
    assert config_back.training["data"]["reverb_prob"] == 0.0
    report = json.loads((out / "report" / "report.json").read_text())
    assert len(report["history"]["loss"]) == 2  # the plain epoch and the noisy one
    assert (
        main(["quantize", str(out), "--min-agreement", "0", "--melody-recordings", "2", "--json"])
        == 0
    )
    assert json.loads(capsys.readouterr().out)
    bundle = load_bundle(out)
    assert bundle.manifest.training["model"]["units"] == 8


@pytest.mark.parametrize(
    ("table", "setting", "words"),
    [
        ("training", "quant_noise_epoch = 3", "unknown setting(s) [training] quant_noise_epoch"),
        ("training", 'schedule = "cosine"', "schedule must be one of plateau, anneal"),
        ("training", "anneal_epochs = 0", "anneal_epochs must be at least 1"),
        ("training", "mask_prob = 1.5", "mask_prob must be in [0, 1]"),
        ("training", "mask_max_bands = 0", "mask sizes at least 1"),
        ("model", "unit = 64", "unknown setting(s) [model] unit; known:"),
        ("model", "logit_limit = -1.0", "logit_limit"),
        ("model", "frontend_units = -4", "frontend_units"),
        ("model", "cell_limit = -0.5", "cell_limit"),
        ("data", "reverb_probability = 0.5", "unknown setting(s) [data] reverb_probability"),
        ("data", 'timbres = ["sine", "banjo"]', "timbres must list some of"),
        ("data", "noises = []", "noises must list some of"),
        ("data", "reverb_prob = 1.5", "reverb_prob must be a probability"),
        ("data", "snr_db = [10.0, -10.0]", "snr_db must be two numbers"),
        ("data", "quiet_note_drop_db = [-3.0, 6.0]", "quiet_note_drop_db must not be negative"),
        ("data", "quiet_note_prob = 2", "quiet_note_prob must be a probability"),
        ("data", 'quiet_note_min_snr_db = "loud"', "quiet_note_min_snr_db must be a number"),
        ("data", 'detune_cents = "a lot"', "detune_cents must be a number"),
        ("data", "rates_hz = [4000]", "rates_hz must list sample rates"),
        ("data", 'clean_prob = "often"', "wrong type"),
    ],
)
def test_train_rejects_a_bad_setting_in_one_line(tmp_path, capsys, table, setting, words):
    config = tmp_path / "bad.toml"
    config.write_text(f"[{table}]\n{setting}\n")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_data_table_changes_the_examples_drawn(tmp_path, monkeypatch):
    from melodypair.host.dataset import DataConfig
    from melodypair.host.model import ModelConfig
    from melodypair.host.train import TrainingParams, training_windows

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    params = TrainingParams(train_recordings=4, val_recordings=2)
    default_cfg, (x_default, _, _), _ = training_windows(params, ModelConfig(), progress=False)
    quiet = DataConfig(clean_prob=1.0, reverb_prob=0.0, colouring_prob=0.0)
    cfg, (x_quiet, _, _), _ = training_windows(params, ModelConfig(), False, quiet)
    assert default_cfg == DataConfig() and cfg is quiet
    assert x_quiet.shape[1:] == x_default.shape[1:]
    assert not np.array_equal(x_quiet[: len(x_default)], x_default[: len(x_quiet)])


def test_cached_data_is_not_reused_after_the_pairing_rhythm_changes(tmp_path, monkeypatch):
    """Most training examples play in the pairing rhythm, which lives outside DataConfig: a new
    rhythm must draw new examples, not read the old rhythm's from the cache."""
    from melodypair.host import dataset, train
    from melodypair.shared.rhythm import Rhythm

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cfg = dataset.DataConfig(pairing_rhythm_prob=1.0, pairing_tempo_jitter=0.0)
    before = train.cached_examples(2, 7, cfg, progress=False)
    assert len(list(train.cache_dir().iterdir())) == 1
    for module in (train, dataset):
        monkeypatch.setattr(module, "DEFAULT_RHYTHM", Rhythm(tone_ms=140.0, rest_ms=60.0))
    after = train.cached_examples(2, 7, cfg, progress=False)
    assert len(list(train.cache_dir().iterdir())) == 2
    assert any(not np.array_equal(a.labels, b.labels) for a, b in zip(before, after, strict=True))


def test_training_weighs_the_rests_between_equal_notes(tmp_path, monkeypatch):
    from melodypair.host.model import ModelConfig
    from melodypair.host.train import TrainingParams, training_windows
    from melodypair.shared.alphabet import DEFAULT_ALPHABET

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    params = TrainingParams(train_recordings=8, val_recordings=2, reattack_weight=3.0)
    _, (_, y, w), _ = training_windows(params, ModelConfig(), progress=False)
    assert set(np.unique(w).tolist()) == {1.0, 3.0}
    assert np.all(y[w == 3.0] == len(DEFAULT_ALPHABET))  # only silences are re-attacks
    assert 0 < np.mean(w == 3.0) < 0.2
    plain = TrainingParams(train_recordings=8, val_recordings=2, reattack_weight=1.0)
    _, (_, y_plain, w_plain), _ = training_windows(plain, ModelConfig(), progress=False)
    assert np.all(w_plain == 1.0) and np.array_equal(y_plain, y)


def test_masked_windows_hold_one_patch_at_the_floor_and_nothing_else_changes():
    """`mask_prob`: about that share of the windows gets one patch of whole bands x frames at
    the floor, within the size limits; the other windows are left as they were."""
    from melodypair.host.train import mask_patches

    rng = np.random.default_rng(0)
    windows = rng.normal(-5.0, 1.0, size=(400, 32, 64)).astype(np.float32)
    before = windows.copy()
    chosen = set(mask_patches(np.random.default_rng(1), windows, 0.5, 8, 16, -10.0).tolist())
    assert 160 < len(chosen) < 240
    for i in range(len(windows)):
        hole = windows[i] == -10.0
        if i not in chosen:
            assert np.array_equal(windows[i], before[i])
            continue
        frames, bands = np.flatnonzero(hole.any(axis=1)), np.flatnonzero(hole.any(axis=0))
        assert 1 <= frames.size <= 16 and 1 <= bands.size <= 8
        assert np.ptp(frames) == frames.size - 1 and np.ptp(bands) == bands.size - 1
        assert hole.sum() == frames.size * bands.size  # one rectangle
        assert np.array_equal(windows[i][~hole], before[i][~hole])


def test_training_masks_patches_of_the_training_windows_only(tmp_path, monkeypatch):
    from melodypair.host.model import ModelConfig
    from melodypair.host.train import TrainingParams, training_windows

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    plain = TrainingParams(train_recordings=8, val_recordings=2)
    _, (x_plain, y_plain, _), (v_plain, _) = training_windows(plain, ModelConfig(), False)
    masked = TrainingParams(train_recordings=8, val_recordings=2, mask_prob=1.0)
    _, (x, y, _), (v, _) = training_windows(masked, ModelConfig(), False)
    changed = x != x_plain
    assert np.mean(changed.any(axis=(1, 2))) > 0.95 and np.all(x[changed] == -10.0)
    assert np.array_equal(y, y_plain) and np.array_equal(v, v_plain)


def _fit_a_tiny_model(epochs: int, main_phase: bool = True, **params):
    """(model, Keras history) after `_fit` on an easy 2-class task, rate 1e-2 (`main_phase`:
    the schedule's phase, else the constant-rate fine-tuning phase)."""
    import keras as k

    from melodypair.host.train import TrainingParams, _fit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    k.utils.set_random_seed(0)
    model = k.Sequential([k.Input((4,)), k.layers.Dense(2, activation="softmax")])
    train = (x, y, np.ones(len(y), np.float32))
    settings = TrainingParams(batch_size=64, **params)
    return model, _fit(
        model, train, (x, y), settings, float("inf"), False, epochs, 1e-2, main_phase
    )


def test_the_learning_rate_halves_when_gains_stay_under_min_delta():
    """The plateau schedule uses the early-stopping threshold: on a task the model keeps
    learning (each epoch's validation loss gain well above Keras' default 1e-4 but under this
    min_delta), the rate must drop; with the default threshold it never did."""
    _, history = _fit_a_tiny_model(4, schedule="plateau", min_delta=10.0, patience=10)
    losses = history["val_loss"]
    assert all(a - b > 1e-3 for a, b in itertools.pairwise(losses))  # still learning
    assert history["learning_rate"][-1] < 1e-2


def test_the_anneal_schedule_holds_the_rate_then_falls_and_stops():
    """schedule "anneal": the rate stays at its peak until the last anneal_epochs, falls along
    the cosine, and training stops when the anneal ends, whatever the validation loss does."""
    from melodypair.host.lr_schedule import cosine_rate

    model, history = _fit_a_tiny_model(7, schedule="anneal", anneal_epochs=3, patience=1)
    expected = [1e-2] * 4 + [cosine_rate(1e-2, e, 3) for e in range(3)]
    assert np.allclose(history["learning_rate"], expected)
    assert float(model.optimizer.learning_rate) == pytest.approx(expected[-1])


def test_the_fine_tuning_phase_keeps_its_rate_under_the_anneal_schedule():
    """The noisy fine-tune after the main phase runs at its own constant rate: the anneal
    belongs to the main phase only."""
    model, _ = _fit_a_tiny_model(3, main_phase=False, schedule="anneal", anneal_epochs=3)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-2)
