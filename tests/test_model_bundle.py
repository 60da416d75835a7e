"""Model bundle format and checks, windowing, and the device-side import rule (no TensorFlow).

load_bundle treats model.tflite as opaque bytes (it checks their sha256, not their content), so
these tests use arbitrary bytes; real exported models are tested in test_quantize.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from melodypair.shared.alphabet import Alphabet
from melodypair.shared.errors import MelodypairError
from melodypair.shared.features import DEFAULT_FEATURES
from melodypair.shared.inference import (
    InferenceRuntimeError,
    WindowClassifier,
    Windower,
    frame_windows,
)
from melodypair.shared.model_bundle import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    MODEL_FILE,
    Manifest,
    ModelBundleError,
    classes_for,
    load_bundle,
    save_bundle,
    sha256_hex,
)

ALPHABET = Alphabet(("C5", "D5", "E5", "F5"))
TFLITE = b"TFL3" + bytes(range(256)) * 4


def make_manifest(**changes) -> Manifest:
    f = DEFAULT_FEATURES
    values = dict(
        format_version=FORMAT_VERSION,
        name="test",
        alphabet=ALPHABET.names,
        a4_hz=440.0,
        sample_rate_hz=f.sample_rate_hz,
        features=f.to_dict(),
        features_fingerprint=f.fingerprint(),
        window_frames=8,
        window_hop_frames=2,
        label_frame=4,
        classes=classes_for(ALPHABET),
        tflite_sha256="",
        training={"epochs": 3},
        metrics={"val_window_accuracy": 0.9},
        created="2025-01-01T00:00:00+00:00",
        tool_versions={"tensorflow": "2.21.0"},
    )
    values.update(changes)
    return Manifest(**values)


def edit_manifest(folder, edit) -> None:
    path = folder / MANIFEST_FILE
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def load_error(folder, **kwargs) -> str:
    with pytest.raises(ModelBundleError) as info:
        load_bundle(folder, **kwargs)
    message = str(info.value)
    assert "\n" not in message  # the CLI prints it as one line
    return message


@pytest.fixture
def bundle_dir(tmp_path):
    folder = tmp_path / "model"
    save_bundle(folder, TFLITE, make_manifest())
    return folder


def test_round_trip_fills_sha_and_keeps_every_field(bundle_dir):
    bundle = load_bundle(bundle_dir)
    assert bundle.manifest == make_manifest(tflite_sha256=sha256_hex(TFLITE))
    assert bundle.tflite_path.read_bytes() == TFLITE
    assert bundle.alphabet == ALPHABET
    assert bundle.feature_params == DEFAULT_FEATURES
    assert bundle.manifest.classes[-1] == "_"
    assert bundle.manifest.silence_index == len(ALPHABET)
    assert sorted(p.name for p in bundle_dir.iterdir()) == [MANIFEST_FILE, MODEL_FILE]


def test_save_refuses_a_manifest_for_other_bytes(tmp_path):
    with pytest.raises(ModelBundleError, match="does not match"):
        save_bundle(tmp_path, TFLITE, make_manifest(tflite_sha256=sha256_hex(b"other")))
    assert not (tmp_path / MODEL_FILE).exists()


def test_save_refuses_classes_that_do_not_end_in_silence(tmp_path):
    with pytest.raises(ModelBundleError, match="classes"):
        save_bundle(tmp_path, TFLITE, make_manifest(classes=("_", *ALPHABET.names)))


def test_tampered_tflite_is_refused(bundle_dir):
    data = bytearray((bundle_dir / MODEL_FILE).read_bytes())
    data[100] ^= 1
    (bundle_dir / MODEL_FILE).write_bytes(bytes(data))
    message = load_error(bundle_dir)
    assert "model.tflite does not match its manifest" in message
    assert "re-run melodypair quantize" in message


def test_changed_feature_param_is_refused_naming_it(bundle_dir):
    edit_manifest(bundle_dir, lambda d: d["features"].update(hop_samples=320))
    message = load_error(bundle_dir)
    assert "hop_samples: model 320, code 160" in message
    assert "retrain" in message and "matching version" in message


def test_code_with_other_features_refuses_the_model(bundle_dir):
    message = load_error(bundle_dir, expected_features=replace(DEFAULT_FEATURES, n_bands=48))
    assert "n_bands: model 64, code 48" in message


def test_changed_fingerprint_alone_is_refused(bundle_dir):
    edit_manifest(bundle_dir, lambda d: d.update(features_fingerprint="0123456789abcdef"))
    message = load_error(bundle_dir)
    assert "fingerprint 0123456789abcdef" in message and DEFAULT_FEATURES.fingerprint() in message


@pytest.mark.parametrize("field", ["classes", "tflite_sha256", "label_frame", "tool_versions"])
def test_missing_field_is_refused_naming_it(bundle_dir, field):
    edit_manifest(bundle_dir, lambda d: d.pop(field))
    message = load_error(bundle_dir)
    assert f"lacks field(s) {field}" in message and "retrain" in message


def test_mistyped_field_is_refused(bundle_dir):
    edit_manifest(bundle_dir, lambda d: d.update(window_frames="32"))
    assert "mistyped field(s) window_frames" in load_error(bundle_dir)


@pytest.mark.parametrize("name", [MODEL_FILE, MANIFEST_FILE])
def test_missing_file_is_refused_naming_it(bundle_dir, name):
    (bundle_dir / name).unlink()
    message = load_error(bundle_dir)
    assert f"has no {name}" in message


def test_missing_folder_is_refused(tmp_path):
    assert "does not exist" in load_error(tmp_path / "nowhere")


def test_manifest_that_is_not_json_is_refused(bundle_dir):
    (bundle_dir / MANIFEST_FILE).write_text("{not json")
    assert "is not valid JSON" in load_error(bundle_dir)


def test_other_format_version_is_refused(bundle_dir):
    edit_manifest(bundle_dir, lambda d: d.update(format_version=FORMAT_VERSION + 1))
    assert f"format {FORMAT_VERSION + 1} model" in load_error(bundle_dir)


def test_classes_inconsistent_with_alphabet_are_refused(bundle_dir):
    edit_manifest(bundle_dir, lambda d: d.update(alphabet=["C5", "D5", "E5", "G5"]))
    assert "are not the alphabet's notes followed by '_'" in load_error(bundle_dir)


def test_invalid_alphabet_is_refused(bundle_dir):
    edit_manifest(bundle_dir, lambda d: d.update(alphabet=["C5", "X9"]))
    assert "alphabet is invalid" in load_error(bundle_dir)


def test_label_frame_outside_the_window_is_refused(bundle_dir):
    edit_manifest(bundle_dir, lambda d: d.update(label_frame=8))
    assert "window geometry is invalid" in load_error(bundle_dir)


def test_bundle_error_is_a_melodypair_error():
    assert issubclass(ModelBundleError, MelodypairError)


def test_frame_windows_matches_a_plain_loop():
    frames = np.random.default_rng(0).normal(size=(23, 5)).astype(np.float32)
    batch = frame_windows(frames, 6, 4)
    starts = list(range(0, 23 - 6 + 1, 4))
    assert batch.first_frames.tolist() == starts
    assert batch.windows.shape == (len(starts), 6, 5) and batch.windows.dtype == np.float32
    for window, start in zip(batch.windows, starts, strict=True):
        np.testing.assert_array_equal(window, frames[start : start + 6])
    assert frame_windows(frames[:5], 6, 4).windows.shape == (0, 6, 5)


@settings(max_examples=150, deadline=None)
@given(
    n_frames=st.integers(0, 60),
    window=st.integers(1, 12),
    hop=st.integers(1, 15),
    cuts=st.lists(st.integers(0, 60), max_size=8),
)
def test_windower_is_chunk_invariant_and_bounded(n_frames, window, hop, cuts):
    frames = np.arange(n_frames * 3, dtype=np.float32).reshape(n_frames, 3)
    whole = frame_windows(frames, window, hop)
    windower = Windower(window, hop)
    windows, starts = [], []
    for chunk in np.split(frames, sorted(c for c in cuts if c <= n_frames)):
        batch = windower.process(chunk)
        windows.append(batch.windows)
        starts.append(batch.first_frames)
        assert windower.pending_frames < window
    np.testing.assert_array_equal(np.concatenate(starts), whole.first_frames)
    np.testing.assert_array_equal(np.concatenate(windows).reshape(-1, window, 3), whole.windows)


def test_windower_reset_starts_counting_again():
    frames = np.ones((10, 2), np.float32)
    windower = Windower(4, 2)
    assert windower.process(frames).first_frames.tolist() == [0, 2, 4, 6]
    windower.reset()
    assert windower.pending_frames == 0
    assert windower.process(frames[:5]).first_frames.tolist() == [0]


def test_device_modules_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "import melodypair.shared.inference as inf, melodypair.shared.model_bundle\n"
        "assert inf.runtime_name().startswith('ai_edge_litert'), inf.runtime_name()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]\n"
        "assert not bad, bad[:5]\n"
        "print('clean')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_a_file_that_is_no_model_gives_a_one_line_runtime_error(bundle_dir):
    with pytest.raises(InferenceRuntimeError) as info:
        WindowClassifier(load_bundle(bundle_dir))
    assert "cannot run" in str(info.value) and "\n" not in str(info.value)
