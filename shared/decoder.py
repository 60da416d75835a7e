"""The streaming decoder: audio chunks of any size and rate -> heard notes -> pairing melodies.

A chain of small parts, each with process()/reset():
  Resampler -> FeatureExtractor -> Windower -> WindowClassifier -> NoteSmoother -> MelodyFinder
Times come from sample counts only, so a WAV file and a microphone give the same result, and
whole-file decoding is streaming decoding with one big chunk.

Each window is labelled at its `label_frame`; to give every real frame the chance to be a label
frame, the stream starts with `label_frame` frames of silence and ends with enough silence to
push its last frame through (times are reported without that padding).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from melodypair.shared.blas_threads import blas_threads
from melodypair.shared.features import FeatureExtractor
from melodypair.shared.inference import WindowClassifier, Windower
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.melody_finder import FinderParams, FoundMelody, HeardNote, MelodyFinder
from melodypair.shared.model_bundle import ModelBundle, load_bundle
from melodypair.shared.posterior_history import PosteriorHistory
from melodypair.shared.resample import Resampler
from melodypair.shared.smoothing import NoteSmoother, Segment, SmoothingParams

HISTORY_S = 20.0  # posteriors kept for the melody finder's guesses (bounded memory)


class PosteriorModel(Protocol):
    """What turns windows (n, window_frames, n_bands) into class posteriors (n, n_classes)."""

    def predict(self, windows: np.ndarray) -> np.ndarray: ...


def default_model_dir() -> Path:
    """The model shipped with the package (models/default in the repository)."""
    import melodypair.models

    return Path(melodypair.models.__file__).parent / "default"


@dataclass
class DecoderOutput:
    """What one process() or flush() call produced."""

    notes: list[HeardNote] = field(default_factory=list)
    melodies: list[FoundMelody] = field(default_factory=list)

    def extend(self, other: DecoderOutput) -> None:
        self.notes.extend(other.notes)
        self.melodies.extend(other.melodies)


class Decoder:
    """Streaming melody decoder for one input rate; see the module docstring for the chain."""

    def __init__(
        self,
        bundle: ModelBundle,
        input_rate_hz: int,
        smoothing: SmoothingParams | None = None,
        finder: FinderParams | None = None,
        num_threads: int = 1,
        classifier: PosteriorModel | None = None,
    ):
        """`classifier` replaces the bundle's int8 model (quantize's melody parity check runs the
        float model through the same decoder); the bundle still gives the geometry.
        `num_threads` bounds the threads of the whole pipeline: the interpreter's and, while
        the decoder runs, numpy's BLAS (see blas_threads)."""
        m = bundle.manifest
        self.bundle = bundle
        self.features = bundle.feature_params
        self.alphabet = bundle.alphabet
        self.input_rate_hz = input_rate_hz
        self.num_threads = num_threads
        self.smoothing = smoothing or smoothing_from_manifest(m.metrics)
        self.code = MelodyCode(self.alphabet)
        self._resampler = Resampler(input_rate_hz, self.features.sample_rate_hz)
        self._extractor = FeatureExtractor(self.features)
        self._windower = Windower(m.window_frames, m.window_hop_frames)
        self._classifier = classifier or WindowClassifier(bundle, num_threads=num_threads)
        self._smoother = NoteSmoother(len(self.alphabet), self.smoothing)
        hop = self.features.hop_samples
        self._lead_pad_samples = m.label_frame * hop
        self._history = PosteriorHistory(
            len(self.alphabet),
            capacity_windows=int(HISTORY_S * self.features.sample_rate_hz)
            // (m.window_hop_frames * hop),
            first_centre_sample=self._window_centre(0),
            step_samples=m.window_hop_frames * hop,
        )
        self._finder = MelodyFinder(self.code, finder or FinderParams(), listener=self._history)
        self._tail_pad_samples = (
            m.window_frames - m.label_frame
        ) * hop + self.features.frame_samples
        self.reset()

    def reset(self) -> None:
        for part in (
            self._resampler,
            self._extractor,
            self._windower,
            self._smoother,
            self._history,
            self._finder,
        ):
            part.reset()
        self._started = False

    def process(self, chunk: np.ndarray) -> DecoderOutput:
        """Feed audio at `input_rate_hz`; returns notes and melodies decided so far."""
        with blas_threads(self.num_threads):
            return self._process(chunk)

    def _process(self, chunk: np.ndarray) -> DecoderOutput:
        audio = self._resampler.process(np.asarray(chunk, dtype=np.float32).reshape(-1))
        if not self._started:
            audio = np.concatenate([np.zeros(self._lead_pad_samples, np.float32), audio])
            self._started = True
        return self._through_model(audio)

    def flush(self) -> DecoderOutput:
        """End of stream: decide everything still pending, then reset for a new stream."""
        with blas_threads(self.num_threads):
            return self._flush()

    def _flush(self) -> DecoderOutput:
        tail = self._resampler.flush()
        if not self._started:
            tail = np.concatenate([np.zeros(self._lead_pad_samples, np.float32), tail])
        out = self._through_model(
            np.concatenate([tail, np.zeros(self._tail_pad_samples, np.float32)])
        )
        notes = [self._heard(s) for s in self._smoother.flush()]
        out.notes.extend(notes)
        out.melodies.extend(self._finder.process(notes, decided_until_sample=2**62))
        out.melodies.extend(self._finder.flush())
        self.reset()
        return out

    def _through_model(self, audio: np.ndarray) -> DecoderOutput:
        frames = self._extractor.process(audio)
        batch = self._windower.process(frames)
        out = DecoderOutput()
        if len(batch.windows):
            posteriors = self._classifier.predict(batch.windows)
            self._history.process(posteriors)
            out.notes = [self._heard(s) for s in self._smoother.process(posteriors)]
        decided = self._window_centre(self._smoother.committed_windows)
        sounding = self._smoother.open_note
        out.melodies = self._finder.process(
            out.notes,
            decided_until_sample=decided,
            sounding=self._heard(sounding) if sounding else None,
        )
        return out

    def _window_centre(self, window: int) -> int:
        """Sample (model rate, padding removed) at the centre of window `window`'s label frame."""
        m = self.bundle.manifest
        frame = window * m.window_hop_frames + m.label_frame
        centre = frame * self.features.hop_samples + self.features.frame_samples // 2
        return centre - self._lead_pad_samples

    def _heard(self, seg: Segment) -> HeardNote:
        half_hop = self.bundle.manifest.window_hop_frames * self.features.hop_samples // 2
        return HeardNote(
            symbol=seg.note,
            name=self.alphabet.names[seg.note],
            start_sample=max(0, self._window_centre(seg.first_window) - half_hop),
            end_sample=self._window_centre(seg.last_window) + half_hop,
            confidence=seg.confidence,
            sample_rate_hz=self.features.sample_rate_hz,
        )


def smoothing_from_manifest(metrics: dict) -> SmoothingParams:
    """Smoothing tuned at training time (stored in the manifest's metrics), else the defaults.

    Only the HMM's probabilities come from the model; the decision lag (latency) is the code's."""
    tuned = metrics.get("smoothing") if isinstance(metrics, dict) else None
    if not isinstance(tuned, dict):
        return SmoothingParams()
    return replace(SmoothingParams(), **{k: v for k, v in tuned.items() if k != "lag_windows"})


def decode_audio(audio: np.ndarray, rate_hz: int, bundle: ModelBundle, **kwargs) -> DecoderOutput:
    """Whole-signal decoding through the streaming decoder, one second at a time (the result
    does not depend on the chunking; the memory does)."""
    decoder = Decoder(bundle, rate_hz, **kwargs)
    out = DecoderOutput()
    for start in range(0, len(audio), rate_hz):
        out.extend(decoder.process(audio[start : start + rate_hz]))
    out.extend(decoder.flush())
    return out


def load_default_bundle(model_dir: str | Path | None = None) -> ModelBundle:
    """The bundle at `model_dir`, or the shipped default model."""
    return load_bundle(Path(model_dir) if model_dir else default_model_dir())
