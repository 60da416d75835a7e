"""Window classification with a TFLite model: windowing of feature frames and LiteRT inference.

`Windower` cuts a stream of feature frames into the model's windows; `WindowClassifier` turns
windows into class posteriors. Quantization scale and zero point are read from the interpreter,
so a re-exported model with another input range needs no code change.

No TensorFlow import here: the runtime is ai-edge-litert (or the legacy tflite-runtime);
TensorFlow's own interpreter is only a last resort when neither is installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from melodypair.shared.errors import MelodypairError
from melodypair.shared.model_bundle import ModelBundle, ModelBundleError
from melodypair.shared.quiet import stderr_silenced

MAX_BATCH = 16  # windows per invoke; measured 2-3x cheaper per window than batch 1 (unrolled)


class InferenceRuntimeError(MelodypairError):
    """No TFLite runtime is installed, or it cannot run the model."""


@dataclass(frozen=True)
class WindowBatch:
    """Complete windows (n x window_frames x n_bands) and the index of each one's first frame."""

    windows: np.ndarray
    first_frames: np.ndarray


def frame_windows(frames: np.ndarray, window_frames: int, hop_frames: int) -> WindowBatch:
    """Every complete window of `frames` starting at frame 0, hop, 2*hop, ... (a copy)."""
    frames = np.asarray(frames, dtype=np.float32)
    count = 0 if len(frames) < window_frames else 1 + (len(frames) - window_frames) // hop_frames
    starts = np.arange(count, dtype=np.int64) * hop_frames
    if count == 0:
        empty = np.zeros((0, window_frames, frames.shape[1]), dtype=np.float32)
        return WindowBatch(empty, starts)
    view = np.lib.stride_tricks.sliding_window_view(frames, window_frames, axis=0)
    windows = np.ascontiguousarray(view[::hop_frames][:count].transpose(0, 2, 1))
    return WindowBatch(windows, starts)


class Windower:
    """Streaming `frame_windows`: push frames in any chunking, get each window once it completes.

    Keeps fewer than window_frames frames between calls; window starts count from the first
    frame pushed after construction or `reset()`.
    """

    def __init__(self, window_frames: int, hop_frames: int):
        if window_frames < 1 or hop_frames < 1:
            raise ValueError("need window_frames >= 1 and hop_frames >= 1")
        self.window_frames = window_frames
        self.hop_frames = hop_frames
        self.reset()

    def reset(self) -> None:
        self._pending: np.ndarray | None = None
        self._pending_first = 0  # absolute index of _pending[0]
        self._next_start = 0  # absolute index of the next window's first frame

    @property
    def pending_frames(self) -> int:
        """Frames held for windows not yet complete (always < window_frames after process)."""
        return 0 if self._pending is None else len(self._pending)

    def process(self, frames: np.ndarray) -> WindowBatch:
        """Windows completed by these frames (n_frames x n_bands), possibly none."""
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim != 2:
            raise ValueError("frames must be a 2-D array (n_frames x n_bands)")
        if self._pending is None:
            self._pending = np.zeros((0, frames.shape[1]), dtype=np.float32)
        self._pending = np.concatenate([self._pending, frames])
        self._drop_until(self._next_start)
        batch = frame_windows(self._pending, self.window_frames, self.hop_frames)
        first_frames = batch.first_frames + self._pending_first
        self._next_start += len(first_frames) * self.hop_frames
        self._drop_until(self._next_start)
        return WindowBatch(batch.windows, first_frames)

    def _drop_until(self, frame_index: int) -> None:
        """Forget the pending frames before absolute frame `frame_index` (never needed again)."""
        dropped = min(max(frame_index - self._pending_first, 0), len(self._pending))
        self._pending = self._pending[dropped:]
        self._pending_first += dropped


def load_interpreter(model_path: str | Path, num_threads: int = 1) -> Any:
    """A TFLite interpreter with tensors allocated, from the first runtime that is installed:
    ai_edge_litert, then tflite_runtime, then (only if both are missing) TensorFlow."""
    interpreter_class = _interpreter_class()
    try:
        with stderr_silenced():  # LiteRT announces its XNNPACK delegate on fd 2
            interpreter = interpreter_class(model_path=str(model_path), num_threads=num_threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        reason = " ".join(str(err).split())  # one line: the CLI prints errors as one line
        raise InferenceRuntimeError(
            f"the TFLite runtime cannot run {model_path} ({reason}); install a current "
            "ai-edge-litert or re-export the model with a matching TensorFlow"
        ) from None
    return interpreter


def runtime_name() -> str:
    """Module path of the interpreter `load_interpreter` uses here."""
    return _interpreter_class().__module__


def _interpreter_class() -> type:
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter
    except (ImportError, AttributeError):  # its last release fails to import with numpy 2
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter
    except ImportError:
        raise InferenceRuntimeError(
            "no TFLite runtime is installed; install ai-edge-litert (pip install ai-edge-litert)"
        ) from None


@dataclass(frozen=True)
class TensorQuantization:
    """Affine quantization of a tensor: real = scale * (q - zero_point); scale 0 means float."""

    dtype: type
    scale: float
    zero_point: int

    @property
    def is_quantized(self) -> bool:
        return self.scale != 0.0


class WindowClassifier:
    """Class posteriors (float32, n x n_classes) of windows, from a bundle's int8 or float model."""

    def __init__(self, bundle: ModelBundle, num_threads: int = 1, max_batch: int = MAX_BATCH):
        self.bundle = bundle
        self.num_threads = num_threads
        m = bundle.manifest
        self.window_frames = m.window_frames
        self.n_bands = bundle.feature_params.n_bands
        self.n_classes = m.n_classes
        self._runners: dict[int, tuple[Any, int, int]] = {}
        first = self._runner(1)[0]
        inp, out = first.get_input_details()[0], first.get_output_details()[0]
        if tuple(inp["shape"][1:]) != (self.window_frames, self.n_bands):
            raise ModelBundleError(
                f"{bundle.tflite_path} takes windows of shape {tuple(inp['shape'][1:])}, "
                f"its manifest says ({self.window_frames}, {self.n_bands}); re-run quantize"
            )
        if int(out["shape"][-1]) != self.n_classes:
            raise ModelBundleError(
                f"{bundle.tflite_path} outputs {out['shape'][-1]} classes, its manifest lists "
                f"{self.n_classes}; re-run quantize"
            )
        self.input_quant = _quantization(inp)
        self.output_quant = _quantization(out)
        resizable = int(inp["shape_signature"][0]) == -1  # else a model exported with batch 1
        self.max_batch = max(1, max_batch) if resizable else 1

    def _runner(self, batch: int) -> tuple[Any, int, int]:
        """(interpreter, input index, output index) for one batch size; one interpreter per size
        used (powers of two up to max_batch), so no call pays for a resize."""
        if batch not in self._runners:
            interpreter = load_interpreter(self.bundle.tflite_path, self.num_threads)
            index = interpreter.get_input_details()[0]["index"]
            if batch != 1:
                interpreter.resize_tensor_input(
                    index, [batch, self.window_frames, self.n_bands], strict=True
                )
                interpreter.allocate_tensors()
            output = interpreter.get_output_details()[0]["index"]
            self._runners[batch] = (interpreter, index, output)
        return self._runners[batch]

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Posteriors of windows (n x window_frames x n_bands float32) -> n x n_classes float32."""
        x = np.asarray(windows, dtype=np.float32)
        if x.ndim != 3 or x.shape[1:] != (self.window_frames, self.n_bands):
            raise ValueError(
                f"windows must have shape (n, {self.window_frames}, {self.n_bands}), got {x.shape}"
            )
        q = _quantize(x, self.input_quant)
        raw = np.empty((len(x), self.n_classes), dtype=self.output_quant.dtype)
        done = 0
        while done < len(x):
            batch = min(self.max_batch, 1 << ((len(x) - done).bit_length() - 1))
            interpreter, input_index, output_index = self._runner(batch)
            interpreter.set_tensor(input_index, q[done : done + batch])
            interpreter.invoke()
            raw[done : done + batch] = interpreter.get_tensor(output_index)
            done += batch
        return _dequantize(raw, self.output_quant)


def _quantization(detail: dict) -> TensorQuantization:
    scale, zero_point = detail["quantization"]
    dtype = np.dtype(detail["dtype"]).type
    if dtype not in (np.int8, np.uint8, np.float32):
        raise InferenceRuntimeError(f"unsupported model tensor type {np.dtype(dtype).name}")
    if dtype != np.float32 and scale == 0.0:
        raise InferenceRuntimeError("the model has an integer tensor without quantization")
    return TensorQuantization(dtype, float(scale), int(zero_point))


def _quantize(x: np.ndarray, q: TensorQuantization) -> np.ndarray:
    if not q.is_quantized:
        return x.astype(q.dtype, copy=False)
    info = np.iinfo(q.dtype)
    scaled = np.rint(x / np.float32(q.scale)) + q.zero_point
    return np.clip(scaled, info.min, info.max).astype(q.dtype)


def _dequantize(raw: np.ndarray, q: TensorQuantization) -> np.ndarray:
    if not q.is_quantized:
        return raw.astype(np.float32, copy=False)
    return ((raw.astype(np.float32) - q.zero_point) * np.float32(q.scale)).astype(np.float32)
