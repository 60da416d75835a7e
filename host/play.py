"""Play audio through an output device with PyAudio, which is imported only when playing.

Every failure a user can meet (no PyAudio, no sound card, unknown device, unsupported rate)
becomes an AudioDeviceError with a one-line message instead of a PortAudio traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from melodypair.shared.errors import AudioDeviceError
from melodypair.shared.quiet import stderr_silenced

_CHUNK_SAMPLES = 1024


@dataclass(frozen=True)
class OutputDevice:
    """A PortAudio output device: its index and its name."""

    index: int
    name: str


def play_audio(
    audio: np.ndarray, sample_rate_hz: int, device: str | None = None, lead_ms: float = 100.0
) -> OutputDevice:
    """Play mono float audio in [-1, 1] to the end; `device` is an index or part of a name.

    `lead_ms` of silence go first, because some outputs swallow the first moments after opening.
    Returns the device that played it.
    """
    lead = np.zeros(round(lead_ms * sample_rate_hz / 1000.0), dtype=np.float32)
    samples = np.concatenate([lead, np.asarray(audio, dtype=np.float32).reshape(-1)])
    with _pyaudio_session() as (pyaudio, pa):
        chosen = find_output_device(pa, device)
        try:
            stream = pa.open(
                format=pyaudio.paFloat32,
                channels=1,
                rate=int(sample_rate_hz),
                output=True,
                output_device_index=chosen.index,
                frames_per_buffer=_CHUNK_SAMPLES,
            )
        except (OSError, ValueError) as err:
            raise AudioDeviceError(
                f"cannot open output '{chosen.name}' at {sample_rate_hz} Hz ({_reason(err)}); "
                "try another --rate (44100 or 48000) or --device"
            ) from err
        try:
            for start in range(0, samples.size, _CHUNK_SAMPLES):
                stream.write(samples[start : start + _CHUNK_SAMPLES].tobytes())
            stream.stop_stream()  # returns once the buffered audio has played
        except OSError as err:
            raise AudioDeviceError(f"playing on '{chosen.name}' failed: {_reason(err)}") from err
        finally:
            stream.close()
    return chosen


def default_output_device() -> OutputDevice:
    """The system's default output; AudioDeviceError when there is none (or no PyAudio)."""
    with _pyaudio_session() as (_, pa):
        return find_output_device(pa, None)


def find_output_device(pa, device: str | None) -> OutputDevice:
    """The default output, the output with this index, or the one output whose name contains
    `device` (case-insensitive; an exact name wins)."""
    if device is None:
        try:
            info = pa.get_default_output_device_info()
        except OSError as err:
            raise AudioDeviceError(
                "no audio output device found (no sound card, or no sound server running); "
                "connect one or choose it with --device"
            ) from err
        return OutputDevice(int(info["index"]), str(info["name"]))
    outputs = list_output_devices(pa)
    available = ", ".join(f"{d.index}: {d.name}" for d in outputs) or "none"
    text = device.strip()
    if text.isdigit():
        matches = [d for d in outputs if d.index == int(text)]
    else:
        exact = [d for d in outputs if d.name.lower() == text.lower()]
        matches = exact or [d for d in outputs if text.lower() in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise AudioDeviceError(f"no audio output device matches '{device}'; outputs: {available}")
    names = ", ".join(d.name for d in matches)
    raise AudioDeviceError(f"'{device}' matches several outputs ({names}); give its index")


def list_output_devices(pa) -> list[OutputDevice]:
    """Every device with at least one output channel."""
    devices = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        if int(info.get("maxOutputChannels", 0)) > 0:
            devices.append(OutputDevice(i, str(info["name"])))
    return devices


@contextmanager
def _pyaudio_session() -> Iterator[tuple]:
    """(the pyaudio module, an initialized PyAudio), terminated on exit."""
    try:
        import pyaudio
    except ImportError as err:
        raise AudioDeviceError(
            "playing needs PyAudio: pip install 'melodypair[host]' "
            "(build it after apt-get install portaudio19-dev)"
        ) from err
    with stderr_silenced():
        pa = pyaudio.PyAudio()
    try:
        yield pyaudio, pa
    finally:
        pa.terminate()


def _reason(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__
