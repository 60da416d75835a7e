"""Audio sources: WAV files, raw PCM through real pipes, and a real microphone path (PulseAudio)."""

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from melodypair.device.audio_sources import (
    MicrophoneSource,
    StdinPcmSource,
    WavSource,
    list_inputs,
)
from melodypair.shared.audio_io import read_wav, write_wav
from melodypair.shared.errors import AudioDeviceError, AudioFileError

pytest_plugins = ["audio_fixture"]  # the pulse_server fixture

PROGRAM = Path(sys.executable).with_name("melodypair")
C6_HZ = 1046.5023


def _drain(source) -> list[np.ndarray]:
    chunks = []
    while (chunk := source.read()) is not None:
        chunks.append(chunk)
    return chunks


# --- WavSource -------------------------------------------------------------------------------


def test_wav_source_delivers_the_whole_file_in_chunks(tmp_path):
    path = tmp_path / "noise.wav"
    audio = np.random.default_rng(1).uniform(-1, 1, 10_250).astype(np.float32)
    write_wav(path, audio, 22050, bits="float32")
    with WavSource(path, chunk_samples=1000) as source:
        assert source.sample_rate_hz == 22050
        chunks = _drain(source)
        assert source.read() is None  # the end stays the end
    assert [c.size for c in chunks] == [1000] * 10 + [250]
    assert all(c.dtype == np.float32 for c in chunks)
    assert np.array_equal(np.concatenate(chunks), read_wav(path)[0])
    assert np.array_equal(np.concatenate(chunks), audio)
    assert (source.dropped_samples, source.overflows) == (0, 0)


def test_wav_source_after_close_reads_nothing(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, np.full(100, 0.5, dtype=np.float32), 16000)
    source = WavSource(path, chunk_samples=30)
    assert source.read().size == 30
    source.close()
    assert source.read() is None


def test_wav_source_errors(tmp_path):
    with pytest.raises(AudioFileError, match="no such file"):
        WavSource(tmp_path / "missing.wav", chunk_samples=100)
    path = tmp_path / "a.wav"
    write_wav(path, np.zeros(10, dtype=np.float32), 16000)
    with pytest.raises(ValueError, match="chunk_samples"):
        WavSource(path, chunk_samples=0)


# --- StdinPcmSource --------------------------------------------------------------------------


_INT16 = np.array([-32768, -16384, -1, 0, 1, 16384, 32767] * 300, dtype="<i2")


def test_stdin_source_reads_raw_pcm_from_a_real_pipe(tmp_path):
    """A producer process pipes PCM into a consumer process's stdin, read with StdinPcmSource."""
    payload = tmp_path / "pcm.raw"
    payload.write_bytes(_INT16.tobytes() + b"\x7f")  # plus half a sample at the end
    producer = subprocess.Popen(["cat", str(payload)], stdout=subprocess.PIPE)
    consumer_code = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from melodypair.device.audio_sources import StdinPcmSource
        source = StdinPcmSource(sys.stdin.buffer, rate_hz=16000, chunk_samples=512)
        chunks = []
        while (chunk := source.read()) is not None:
            chunks.append(chunk)
        np.save(sys.argv[1], np.concatenate(chunks))
        print(json.dumps({"sizes": [c.size for c in chunks], "rate": source.sample_rate_hz,
                          "dtype": str(chunks[0].dtype), "dropped": source.dropped_samples}))
        """
    )
    out = tmp_path / "samples.npy"
    consumer = subprocess.run(
        [sys.executable, "-c", consumer_code, str(out)],
        stdin=producer.stdout,
        capture_output=True,
        text=True,
        timeout=60,
    )
    producer.stdout.close()
    assert producer.wait(timeout=10) == 0
    assert consumer.returncode == 0, consumer.stderr
    info = json.loads(consumer.stdout)
    assert info == {"sizes": [512] * 4 + [52], "rate": 16000, "dtype": "float32", "dropped": 0}
    assert "trailing bytes dropped" in consumer.stderr
    samples = np.load(out)
    assert np.array_equal(samples, (_INT16 / 32768.0).astype(np.float32))


def test_stdin_source_waits_for_whole_chunks_from_a_slow_writer():
    """An unbuffered pipe hands over odd-sized pieces; chunks still come out whole."""
    read_fd, write_fd = os.pipe()
    data = _INT16.tobytes()

    def write_slowly() -> None:
        with os.fdopen(write_fd, "wb", buffering=0) as pipe:
            for start in range(0, len(data), 333):
                pipe.write(data[start : start + 333])
                time.sleep(0.001)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        source = StdinPcmSource(pipe, rate_hz=8000, chunk_samples=700)
        chunks = _drain(source)
    writer.join()
    assert [c.size for c in chunks] == [700] * 3
    assert np.array_equal(np.concatenate(chunks), (_INT16 / 32768.0).astype(np.float32))


def test_stdin_source_stereo_float_with_non_finite_samples():
    read_fd, write_fd = os.pipe()
    frames = np.array([[0.5, -0.5], [1.0, 0.0], [np.nan, 0.25], [2.0, np.inf]], dtype="<f4")
    os.write(write_fd, frames.tobytes())
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        source = StdinPcmSource(pipe, 48000, chunk_samples=3, sample_format="f32le", channels=2)
        chunks = _drain(source)
    # Frames mix to their mean after NaN/inf became 0 and 2.0 was clipped to 1.0.
    assert [c.tolist() for c in chunks] == [[0.0, 0.5, 0.125], [0.5]]
    assert source.dropped_samples == 2


def test_stdin_source_s32_and_bad_arguments():
    read_fd, write_fd = os.pipe()
    os.write(write_fd, np.array([-(2**31), 2**30], dtype="<i4").tobytes())
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        source = StdinPcmSource(pipe, 16000, chunk_samples=10, sample_format="s32le")
        assert source.read().tolist() == [-1.0, 0.5]
        assert source.read() is None
        with pytest.raises(ValueError, match="sample_format"):
            StdinPcmSource(pipe, 16000, 10, sample_format="u8")
        with pytest.raises(ValueError, match="channels"):
            StdinPcmSource(pipe, 16000, 10, channels=0)


def test_stdin_source_empty_stream_ends_at_once():
    read_fd, write_fd = os.pipe()
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        source = StdinPcmSource(pipe, 16000, chunk_samples=10)
        assert source.read() is None


# --- MicrophoneSource through a real PulseAudio server ---------------------------------------


def _dominant_hz(audio: np.ndarray, rate_hz: int) -> float:
    """Frequency of the strongest spectral peak of the loud part, refined by parabolic fit."""
    loud = np.flatnonzero(np.abs(audio) > 0.5 * np.abs(audio).max())
    segment = audio[loud[0] : loud[-1] + 1].astype(np.float64)
    n_fft = 1 << 20
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(segment.size), n_fft))
    k = int(spectrum.argmax())
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * rate_hz / n_fft


@pytest.mark.e2e
@pytest.mark.slow
def test_microphone_records_a_played_tone_at_its_pitch(pulse_server):
    names = [d.name for d in list_inputs()]
    assert "pulse" in names
    with MicrophoneSource("default", rate_hz=48000, chunk_ms=20) as mic:
        assert mic.sample_rate_hz == 48000
        first = mic.read()  # returns once the capture runs, so the tone cannot be missed
        assert first.size == 960
        player = subprocess.Popen(
            [str(PROGRAM), "play", "C6", "--rate", "48000"],
            env=pulse_server.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        chunks = []
        tail_chunks = 25  # 0.5 s after the player finished
        while tail_chunks > 0:
            chunk = mic.read()
            assert chunk.dtype == np.float32 and chunk.size == 960
            chunks.append(chunk)
            if player.poll() is not None:
                tail_chunks -= 1
        stdout, stderr = player.communicate(timeout=10)
        assert player.returncode == 0, stderr
        assert stdout.split() == ["C6"]
        assert mic.dropped_samples == 0
    recording = np.concatenate(chunks)
    assert np.abs(recording).max() > 0.1, "the tone never reached the microphone"
    assert abs(_dominant_hz(recording, 48000) - C6_HZ) < 1.0


@pytest.mark.e2e
def test_microphone_overflow_is_counted_and_logged_and_capture_goes_on(pulse_server, caplog):
    caplog.set_level(logging.WARNING, logger="melodypair.device.audio_sources")
    with MicrophoneSource("default", rate_hz=48000, chunk_ms=20, queue_ms=100) as mic:
        mic.read()
        time.sleep(0.6)  # the reader falls behind: 5 chunks fit in the queue, the rest drop
        chunks = [mic.read() for _ in range(20)]
        assert mic.overflows >= 5
        assert mic.dropped_samples >= 5 * 960 and mic.dropped_samples % 960 == 0
    assert all(c.size == 960 for c in chunks)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # rate-limited: one line per 10 s of audio
    assert "overflowed" in warnings[0] and "listening goes on" in warnings[0]


@pytest.mark.e2e
def test_microphone_unplugged_mid_stream_raises_a_clear_error(pulse_server):
    with MicrophoneSource("default", rate_hz=48000, chunk_ms=20, stall_timeout_s=0.5) as mic:
        mic.read()
        pulse_server.stop()  # the sound server (our "microphone") goes away
        started = time.monotonic()
        with pytest.raises(AudioDeviceError, match=r"delivered no audio for 0\.5 s \(unplugged"):
            for _ in range(500):  # what was queued before the server died, then the stall
                mic.read()
        assert time.monotonic() - started < 5


@pytest.mark.e2e
def test_microphone_that_does_not_exist_is_named_in_the_error(pulse_server):
    with pytest.raises(AudioDeviceError, match="no audio input device matches 'usb mic'; inputs: "):
        MicrophoneSource("usb mic")
    with pytest.raises(AudioDeviceError, match="no audio input device matches '99'"):
        MicrophoneSource(99)


@pytest.mark.e2e
def test_microphone_without_a_sound_server_raises_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'no-server'}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    with pytest.raises(AudioDeviceError, match=r"audio input|no audio input device"):
        MicrophoneSource("default", rate_hz=48000)
