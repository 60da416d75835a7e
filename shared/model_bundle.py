"""The model artifact: a folder with `model.tflite` and `manifest.json`, checked when loaded.

The manifest records everything the decoder must agree with to use the model: the alphabet and
its class list, the feature parameters (dict and fingerprint), the window geometry and the
sha256 of the tflite file. `load_bundle` refuses any mismatch with the running code, because a
model fed features it was not trained on fails silently (plausible but wrong notes).

Vocabulary: a window is `window_frames` consecutive feature frames, one every
`window_hop_frames` frames; its label is the class of frame `label_frame` of the window. The
classes are the alphabet's notes in order, then the silence/noise class "_" (always last).

No TensorFlow here: this module runs on the device.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from melodypair.shared.alphabet import Alphabet
from melodypair.shared.errors import AlphabetError, MelodypairError
from melodypair.shared.features import DEFAULT_FEATURES, FeatureParams

FORMAT_VERSION = 1
MODEL_FILE = "model.tflite"
MANIFEST_FILE = "manifest.json"
SILENCE_CLASS = "_"

_RETRAIN = (
    "retrain the model (melodypair train, then melodypair quantize) or use a matching version"
)


class ModelBundleError(MelodypairError):
    """A model folder is missing, damaged, or was made for other features or another alphabet."""


@dataclass(frozen=True)
class Manifest:
    """What a model was trained on and how to feed it; stored as manifest.json."""

    format_version: int
    name: str
    alphabet: tuple[str, ...]
    a4_hz: float
    sample_rate_hz: int
    features: dict
    features_fingerprint: str
    window_frames: int
    window_hop_frames: int
    label_frame: int
    classes: tuple[str, ...]
    tflite_sha256: str
    training: dict
    metrics: dict
    created: str
    tool_versions: dict

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def silence_index(self) -> int:
        return len(self.classes) - 1

    def alphabet_obj(self) -> Alphabet:
        return Alphabet(tuple(self.alphabet), float(self.a4_hz))

    def feature_params(self) -> FeatureParams:
        return FeatureParams.from_dict(self.features)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["alphabet"] = list(self.alphabet)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Manifest:
        """Manifest from parsed JSON; raises ModelBundleError naming missing or mistyped fields."""
        if not isinstance(d, dict):
            raise ModelBundleError(f"the manifest is not a JSON object; {_RETRAIN}")
        missing = [f.name for f in fields(cls) if f.name not in d]
        if missing:
            raise ModelBundleError(f"the manifest lacks field(s) {', '.join(missing)}; {_RETRAIN}")
        kinds = {
            "format_version": int,
            "name": str,
            "alphabet": list,
            "a4_hz": (int, float),
            "sample_rate_hz": int,
            "features": dict,
            "features_fingerprint": str,
            "window_frames": int,
            "window_hop_frames": int,
            "label_frame": int,
            "classes": list,
            "tflite_sha256": str,
            "training": dict,
            "metrics": dict,
            "created": str,
            "tool_versions": dict,
        }
        wrong = [
            k for k, kind in kinds.items() if not isinstance(d[k], kind) or isinstance(d[k], bool)
        ]
        if wrong:
            raise ModelBundleError(
                f"the manifest has mistyped field(s) {', '.join(wrong)}; {_RETRAIN}"
            )
        values = {f.name: d[f.name] for f in fields(cls)}
        values["alphabet"] = tuple(values["alphabet"])
        values["classes"] = tuple(values["classes"])
        values["a4_hz"] = float(values["a4_hz"])
        return cls(**values)


@dataclass(frozen=True)
class ModelBundle:
    """A loaded, verified model folder."""

    path: Path
    manifest: Manifest

    @property
    def tflite_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def alphabet(self) -> Alphabet:
        return self.manifest.alphabet_obj()

    @property
    def feature_params(self) -> FeatureParams:
        return self.manifest.feature_params()

    @property
    def size_bytes(self) -> int:
        return self.tflite_path.stat().st_size


def classes_for(alphabet: Alphabet) -> tuple[str, ...]:
    """The class list of a model over `alphabet`: its notes in order, then silence/noise."""
    return (*alphabet.names, SILENCE_CLASS)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save_bundle(folder: str | Path, tflite_bytes: bytes, manifest: Manifest) -> ModelBundle:
    """Write model.tflite then manifest.json, each atomically, and return the verified bundle.

    The manifest's `tflite_sha256` is filled in from the bytes when empty; a non-empty one must
    match them (it guards against pairing a manifest with the wrong model).
    """
    folder = Path(folder)
    digest = sha256_hex(tflite_bytes)
    if not manifest.tflite_sha256:
        manifest = replace(manifest, tflite_sha256=digest)
    elif manifest.tflite_sha256 != digest:
        raise ModelBundleError(
            "the manifest's tflite_sha256 does not match the model bytes being saved"
        )
    _check_consistency(manifest, manifest.feature_params())
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / MODEL_FILE, tflite_bytes)
    text = json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n"
    _write_atomic(folder / MANIFEST_FILE, text.encode())
    return ModelBundle(folder, manifest)


def load_bundle(
    folder: str | Path, expected_features: FeatureParams = DEFAULT_FEATURES
) -> ModelBundle:
    """Load a model folder and verify it against the code; each mismatch is a ModelBundleError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelBundleError(f"model folder {folder} does not exist")
    for name in (MANIFEST_FILE, MODEL_FILE):
        if not (folder / name).is_file():
            raise ModelBundleError(
                f"model folder {folder} has no {name}; it is not a complete model "
                "(run melodypair quantize on it, or point --model at another folder)"
            )
    try:
        raw = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelBundleError(
            f"{folder / MANIFEST_FILE} is not valid JSON ({err}); {_RETRAIN}"
        ) from None
    try:
        manifest = Manifest.from_dict(raw)
    except ModelBundleError as err:
        raise ModelBundleError(f"{folder / MANIFEST_FILE}: {err}") from None
    if manifest.format_version != FORMAT_VERSION:
        raise ModelBundleError(
            f"{folder} is a format {manifest.format_version} model; this melodypair reads "
            f"format {FORMAT_VERSION}: {_RETRAIN}"
        )
    actual = sha256_hex((folder / MODEL_FILE).read_bytes())
    if actual != manifest.tflite_sha256:
        raise ModelBundleError(
            f"{folder / MODEL_FILE} does not match its manifest (sha256 {actual[:12]}..., "
            f"manifest says {manifest.tflite_sha256[:12]}...): the file was changed or damaged; "
            "copy the model folder again or re-run melodypair quantize"
        )
    try:
        _check_consistency(manifest, expected_features)
    except ModelBundleError as err:
        raise ModelBundleError(f"model {folder}: {err}") from None
    return ModelBundle(folder, manifest)


def _check_consistency(manifest: Manifest, expected_features: FeatureParams) -> None:
    """Feature parameters equal the code's; alphabet, classes and window geometry agree."""
    expected = expected_features.to_dict()
    if manifest.features != expected:
        differ = sorted(
            k
            for k in set(expected) | set(manifest.features)
            if manifest.features.get(k) != expected.get(k)
        )
        detail = ", ".join(
            f"{k}: model {manifest.features.get(k)!r}, code {expected.get(k)!r}" for k in differ
        )
        raise ModelBundleError(
            f"the model was trained on other feature parameters ({detail}); {_RETRAIN}"
        )
    if manifest.features_fingerprint != expected_features.fingerprint():
        raise ModelBundleError(
            f"the model's feature fingerprint {manifest.features_fingerprint} differs from the "
            f"code's {expected_features.fingerprint()} (the feature algorithm changed); {_RETRAIN}"
        )
    if manifest.sample_rate_hz != expected_features.sample_rate_hz:
        raise ModelBundleError(
            f"the manifest's sample rate {manifest.sample_rate_hz} Hz differs from its feature "
            f"parameters' {expected_features.sample_rate_hz} Hz; {_RETRAIN}"
        )
    try:
        alphabet = manifest.alphabet_obj()
    except AlphabetError as err:
        raise ModelBundleError(f"the manifest's alphabet is invalid ({err}); {_RETRAIN}") from None
    if manifest.classes != classes_for(alphabet):
        raise ModelBundleError(
            f"the manifest's classes {' '.join(manifest.classes)} are not the alphabet's notes "
            f"followed by '{SILENCE_CLASS}'; {_RETRAIN}"
        )
    if not (
        manifest.window_frames >= 1
        and manifest.window_hop_frames >= 1
        and 0 <= manifest.label_frame < manifest.window_frames
    ):
        raise ModelBundleError(
            f"the manifest's window geometry is invalid (window_frames={manifest.window_frames}, "
            f"window_hop_frames={manifest.window_hop_frames}, label_frame={manifest.label_frame})"
            f"; {_RETRAIN}"
        )


def _write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see half."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
