"""Interchangeable sources of audio chunks: a WAV file, raw PCM on a stream (stdin), a microphone.

Every source has `read()` -> the next float32 mono chunk in [-1, 1] at `sample_rate_hz`, or None
at the end of the stream, `close()`, and two counters: `dropped_samples` (samples known lost or
replaced) and `overflows` (times the input could not keep up). Sources never stamp wall-clock
time: a sample's time is its position in the stream. PyAudio is imported only by
`MicrophoneSource` and `list_inputs`, so file and stdin sources work without it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Self

import numpy as np

from melodypair.shared.audio_io import DEFAULT_MAX_SECONDS, read_wav
from melodypair.shared.errors import AudioDeviceError
from melodypair.shared.quiet import stderr_silenced

log = logging.getLogger(__name__)

# name -> (numpy dtype, full scale); integer formats read as s / full scale, like audio_io.
PCM_FORMATS = {"s16le": ("<i2", 2.0**15), "s32le": ("<i4", 2.0**31), "f32le": ("<f4", 1.0)}
DEFAULT_STALL_TIMEOUT_S = 2.0  # a microphone silent for this long is gone (unplugged)
START_TIMEOUT_S = 5.0  # the first chunk may take longer (a sound server can need 2 s)
DEFAULT_QUEUE_MS = 2000.0  # captured audio the microphone source holds before it drops
OVERFLOW_LOG_INTERVAL_S = 10.0  # of audio, at most one overflow warning per interval


class AudioSource:
    """The common interface; usable as a context manager that closes the source."""

    sample_rate_hz: int
    name: str = "audio source"  # for log lines: which input this is
    dropped_samples: int = 0
    overflows: int = 0

    def read(self) -> np.ndarray | None:
        """The next chunk (float32 mono, at least one sample), or None at the end of the stream."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


class WavSource(AudioSource):
    """A WAV file (any format `read_wav` reads), mixed to mono, in chunks of `chunk_samples`;
    the last chunk may be shorter."""

    def __init__(
        self, path: str | os.PathLike, chunk_samples: int, max_seconds: float = DEFAULT_MAX_SECONDS
    ) -> None:
        self._chunk_samples = _positive_int("chunk_samples", chunk_samples)
        audio, self.sample_rate_hz = read_wav(path, max_seconds=max_seconds)
        self.name = f"WAV file {path}"
        self._audio: np.ndarray | None = audio
        self._position = 0

    def read(self) -> np.ndarray | None:
        if self._audio is None or self._position >= self._audio.size:
            return None
        start = self._position
        self._position = min(start + self._chunk_samples, self._audio.size)
        return self._audio[start : self._position].copy()

    def close(self) -> None:
        self._audio = None


class StdinPcmSource(AudioSource):
    """Raw little-endian PCM from a binary stream (e.g. `sys.stdin.buffer` fed by
    `arecord -t raw` or `parec`), `channels` interleaved channels mixed to mono.

    Reads block until a whole chunk or the end of the stream; at the end, a partial trailing
    frame is dropped. f32le samples that are NaN or infinite become 0 and count as dropped.
    The stream belongs to the caller: `close()` stops reading but does not close it.
    """

    def __init__(
        self,
        stream: BinaryIO,
        rate_hz: int,
        chunk_samples: int,
        sample_format: str = "s16le",
        channels: int = 1,
    ) -> None:
        if sample_format not in PCM_FORMATS:
            raise ValueError(
                f"sample_format must be one of {', '.join(PCM_FORMATS)}, not {sample_format!r}"
            )
        self._stream: BinaryIO | None = stream
        self.sample_rate_hz = int(rate_hz)
        self.name = f"raw {sample_format} PCM on stdin"
        self._chunk_samples = _positive_int("chunk_samples", chunk_samples)
        self._dtype, self._full_scale = PCM_FORMATS[sample_format]
        self._channels = _positive_int("channels", channels)
        self._frame_bytes = np.dtype(self._dtype).itemsize * channels
        self.dropped_samples = 0
        self.overflows = 0

    def read(self) -> np.ndarray | None:
        if self._stream is None:
            return None
        data = self._read_up_to(self._chunk_samples * self._frame_bytes)
        whole_bytes = len(data) - len(data) % self._frame_bytes
        if whole_bytes < len(data) or not data:
            if whole_bytes < len(data):
                log.warning(
                    "raw PCM input ended inside a sample frame: %d trailing bytes dropped",
                    len(data) - whole_bytes,
                )
            self._stream = None  # the end of the stream: a short read happens only there
        if whole_bytes == 0:
            return None
        samples = np.frombuffer(data[:whole_bytes], dtype=self._dtype).astype(np.float64)
        if self._full_scale == 1.0:
            bad = ~np.isfinite(samples)
            if bad.any():
                self.dropped_samples += int(bad.sum())
                samples[bad] = 0.0
            np.clip(samples, -1.0, 1.0, out=samples)
        else:
            samples /= self._full_scale
        frames = samples.reshape(-1, self._channels)
        mono = frames[:, 0] if self._channels == 1 else frames.mean(axis=1)
        return mono.astype(np.float32)

    def _read_up_to(self, n_bytes: int) -> bytes:
        """`n_bytes` bytes, fewer only at the end of the stream (raw streams return short reads)."""
        parts = []
        remaining = n_bytes
        while remaining > 0:
            part = self._stream.read(remaining)
            if not part:
                break
            parts.append(part)
            remaining -= len(part)
        return b"".join(parts)

    def close(self) -> None:
        self._stream = None


@dataclass(frozen=True)
class InputDevice:
    """A PortAudio input device as `list_inputs` reports it."""

    index: int
    name: str
    max_input_channels: int
    default_rate_hz: int


def list_inputs() -> list[InputDevice]:
    """Every audio device with at least one input channel; AudioDeviceError without PyAudio."""
    with _pyaudio_session() as (_, pa):
        return _inputs(pa)


def _inputs(pa) -> list[InputDevice]:
    devices = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        channels = int(info.get("maxInputChannels", 0))
        if channels > 0:
            rate_hz = round(float(info.get("defaultSampleRate", 0)))
            devices.append(InputDevice(i, str(info["name"]), channels, rate_hz))
    return devices


def find_input_device(pa, device: str | int | None) -> InputDevice:
    """The default input (None or "default"), the input with this index, or the one input whose
    name contains `device` (case-insensitive; an exact name wins)."""
    inputs = _inputs(pa)
    if device is None or (isinstance(device, str) and device.strip().lower() == "default"):
        try:
            index = int(pa.get_default_input_device_info()["index"])
        except (OSError, KeyError) as err:
            raise AudioDeviceError(
                "no audio input device found (no microphone, or no sound server running); "
                "connect one or choose it with audio.input"
            ) from err
        matches = [d for d in inputs if d.index == index]
    elif isinstance(device, int) or device.strip().isdigit():
        matches = [d for d in inputs if d.index == int(device)]
    else:
        text = device.strip().lower()
        exact = [d for d in inputs if d.name.lower() == text]
        matches = exact or [d for d in inputs if text in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    available = ", ".join(f"{d.index}: {d.name}" for d in inputs) or "none"
    if not matches:
        raise AudioDeviceError(f"no audio input device matches '{device}'; inputs: {available}")
    names = ", ".join(d.name for d in matches)
    raise AudioDeviceError(f"'{device}' matches several inputs ({names}); give its index")


class MicrophoneSource(AudioSource):
    """Live capture through PyAudio (PortAudio) from an input device at its native rate.

    Capture runs in PortAudio's callback, which never blocks: it queues each chunk (up to
    `queue_ms` of audio) and returns. Input overflows (PortAudio's flag, or a full queue because
    the reader fell behind) are counted, logged at most every OVERFLOW_LOG_INTERVAL_S of audio,
    and capture goes on. A missing device, or one that stops delivering audio for
    `stall_timeout_s` (unplugged; START_TIMEOUT_S for the first chunk), raises AudioDeviceError
    with a message for the user.
    """

    def __init__(
        self,
        device: str | int | None = "default",
        rate_hz: int = 48000,
        chunk_ms: float = 20.0,
        stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S,
        queue_ms: float = DEFAULT_QUEUE_MS,
    ) -> None:
        self.sample_rate_hz = int(rate_hz)
        self.chunk_samples = max(1, round(self.sample_rate_hz * chunk_ms / 1000.0))
        self._stall_timeout_s = stall_timeout_s
        queue_chunks = max(2, math.ceil(queue_ms / chunk_ms))
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=queue_chunks)
        self._flag_overflows = 0  # counted by the callback thread only
        self._queue_drops = 0
        self._queue_dropped_samples = 0
        self._logged_overflows = 0
        self._samples_since_log = 0
        self._closed = False
        self._started = False
        self._pyaudio, self._pa = _open_pyaudio()
        try:
            self.device = find_input_device(self._pa, device)
            self.name = f"microphone '{self.device.name}'"
            self._stream, self._channels = self._open_stream()
        except BaseException:
            self._pa.terminate()
            raise

    @property
    def overflows(self) -> int:
        return self._flag_overflows + self._queue_drops

    @property
    def dropped_samples(self) -> int:
        """Samples this source dropped because the reader fell behind (PortAudio does not say
        how many an input overflow lost)."""
        return self._queue_dropped_samples

    def _open_stream(self):
        """(stream, channels): mono if the device allows it, else its first channels mixed."""
        channel_options = [1] + ([2] if self.device.max_input_channels >= 2 else [])
        error: Exception | None = None
        for channels in channel_options:
            try:
                with stderr_silenced():
                    stream = self._pa.open(
                        format=self._pyaudio.paFloat32,
                        channels=channels,
                        rate=self.sample_rate_hz,
                        input=True,
                        input_device_index=self.device.index,
                        frames_per_buffer=self.chunk_samples,
                        stream_callback=self._on_audio,
                    )
                return stream, channels
            except (OSError, ValueError) as err:
                error = err
        raise AudioDeviceError(
            f"cannot open audio input '{self.device.name}' at {self.sample_rate_hz} Hz "
            f"({_reason(error)}); try audio.rate_hz = 48000 or 44100, or another audio.input"
        ) from error

    def _on_audio(self, in_data, frame_count, time_info, status_flags):
        """PortAudio's callback thread: queue the chunk, count what is lost, never block."""
        if status_flags & self._pyaudio.paInputOverflow:
            self._flag_overflows += 1
        try:
            self._queue.put_nowait(in_data)
        except queue.Full:
            self._queue_drops += 1
            self._queue_dropped_samples += frame_count
        return None, self._pyaudio.paContinue

    def read(self) -> np.ndarray | None:
        if self._closed:
            return None
        timeout_s = (
            self._stall_timeout_s if self._started else max(self._stall_timeout_s, START_TIMEOUT_S)
        )
        try:
            data = self._queue.get(timeout=timeout_s)
        except queue.Empty:
            raise AudioDeviceError(
                f"audio input '{self.device.name}' delivered no audio for {timeout_s:g} s "
                "(unplugged or stalled?)"
            ) from None
        self._started = True
        frames = np.frombuffer(data, dtype=np.float32).reshape(-1, self._channels)
        chunk = frames[:, 0].copy() if self._channels == 1 else frames.mean(axis=1)
        self._note_overflows(chunk.size)
        return chunk.astype(np.float32, copy=False)

    def _note_overflows(self, n_samples: int) -> None:
        """Log new overflows, at most once per OVERFLOW_LOG_INTERVAL_S of audio read."""
        self._samples_since_log += n_samples
        new = self.overflows - self._logged_overflows
        first = self._logged_overflows == 0
        interval = OVERFLOW_LOG_INTERVAL_S * self.sample_rate_hz
        if new > 0 and (first or self._samples_since_log >= interval):
            log.warning(
                "audio input '%s' overflowed %d time(s) (%d in total, %d samples dropped); "
                "listening goes on",
                self.device.name,
                new,
                self.overflows,
                self.dropped_samples,
            )
            self._logged_overflows = self.overflows
            self._samples_since_log = 0

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            with contextlib.suppress(OSError):
                self._stream.stop_stream()
            self._stream.close()
        finally:
            self._pa.terminate()


def _open_pyaudio():
    """(the pyaudio module, an initialized PyAudio) or AudioDeviceError if PyAudio is missing."""
    try:
        import pyaudio
    except ImportError as err:
        raise AudioDeviceError(
            "the microphone needs PyAudio: pip install 'melodypair[device]' "
            "(build it after apt-get install portaudio19-dev)"
        ) from err
    with stderr_silenced():
        return pyaudio, pyaudio.PyAudio()


@contextlib.contextmanager
def _pyaudio_session() -> Iterator[tuple]:
    pyaudio, pa = _open_pyaudio()
    try:
        yield pyaudio, pa
    finally:
        pa.terminate()


def _reason(err: BaseException | None) -> str:
    return " ".join(str(err).split()) or type(err).__name__
