"""Full-integer int8 TFLite export of the float recognizer, its verification, and float/int8 parity.

The converter only warns when it cannot lower a graph cleanly (e.g. Keras 3's rolled LSTM becomes
a WHILE loop), so every export is verified from the flatbuffer itself: one subgraph, builtin ops
only (no WHILE, no custom/Flex ops), int8 input and output, no float tensor anywhere. Tensor names
are stripped: they take ~40% of an unrolled model's file and nothing reads them.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from melodypair.host.model import (
    ModelConfig,
    load_calibration,
    load_float_model,
    read_train_config,
)
from melodypair.host.step_sharing import share_step_constants
from melodypair.shared.alphabet import Alphabet
from melodypair.shared.errors import MelodypairError
from melodypair.shared.features import DEFAULT_FEATURES, FeatureParams
from melodypair.shared.inference import WindowClassifier
from melodypair.shared.model_bundle import (
    FORMAT_VERSION,
    Manifest,
    ModelBundle,
    ModelBundleError,
    classes_for,
    save_bundle,
)

MIN_AGREEMENT = 0.99
# Issue 4's device budget: model.tflite <= 100 KB (1000 bytes a KB, as everywhere in the project).
MAX_TFLITE_BYTES = 100_000
# An LSTM gate channel whose weights all but vanished in training (max |w| ~1e-5 beside a bias
# of +-5) appears to make the converter requantize that gate's weights for the unrolled steps
# where the int32 bias would overflow, so the 8 steps stop sharing them: one model grew from 94
# to 121 KB (18 gate weight matrices instead of 4). Such a channel keeps one weight, set to
# this floor, before conversion (its pre-activation, all bias, barely moves); that model then
# converted at 94 KB with 4 matrices and the same parity.
GATE_WEIGHT_FLOOR = 1e-3
# Melody parity: recordings from the evaluation distribution (white/pink/babble noise at 20 to
# 0 dB SNR, dry and reverberant), each decoded by the float and the int8 model through the same
# decoder. The stated tolerance: at most 1 recording in 20 may end in another pairing melody
# (a recording at the edge of what the model hears can tip either way on a rounding).
MELODY_RECORDINGS = 60
MIN_SAME_MELODY = 0.95
MELODY_CONDITIONS = tuple(
    (noise, snr_db, rt60_s)
    for noise in ("white", "pink", "babble")
    for snr_db in (20.0, 10.0, 5.0, 0.0)
    for rt60_s in (0.0, 0.5)
)
MELODY_SEED = 20261130
CONFIDENT_MARGIN = 0.1  # top-1 minus top-2 float posterior; below it, argmax is nearly a tie
MAX_REPRESENTATIVE_WINDOWS = 500  # calibration beyond this barely moves the ranges, costs time
FORBIDDEN_OPS = frozenset({"WHILE", "IF", "CALL_ONCE", "CUSTOM", "DELEGATE"})


class ExportError(MelodypairError):
    """The int8 conversion failed or produced a model the device must not run."""


class ParityError(MelodypairError):
    """The int8 model disagrees with the float model on too many windows."""


@dataclass(frozen=True)
class Int8Summary:
    """What the verification found in an exported flatbuffer."""

    ops: tuple[str, ...]
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    size_bytes: int


@dataclass(frozen=True)
class ParityReport:
    """Window-level agreement of the int8 model with the float model on the same windows."""

    n_windows: int
    agreement: float  # fraction of windows with the same argmax class
    max_abs_diff: float  # largest posterior difference
    mean_abs_diff: float
    min_agreement: float
    confident_agreement: float  # on windows whose float top class leads by >= CONFIDENT_MARGIN
    confident_windows: int
    float_accuracy: float | None = None  # against labels, when given
    int8_accuracy: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class MelodyParityReport:
    """How often the float and the int8 model, in the same decoder, hear the same thing."""

    recordings: int
    same_notes: float  # fraction with identical heard note sequences
    same_melody: float  # fraction where both found the same pairing melody (or both none)
    float_paired: float  # fraction where the float model's melody is the one played
    int8_paired: float
    min_same_melody: float
    differing: tuple[str, ...]  # the conditions of the recordings whose melodies differ

    def to_dict(self) -> dict:
        d = asdict(self)
        d["differing"] = list(self.differing)
        return d


class KerasPosteriors:
    """A float Keras model in the decoder's classifier seat (see decoder.PosteriorModel)."""

    def __init__(self, keras_model: Any):
        self.model = keras_model

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(self.model(np.asarray(windows, np.float32), training=False), np.float32)


def floor_quiet_gate_channels(keras_model: Any, floor: float = GATE_WEIGHT_FLOOR) -> int:
    """Give every LSTM gate channel whose largest |weight| is under `floor` a single weight of
    `floor` (its largest, sign kept) and zeros elsewhere; returns how many channels changed."""
    changed = 0
    for weight in keras_model.weights:
        if not (weight.path.startswith("lstm/") and weight.path.endswith("/kernel")):
            continue
        kernel = np.array(weight.numpy())
        quiet = np.flatnonzero(np.abs(kernel).max(axis=0) < floor)
        for channel in quiet:
            row = int(np.abs(kernel[:, channel]).argmax())
            sign = 1.0 if kernel[row, channel] >= 0 else -1.0
            kernel[:, channel] = 0.0
            kernel[row, channel] = sign * floor
        if quiet.size:
            weight.assign(kernel)
            changed += int(quiet.size)
    return changed


def convert_int8(
    keras_model: Any, representative_windows: np.ndarray, share_steps: bool = True
) -> bytes:
    """Full-integer int8 TFLite bytes (int8 in/out, TFLITE_BUILTINS_INT8 only), names stripped;
    with `share_steps`, the LSTM steps share their biases (see step_sharing)."""
    import tensorflow as tf
    from tensorflow.lite.tools import flatbuffer_utils

    rep = _subsample(np.asarray(representative_windows, np.float32), MAX_REPRESENTATIVE_WINDOWS)
    if rep.ndim != 3 or len(rep) == 0:
        raise ExportError("the representative dataset needs at least one window (n, frames, bands)")
    # Keras 3 goes through a SavedModel export, which keeps a free batch dimension.
    converter = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([w[None]] for w in rep)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        # Keras 3's export prints on stdout, where a --json caller reads; send it to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            raw = converter.convert()
    except Exception as err:  # the converter raises several unrelated types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ExportError(f"int8 conversion failed: {first}") from None
    if share_steps:
        raw = share_step_constants(raw).tflite
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(raw))
    flatbuffer_utils.strip_strings(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def verify_int8(tflite_bytes: bytes) -> Int8Summary:
    """Check a flatbuffer is a clean full-int8 model; raise ExportError saying what is wrong."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(tflite_bytes))
    if len(model.subgraphs) != 1:
        raise ExportError(
            f"the int8 model has {len(model.subgraphs)} subgraphs (a WHILE/IF body?); "
            "use lstm_impl 'gates' or 'unrolled'"
        )
    graph = model.subgraphs[0]
    names = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if code.customCode:
            raise ExportError(
                f"the int8 model contains the custom op {code.customCode.decode(errors='replace')} "
                "(Flex/select TF ops cannot run on the device)"
            )
        names.append(flatbuffer_utils.opcode_to_name(model, op.opcodeIndex) or "?")
    ops = tuple(sorted(set(names)))
    bad = sorted(set(ops) & FORBIDDEN_OPS | ({"?"} & set(ops)))
    if bad:
        raise ExportError(f"the int8 model contains op(s) {', '.join(bad)}; it must not")
    int8 = schema.TensorType.INT8
    for role, indices in (("input", graph.inputs), ("output", graph.outputs)):
        if len(indices) != 1 or graph.tensors[indices[0]].type != int8:
            raise ExportError(f"the int8 model's {role} is not a single int8 tensor")
    # Op intermediates (empty tensors that only carry LSTM scales) may be float; data may not.
    used = {i for op in graph.operators for i in [*op.inputs, *op.outputs] if i >= 0}
    floats = [i for i in used if graph.tensors[i].type == schema.TensorType.FLOAT32]
    if floats:
        raise ExportError(f"the int8 model still has {len(floats)} float32 tensor(s)")
    inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    return Int8Summary(
        ops=ops,
        input_shape=tuple(int(v) for v in inp.shape),
        output_shape=tuple(int(v) for v in out.shape),
        size_bytes=len(tflite_bytes),
    )


def describe_model(
    name: str,
    alphabet: Alphabet,
    features: FeatureParams,
    model: ModelConfig,
    training: dict | None = None,
    metrics: dict | None = None,
) -> dict:
    """The Manifest fields that describe a model, for export_int8: name, alphabet, feature
    parameters and their fingerprint, window geometry, classes, the training config (with the
    model's) and metrics. One place, so that a bundle cannot describe its model differently."""
    return {
        "name": name,
        "alphabet": list(alphabet.names),
        "a4_hz": alphabet.a4_hz,
        "sample_rate_hz": features.sample_rate_hz,
        "features": features.to_dict(),
        "features_fingerprint": features.fingerprint(),
        "window_frames": model.window_frames,
        "window_hop_frames": model.window_hop_frames,
        "label_frame": model.label_frame,
        "classes": list(classes_for(alphabet)),
        "training": {**(training or {}), "model": model.to_dict()},
        "metrics": dict(metrics or {}),
    }


def export_int8(
    keras_model: Any,
    representative_windows: np.ndarray,
    out_dir: str | Path,
    manifest_fields: dict,
) -> ModelBundle:
    """Convert, verify and save a bundle (model.tflite + manifest.json) in `out_dir`.

    `manifest_fields` gives the Manifest fields that describe the model (describe_model);
    format_version, created, tool_versions and tflite_sha256 are filled in here unless given.
    """
    tflite = convert_int8(keras_model, representative_windows)
    summary = verify_int8(tflite)
    values = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "tool_versions": _tool_versions(),
        "tflite_sha256": "",
        **manifest_fields,
    }
    values["metrics"] = {
        **values.get("metrics", {}),
        "tflite_size_bytes": summary.size_bytes,
        "tflite_ops": list(summary.ops),
    }
    try:
        manifest = Manifest.from_dict(values)
    except ModelBundleError as err:
        raise ExportError(f"cannot write the manifest: {err}") from None
    return save_bundle(out_dir, tflite, manifest)


def parity_check(
    keras_model: Any,
    bundle: ModelBundle,
    windows: np.ndarray,
    labels: np.ndarray | None = None,
    min_agreement: float = MIN_AGREEMENT,
) -> ParityReport:
    """Compare float and int8 posteriors window by window; ParityError below `min_agreement`."""
    windows = np.asarray(windows, np.float32)
    if len(windows) == 0:
        raise ParityError("the parity check needs at least one window")
    float_post = np.asarray(keras_model.predict(windows, batch_size=256, verbose=0), np.float32)
    int8_post = WindowClassifier(bundle).predict(windows)
    float_cls, int8_cls = float_post.argmax(axis=1), int8_post.argmax(axis=1)
    diff = np.abs(float_post - int8_post)
    top2 = np.sort(float_post, axis=1)[:, -2:]
    confident = top2[:, 1] - top2[:, 0] >= CONFIDENT_MARGIN
    same = float_cls == int8_cls
    report = ParityReport(
        n_windows=len(windows),
        agreement=float(np.mean(same)),
        max_abs_diff=float(diff.max()),
        mean_abs_diff=float(diff.mean()),
        min_agreement=float(min_agreement),
        confident_agreement=float(np.mean(same[confident])) if confident.any() else 1.0,
        confident_windows=int(confident.sum()),
        float_accuracy=None if labels is None else float(np.mean(float_cls == labels)),
        int8_accuracy=None if labels is None else float(np.mean(int8_cls == labels)),
    )
    if report.agreement < min_agreement:
        raise ParityError(
            f"the int8 model agrees with the float model on only {report.agreement:.2%} of "
            f"{report.n_windows} windows (need {min_agreement:.0%}; "
            f"{report.confident_agreement:.2%} where the float model is confident); check that "
            "calibration.npz covers the real input range, or retrain"
        )
    return report


def melody_parity(
    keras_model: Any,
    bundle: ModelBundle,
    recordings: int = MELODY_RECORDINGS,
    min_same_melody: float = MIN_SAME_MELODY,
    seed: int = MELODY_SEED,
    progress: bool = False,
) -> MelodyParityReport:
    """Decode evaluation recordings with both models; ParityError if melodies differ too often."""
    from tqdm import tqdm

    from melodypair.host.recognizer_eval import pairing_config, pairing_recording
    from melodypair.shared.decoder import decode_audio
    from melodypair.shared.melody_code import MelodyCode
    from melodypair.shared.melody_finder import best_melody

    _check_melody_alphabet(bundle.alphabet.names)
    rng = np.random.default_rng(seed)
    cfg, code = pairing_config(), MelodyCode(bundle.alphabet)
    float_model = KerasPosteriors(keras_model)
    rate_hz = bundle.feature_params.sample_rate_hz  # the recordings are at the model's rate
    same_notes = same_melody = float_paired = int8_paired = 0
    differing = []
    for i in tqdm(range(recordings), desc="melody parity", unit="rec", disable=not progress):
        noise, snr_db, rt60_s = MELODY_CONDITIONS[i % len(MELODY_CONDITIONS)]
        melody, ex = pairing_recording(rng, cfg, code, noise, snr_db, rt60_s)  # seeded
        heard = []
        for classifier in (float_model, None):  # None: the bundle's int8 model
            out = decode_audio(ex.audio, rate_hz, bundle, classifier=classifier)
            best = best_melody(out.melodies)
            secret_heard = None if best is None else best.result.melody.secret
            heard.append(([n.symbol for n in out.notes], secret_heard))
        (f_notes, f_secret), (q_notes, q_secret) = heard
        same_notes += f_notes == q_notes
        same_melody += f_secret == q_secret
        float_paired += f_secret == melody.secret
        int8_paired += q_secret == melody.secret
        if f_secret != q_secret:
            differing.append(f"{noise} {snr_db:+.0f} dB {'reverb' if rt60_s else 'dry'}")
    n = max(recordings, 1)
    report = MelodyParityReport(
        recordings=recordings,
        same_notes=same_notes / n,
        same_melody=same_melody / n,
        float_paired=float_paired / n,
        int8_paired=int8_paired / n,
        min_same_melody=min_same_melody,
        differing=tuple(differing),
    )
    if recordings and report.same_melody < min_same_melody:
        raise ParityError(
            f"the int8 model decodes another melody than the float model on "
            f"{len(differing)} of {recordings} evaluation recordings (allowed: "
            f"{1 - min_same_melody:.0%}; {', '.join(differing[:5])}); retrain (narrower "
            "cell_limit/gate_limit/logit_limit, or a noisy fine-tune with quant_noise_epochs)"
        )
    return report


def _check_melody_alphabet(names: tuple[str, ...]) -> None:
    from melodypair.shared.alphabet import DEFAULT_ALPHABET

    if tuple(names) != DEFAULT_ALPHABET.names:
        raise ParityError(
            "the melody parity check plays pairing melodies, which need the default alphabet; "
            "this model has another (skip the check with --melody-recordings 0)"
        )


def quantize_folder(
    folder: str | Path,
    min_agreement: float = MIN_AGREEMENT,
    melody_recordings: int = MELODY_RECORDINGS,
    progress: bool = False,
    max_size_bytes: int = MAX_TFLITE_BYTES,
) -> tuple[ModelBundle, ParityReport, MelodyParityReport | None]:
    """`melodypair quantize`: float/ + calibration.npz + train_config.json -> checked bundle.

    The bundle is built in a temporary folder and only saved into `folder` when both parity
    checks pass (windows, then melodies), so a failed export never leaves a model.tflite that
    looks valid.
    """
    folder = Path(folder)
    config = read_train_config(folder)
    if config.features != DEFAULT_FEATURES.to_dict():
        raise ModelBundleError(
            f"{folder} was trained on other feature parameters than this code computes; "
            "retrain the model or use a matching melodypair version"
        )
    features = config.feature_params
    calibration = load_calibration(folder, config.model.window_frames, features.n_bands)
    keras_model = load_float_model(folder, config.model)
    floor_quiet_gate_channels(keras_model)  # the parity checks compare against this model
    if melody_recordings:  # before the conversion, which takes a while
        _check_melody_alphabet(config.alphabet)
    fields = describe_model(
        config.name,
        config.alphabet_obj,
        features,
        config.model,
        training=config.training,
        metrics=config.metrics,
    )
    with tempfile.TemporaryDirectory(dir=folder, prefix=".quantize-") as tmp:
        staged = export_int8(keras_model, calibration.windows, tmp, fields)
        if staged.size_bytes > max_size_bytes:
            raise ExportError(
                f"the int8 model is {staged.size_bytes / 1000:.1f} KB, over the device budget "
                f"of {max_size_bytes / 1000:.0f} KB; nothing was written"
            )
        report = parity_check(
            keras_model, staged, calibration.eval_windows, calibration.eval_labels, min_agreement
        )
        melodies = None
        if melody_recordings:
            melodies = melody_parity(keras_model, staged, melody_recordings, progress=progress)
        tflite = staged.tflite_path.read_bytes()
    metrics = {**staged.manifest.metrics, "int8_parity": report.to_dict()}
    if melodies is not None:
        metrics["int8_melody_parity"] = melodies.to_dict()
    manifest = replace(staged.manifest, metrics=metrics)
    return save_bundle(folder, tflite, manifest), report, melodies


def _subsample(windows: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` windows spread evenly over the array (deterministic)."""
    if len(windows) <= limit:
        return windows
    return windows[np.linspace(0, len(windows) - 1, limit).round().astype(int)]


def _tool_versions() -> dict:
    import keras as k
    import tensorflow as tf

    from melodypair import __version__

    return {
        "melodypair": __version__,
        "tensorflow": tf.__version__,
        "keras": f"{k.__name__} {k.__version__}",
        "numpy": np.__version__,
    }
