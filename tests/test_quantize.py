"""int8 export: conversion, flatbuffer verification, bundle, LiteRT inference, parity, the CLI.

A tiny model is trained for a few seconds on easy synthetic windows (one of four band groups is
loud -> that note, none -> silence), enough for a confident, non-trivial argmax.
The module imports TensorFlow and trains, so it is marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

from melodypair.cli import main
from melodypair.host.model import (
    ModelConfig,
    TrainConfig,
    model_from_config,
    save_calibration,
    save_float_model,
    write_train_config,
)
from melodypair.host.quantize import (
    GATE_WEIGHT_FLOOR,
    MAX_TFLITE_BYTES,
    ExportError,
    ParityError,
    convert_int8,
    describe_model,
    export_int8,
    floor_quiet_gate_channels,
    melody_parity,
    parity_check,
    quantize_folder,
    verify_int8,
)
from melodypair.shared.alphabet import Alphabet
from melodypair.shared.decoder import default_model_dir
from melodypair.shared.features import DEFAULT_FEATURES
from melodypair.shared.inference import WindowClassifier, load_interpreter
from melodypair.shared.model_bundle import MODEL_FILE, ModelBundle, load_bundle, save_bundle

pytestmark = pytest.mark.slow

ALPHABET = Alphabet(("C5", "D5", "E5", "F5"))
N_CLASSES = len(ALPHABET) + 1
N_BANDS = DEFAULT_FEATURES.n_bands
CONFIG = ModelConfig(window_frames=8, label_frame=4, frames_per_step=2, units=16)
# The Keras LSTM without L2: an export that a bad calibration demonstrably breaks (the default
# "gates" model is robust enough to survive it on this easy data).
FRAGILE = replace(CONFIG, lstm_impl="unrolled", l2=0.0)


def easy_windows(n: int, seed: int, loud_db: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """Background log-power around -6; class c < 4 makes bands 10+12c..13+12c loud."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n)
    windows = rng.normal(-6.0, 0.5, (n, CONFIG.window_frames, N_BANDS)).astype(np.float32)
    for i, c in enumerate(labels):
        if c < len(ALPHABET):
            windows[i, :, 10 + 12 * c : 14 + 12 * c] += loud_db
    return windows, labels


def train_tiny(config: ModelConfig, seed: int = 0):
    import keras as k

    k.utils.set_random_seed(seed)
    model = model_from_config(config, N_BANDS, N_CLASSES)
    model.compile(optimizer=k.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    x, y = easy_windows(2000, seed)
    model.fit(x, y, epochs=4, batch_size=64, verbose=0)
    return model


def manifest_fields(config: ModelConfig = CONFIG) -> dict:
    return describe_model("tiny", ALPHABET, DEFAULT_FEATURES, config)


@pytest.fixture(scope="module")
def model():
    return train_tiny(CONFIG)


@pytest.fixture(scope="module")
def fragile_model():
    return train_tiny(FRAGILE)


@pytest.fixture(scope="module")
def calibration():
    return easy_windows(300, seed=1)[0]


@pytest.fixture(scope="module")
def evaluation():
    return easy_windows(1000, seed=2)


@pytest.fixture(scope="module")
def bundle(model, calibration, tmp_path_factory):
    return export_int8(model, calibration, tmp_path_factory.mktemp("int8"), manifest_fields())


def test_exported_bundle_loads_and_agrees_with_float(model, bundle, evaluation):
    windows, labels = evaluation
    loaded = load_bundle(bundle.path)
    assert loaded.manifest == bundle.manifest
    report = parity_check(model, loaded, windows, labels)
    assert report.n_windows == len(windows)
    assert report.agreement >= 0.99
    assert report.confident_agreement >= 0.99
    assert 0 < report.confident_windows <= report.n_windows
    assert report.float_accuracy > 0.9  # the test data is learnable, so agreement means something
    assert report.int8_accuracy > 0.9
    float_post = model.predict(windows, verbose=0)
    int8_post = WindowClassifier(loaded).predict(windows)
    assert int8_post.dtype == np.float32 and int8_post.shape == (len(windows), N_CLASSES)
    np.testing.assert_allclose(int8_post.sum(axis=1), 1.0, atol=0.05)
    assert np.abs(float_post - int8_post).max() < 0.1


def test_exported_model_is_clean_full_int8(bundle):
    summary = verify_int8(bundle.tflite_path.read_bytes())
    assert "WHILE" not in summary.ops and "FULLY_CONNECTED" in summary.ops
    assert {"REDUCE_MAX", "MAXIMUM"} <= set(summary.ops)  # the default dynamic-range floor
    assert summary.input_shape == (1, CONFIG.window_frames, N_BANDS)
    assert summary.output_shape == (1, N_CLASSES)
    interpreter = load_interpreter(bundle.tflite_path)
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    assert bundle.manifest.metrics["tflite_ops"] == list(summary.ops)
    assert bundle.manifest.metrics["tflite_size_bytes"] == bundle.size_bytes


def test_frontend_and_logit_limit_export_clean_and_agree(calibration, evaluation, tmp_path):
    """The per-frame front end (a 1x1 convolution) and the logit penalty keep the export clean
    full-int8 (no shape-computing ops for the front end) and the int8 model with its float one."""
    config = replace(CONFIG, frontend_units=8, logit_limit=4.0)
    model = train_tiny(config)
    assert model.get_layer("frontend").output.shape[-1] == 8
    bundle = export_int8(model, calibration, tmp_path, manifest_fields(config))
    summary = verify_int8(bundle.tflite_path.read_bytes())
    assert "CONV_2D" in summary.ops and not {"GATHER", "REDUCE_PROD"} & set(summary.ops)
    windows, labels = evaluation
    report = parity_check(model, bundle, windows, labels)
    assert report.agreement >= 0.99 and report.float_accuracy > 0.9


def test_batched_and_single_window_inference_agree(bundle, evaluation):
    windows = evaluation[0][:37]  # 32 + 4 + 1: every batch size the classifier uses
    batched = WindowClassifier(bundle).predict(windows)
    single = WindowClassifier(bundle, max_batch=1).predict(windows)
    np.testing.assert_array_equal(batched, single)
    assert WindowClassifier(bundle).predict(windows[:0]).shape == (0, N_CLASSES)


def test_classifier_rejects_windows_of_the_wrong_shape(bundle):
    with pytest.raises(ValueError, match=r"\(n, 8, 64\)"):
        WindowClassifier(bundle).predict(np.zeros((2, 9, N_BANDS), np.float32))


def test_quantization_parameters_come_from_the_interpreter(model, bundle, calibration, tmp_path):
    wide = export_int8(model, calibration * 2.0, tmp_path, manifest_fields())
    narrow_c, wide_c = WindowClassifier(bundle), WindowClassifier(wide)
    for classifier in (narrow_c, wide_c):
        scale, zero_point = load_interpreter(classifier.bundle.tflite_path).get_input_details()[0][
            "quantization"
        ]
        assert classifier.input_quant.scale == pytest.approx(scale)
        assert classifier.input_quant.zero_point == zero_point
    assert wide_c.input_quant.scale > 1.5 * narrow_c.input_quant.scale
    windows = easy_windows(200, seed=3)[0]
    agree = np.mean(narrow_c.predict(windows).argmax(1) == wide_c.predict(windows).argmax(1))
    assert agree >= 0.99  # each classifier dequantizes with its own model's parameters


def test_float_model_bundle_runs_and_matches_keras(model, tmp_path, evaluation):
    import tensorflow as tf

    from melodypair.shared.model_bundle import Manifest, save_bundle

    tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    with pytest.raises(ExportError, match="int8"):
        verify_int8(tflite)
    manifest = Manifest.from_dict(
        {
            **manifest_fields(),
            "format_version": 1,
            "tflite_sha256": "",
            "created": "now",
            "tool_versions": {},
        }
    )
    classifier = WindowClassifier(save_bundle(tmp_path, tflite, manifest))
    assert not classifier.input_quant.is_quantized and classifier.max_batch > 1
    windows = evaluation[0][:50]
    np.testing.assert_allclose(
        classifier.predict(windows), model.predict(windows, verbose=0), atol=1e-5
    )


def test_rolled_keras3_lstm_is_refused(calibration, tmp_path):
    import keras

    rolled = keras.Sequential(
        [
            keras.Input((CONFIG.window_frames, N_BANDS)),
            keras.layers.LSTM(8),
            keras.layers.Dense(N_CLASSES, activation="softmax"),
        ]
    )
    with pytest.raises(ExportError):
        export_int8(rolled, calibration, tmp_path, manifest_fields())
    assert not (tmp_path / MODEL_FILE).exists()


def test_bad_calibration_fails_parity_loudly(fragile_model, tmp_path, evaluation):
    background_only = np.full((50, CONFIG.window_frames, N_BANDS), -6.0, np.float32)
    bad = export_int8(fragile_model, background_only, tmp_path, manifest_fields(FRAGILE))
    with pytest.raises(ParityError, match="agrees with the float model on only"):
        parity_check(fragile_model, bad, *evaluation)


def test_convert_refuses_an_empty_representative_set(model):
    with pytest.raises(ExportError, match="at least one window"):
        convert_int8(model, np.zeros((0, CONFIG.window_frames, N_BANDS), np.float32))


def test_decoding_side_runs_the_bundle_without_tensorflow(bundle, evaluation):
    windows = evaluation[0][:20]
    np.save(bundle.path / "windows.npy", windows)
    code = (
        "import sys, numpy as np\n"
        "from melodypair.shared.model_bundle import load_bundle\n"
        "from melodypair.shared.inference import WindowClassifier\n"
        f"b = load_bundle({str(bundle.path)!r})\n"
        f"p = WindowClassifier(b).predict(np.load({str(bundle.path / 'windows.npy')!r}))\n"
        "assert 'tensorflow' not in sys.modules\n"
        "print(' '.join(map(str, p.argmax(1))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    expected = WindowClassifier(bundle).predict(windows).argmax(1)
    assert result.stdout.split() == [str(c) for c in expected]


def write_training_folder(folder, model, calibration, evaluation, config=CONFIG, **changes):
    save_float_model(folder, model)
    save_calibration(folder, calibration, None, *evaluation)
    train_config = TrainConfig(
        name="tiny",
        model=config,
        alphabet=ALPHABET.names,
        training={"seed": 0},
        metrics={"val_window_accuracy": 0.95},
        **changes,
    )
    write_train_config(folder, train_config)


def test_quantize_cli_writes_a_checked_bundle(model, calibration, evaluation, tmp_path, capsys):
    folder = tmp_path / "tiny"
    write_training_folder(folder, model, calibration, evaluation)
    # Four notes make no pairing melody: the melody check is skipped (tested below on its own).
    assert main(["quantize", str(folder), "--melody-recordings", "0", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["melody_parity"] is None
    bundle = load_bundle(folder)
    assert info["tflite_sha256"] == bundle.manifest.tflite_sha256
    assert info["parity"]["agreement"] >= 0.99
    m = bundle.manifest
    assert m.metrics["int8_parity"]["n_windows"] == len(evaluation[0])
    assert m.metrics["val_window_accuracy"] == 0.95
    assert m.training == {"seed": 0, "model": CONFIG.to_dict()}
    assert (m.window_frames, m.window_hop_frames, m.label_frame) == (8, 2, 4)
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_quantize_cli_fails_in_one_line_and_writes_nothing(
    model, calibration, evaluation, tmp_path, capsys
):
    folder = tmp_path / "tiny"
    write_training_folder(folder, model, calibration, evaluation)
    (folder / "calibration.npz").unlink()
    assert main(["quantize", str(folder)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "calibration.npz is missing" in err
    assert not (folder / MODEL_FILE).exists()


def test_quantize_refuses_a_training_folder_whose_model_config_lacks_a_field(
    model, calibration, evaluation, tmp_path, capsys
):
    folder = tmp_path / "tiny"
    write_training_folder(folder, model, calibration, evaluation)
    path = folder / "train_config.json"
    config = json.loads(path.read_text())
    del config["model"]["dynamic_range_db"]  # as a folder from before the floor was written
    path.write_text(json.dumps(config))
    assert main(["quantize", str(folder)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "lacks field(s) dynamic_range_db" in err and "older melodypair" in err
    assert not (folder / MODEL_FILE).exists()


def test_quantize_cli_refuses_other_features(model, calibration, evaluation, tmp_path, capsys):
    folder = tmp_path / "tiny"
    other = {**DEFAULT_FEATURES.to_dict(), "n_bands": 48}
    write_training_folder(folder, model, calibration, evaluation, features=other)
    assert main(["quantize", str(folder)]) == 1
    assert "other feature parameters" in capsys.readouterr().err
    assert not (folder / MODEL_FILE).exists()


def test_quantize_refuses_a_model_over_the_size_budget_and_writes_nothing(
    model, calibration, evaluation, tmp_path
):
    folder = tmp_path / "tiny"
    write_training_folder(folder, model, calibration, evaluation)
    with pytest.raises(ExportError, match=r"KB, over the device budget of 1 KB"):
        quantize_folder(folder, melody_recordings=0, max_size_bytes=1000)
    assert not (folder / MODEL_FILE).exists()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]
    bundle, _, _ = quantize_folder(folder, melody_recordings=0)
    assert bundle.size_bytes <= MAX_TFLITE_BYTES


def test_a_quiet_gate_channel_keeps_one_floor_weight_and_the_outputs_barely_move(evaluation):
    m = model_from_config(CONFIG, N_BANDS, N_CLASSES)
    kernel = next(w for w in m.weights if w.path == "lstm/input_gate/kernel")
    weights = np.array(kernel.numpy())
    weights[:, 3] *= 1e-4  # all but vanished, as training leaves some channels
    kernel.assign(weights)
    row = int(np.abs(weights[:, 3]).argmax())
    before = m.predict(evaluation[0][:200], verbose=0)
    assert floor_quiet_gate_channels(m) == 1
    after_weights = np.array(kernel.numpy())
    assert np.count_nonzero(after_weights[:, 3]) == 1
    assert after_weights[row, 3] == pytest.approx(np.sign(weights[row, 3]) * GATE_WEIGHT_FLOOR)
    np.testing.assert_array_equal(np.delete(after_weights, 3, 1), np.delete(weights, 3, 1))
    assert np.abs(m.predict(evaluation[0][:200], verbose=0) - before).max() < 1e-3
    assert floor_quiet_gate_channels(m) == 0  # nothing left under the floor


def test_the_shipped_model_fits_the_size_budget():
    assert load_bundle(default_model_dir()).size_bytes <= MAX_TFLITE_BYTES


def test_quantize_cli_fails_parity_and_writes_nothing(fragile_model, evaluation, tmp_path, capsys):
    folder = tmp_path / "tiny"
    background_only = np.full((50, CONFIG.window_frames, N_BANDS), -6.0, np.float32)
    write_training_folder(folder, fragile_model, background_only, evaluation, config=FRAGILE)
    assert main(["quantize", str(folder), "--melody-recordings", "0"]) == 1
    assert "agrees with the float model on only" in capsys.readouterr().err
    assert not (folder / MODEL_FILE).exists()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_quantize_cli_says_the_melody_check_needs_the_default_alphabet(
    model, calibration, evaluation, tmp_path, capsys
):
    folder = tmp_path / "tiny"
    write_training_folder(folder, model, calibration, evaluation)
    assert main(["quantize", str(folder)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--melody-recordings 0" in err
    assert not (folder / MODEL_FILE).exists()


class _Posteriors:
    """A stand-in float model: a callable from windows to posteriors, as Keras models are."""

    def __init__(self, predict):
        self.predict = predict

    def __call__(self, windows, training=False):
        return self.predict(windows)


def test_melody_parity_passes_when_both_models_hear_alike():
    shipped = load_bundle(default_model_dir())
    same = _Posteriors(WindowClassifier(shipped).predict)
    report = melody_parity(same, shipped, recordings=6)
    assert (report.same_melody, report.same_notes, report.differing) == (1.0, 1.0, ())
    assert report.float_paired == report.int8_paired >= 0.5  # 20 to 0 dB: mostly heard
    assert report.to_dict()["recordings"] == 6


def test_melody_parity_fails_loudly_when_the_int8_model_hears_otherwise():
    shipped = load_bundle(default_model_dir())
    n_classes = len(shipped.manifest.classes)
    deaf = _Posteriors(lambda w: np.eye(n_classes, dtype=np.float32)[[-1] * len(w)])  # silence
    with pytest.raises(ParityError, match=r"another melody than the float model on \d+ of 6"):
        melody_parity(deaf, shipped, recordings=6)


def _constant_tensors(tflite: bytes, dtype_code: int, shape: tuple) -> list:
    """(tensor, its values) for every constant of a type code and shape in a flatbuffer."""
    from tensorflow.lite.tools import flatbuffer_utils

    m = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite))
    found = []
    for t in m.subgraphs[0].tensors:
        data = m.buffers[t.buffer].data
        if t.type == dtype_code and tuple(t.shape) == shape and data is not None and len(data):
            found.append((t, data.view(np.int32)))
    return found


def _posteriors(tflite: bytes, like: ModelBundle, folder, windows: np.ndarray):
    """(posteriors, output scale) of `windows` from `tflite` run as a bundle like `like`."""
    manifest = replace(like.manifest, tflite_sha256="")
    classifier = WindowClassifier(save_bundle(folder, tflite, manifest))
    return classifier.predict(windows), classifier.output_quant.scale


def test_the_lstm_steps_share_one_bias_per_gate_and_hear_alike(
    model, calibration, evaluation, bundle, tmp_path
):
    from melodypair.host.step_sharing import share_step_constants

    int32 = 2  # the flatbuffer schema's TensorType.INT32
    per_step = convert_int8(model, calibration, share_steps=False)
    shared = convert_int8(model, calibration)
    steps = CONFIG.window_frames // CONFIG.frames_per_step
    biases = (CONFIG.units,)
    # The first step has no forget gate (its cell state starts at zero).
    assert len(_constant_tensors(per_step, int32, biases)) == 4 * steps - 1
    assert len(_constant_tensors(shared, int32, biases)) == 4
    assert len(shared) < len(per_step)
    windows = evaluation[0]
    float_classes = model.predict(windows, verbose=0).argmax(axis=1)
    a, step = _posteriors(per_step, bundle, tmp_path / "a", windows)
    b, _ = _posteriors(shared, bundle, tmp_path / "b", windows)
    agree_a = np.mean(a.argmax(axis=1) == float_classes)
    agree_b = np.mean(b.argmax(axis=1) == float_classes)
    assert agree_b >= agree_a - 0.005, (agree_a, agree_b)
    assert np.mean(np.abs(a - b)) < step  # under one int8 output step, on average
    again = share_step_constants(shared)
    assert again.removed_tensors == 0
    assert np.array_equal(_posteriors(again.tflite, bundle, tmp_path / "c", windows)[0], b)


def test_a_graph_with_no_shared_weights_is_left_as_it_is(calibration):
    import keras as k

    from melodypair.host.step_sharing import share_step_constants

    inputs = k.Input((CONFIG.window_frames, N_BANDS))
    hidden = k.layers.Dense(8, activation="tanh")(k.layers.Flatten()(inputs))
    dense = k.Model(inputs, k.layers.Dense(N_CLASSES, activation="softmax")(hidden))
    raw = convert_int8(dense, calibration, share_steps=False)
    result = share_step_constants(raw)
    assert result.tflite == raw
    assert (result.tied_tensors, result.removed_tensors) == (0, 0)
    assert "no weights are shared" in result.reason


def test_sharing_gives_up_rather_than_clip_a_bias(model, calibration):
    """A gate whose weight scale is tiny would need an int32 bias beyond range at the common
    input scale: the flatbuffer comes back unchanged, with the reason."""
    from tensorflow.lite.tools import flatbuffer_utils

    from melodypair.host.step_sharing import share_step_constants

    per_step = convert_int8(model, calibration, share_steps=False)
    m = flatbuffer_utils.read_model_from_bytearray(bytearray(per_step))
    width = CONFIG.frames_per_step * CONFIG.frontend_units + CONFIG.units  # [x_t, h]
    weights = next(t for t in m.subgraphs[0].tensors if tuple(t.shape) == (CONFIG.units, width))
    weights.quantization.scale = np.full_like(weights.quantization.scale, 1e-12)
    tampered = bytes(flatbuffer_utils.convert_object_to_bytearray(m))
    result = share_step_constants(tampered)
    assert result.tflite == tampered
    assert "int32" in result.reason
