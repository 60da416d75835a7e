"""WAV reading and writing: every common format decodes exactly, every bad file says why."""

from __future__ import annotations

import os
import stat
import struct
import wave
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from melodypair.shared.audio_io import (
    dequantize,
    load_audio,
    quantize,
    quantize_pcm16,
    read_wav,
    write_wav,
)
from melodypair.shared.errors import AudioFileError, MelodypairError

RATES_HZ = (8000, 11025, 16000, 22050, 44100, 48000)
PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


# --- files written by hand, independently of the code under test ------------------------------


def _fmt_chunk(code: int, channels: int, rate_hz: int, bits: int, extensible: bool) -> bytes:
    block = channels * bits // 8
    head = struct.pack("<HHIIHH", code, channels, rate_hz, rate_hz * block, block, bits)
    if extensible:
        guid = struct.pack("<H", code) + GUID_TAIL
        head = struct.pack("<HHIIHH", EXTENSIBLE, channels, rate_hz, rate_hz * block, block, bits)
        body = head + struct.pack("<HHI", 22, bits, (1 << channels) - 1) + guid
    elif code == FLOAT:
        body = head + struct.pack("<H", 0)
    else:
        body = head
    return _chunk(b"fmt ", body)


def _chunk(chunk_id: bytes, body: bytes, declared: int | None = None) -> bytes:
    size = len(body) if declared is None else declared
    return chunk_id + struct.pack("<I", size) + body + b"\0" * (len(body) & 1)


def _riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _hand_wav(code, channels, rate_hz, bits, data: bytes, extensible=False) -> bytes:
    return _riff(_fmt_chunk(code, channels, rate_hz, bits, extensible), _chunk(b"data", data))


def _pcm_bytes(ints: np.ndarray, bits: int) -> bytes:
    """Interleaved frames (frames x channels) of signed ints as little-endian PCM of `bits`."""
    flat = ints.reshape(-1)
    if bits == 8:
        return (flat + 128).astype(np.uint8).tobytes()
    if bits == 24:
        return b"".join(int(v).to_bytes(3, "little", signed=True) for v in flat)
    return flat.astype("<i2" if bits == 16 else "<i4").tobytes()


def _random_ints(rng, frames: int, channels: int, bits: int) -> np.ndarray:
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    ints = rng.integers(lo, hi, size=(frames, channels), endpoint=True, dtype=np.int64)
    ints[:2] = [[lo] * channels, [hi] * channels]  # full scale both ways
    return ints


def _expected_from_ints(ints: np.ndarray, bits: int) -> np.ndarray:
    return np.float32(np.mean(ints / 2.0 ** (bits - 1), axis=1))


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _bad(path: Path, content: bytes, *fragments: str, **kwargs) -> None:
    path.write_bytes(content)
    _refused(path, *fragments, **kwargs)


def _refused(path, *fragments: str, **kwargs) -> None:
    with pytest.raises(AudioFileError) as info:
        read_wav(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for fragment in fragments:
        assert fragment in message


# --- reading every format ---------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", RATES_HZ)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("bits", [8, 16, 24, 32])
def test_pcm_written_by_the_stdlib_decodes_exactly(tmp_path, rate_hz, channels, bits):
    ints = _random_ints(np.random.default_rng(bits + channels), 300, channels, bits)
    path = tmp_path / "pcm.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(bits // 8)
        w.setframerate(rate_hz)
        w.writeframes(_pcm_bytes(ints, bits))
    audio, got_rate = read_wav(path)
    assert got_rate == rate_hz
    assert audio.dtype == np.float32
    assert np.array_equal(audio, _expected_from_ints(ints, bits))


def test_pcm_scaling_is_exact_at_the_extremes(tmp_path):
    ints = np.array([[-32768], [-1], [0], [1], [32767]])
    path = _write(tmp_path / "x.wav", _hand_wav(PCM, 1, 16000, 16, _pcm_bytes(ints, 16)))
    audio, _ = read_wav(path)
    assert audio.tolist() == [-1.0, -1 / 32768, 0.0, 1 / 32768, 32767 / 32768]
    u8 = _write(tmp_path / "u8.wav", _hand_wav(PCM, 1, 8000, 8, bytes([0, 128, 255])))
    assert read_wav(u8)[0].tolist() == [-1.0, 0.0, 127 / 128]


@pytest.mark.parametrize("rate_hz", RATES_HZ)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("extensible", [False, True])
def test_float_files_decode_exactly(tmp_path, rate_hz, channels, bits, extensible):
    values = np.random.default_rng(bits).uniform(-1, 1, size=(300, channels))
    values[:3] = [[-1.0] * channels, [0.0] * channels, [1.0] * channels]
    stored = values.astype("<f4" if bits == 32 else "<f8")
    data = _hand_wav(FLOAT, channels, rate_hz, bits, stored.tobytes(), extensible)
    audio, got_rate = read_wav(_write(tmp_path / "f.wav", data))
    assert got_rate == rate_hz
    assert np.array_equal(audio, np.float32(np.mean(stored.astype(np.float64), axis=1)))


@pytest.mark.parametrize("rate_hz", [8000, 48000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("bits", [8, 16, 24, 32])
def test_extensible_pcm_decodes_exactly(tmp_path, rate_hz, channels, bits):
    ints = _random_ints(np.random.default_rng(bits), 200, channels, bits)
    data = _hand_wav(PCM, channels, rate_hz, bits, _pcm_bytes(ints, bits), extensible=True)
    audio, _ = read_wav(_write(tmp_path / "e.wav", data))
    assert np.array_equal(audio, _expected_from_ints(ints, bits))


@pytest.mark.parametrize("channels", [3, 6, 8])
def test_more_channels_are_averaged(tmp_path, channels):
    ints = _random_ints(np.random.default_rng(channels), 100, channels, 16)
    data = _hand_wav(PCM, channels, 48000, 16, _pcm_bytes(ints, 16), extensible=True)
    audio, _ = read_wav(_write(tmp_path / "m.wav", data))
    assert np.array_equal(audio, _expected_from_ints(ints, 16))


def test_float_samples_beyond_full_scale_are_clipped(tmp_path):
    stored = np.array([-3.0, -1.5, 0.25, 1.5], "<f4")
    audio, _ = read_wav(
        _write(tmp_path / "f.wav", _hand_wav(FLOAT, 1, 16000, 32, stored.tobytes()))
    )
    assert audio.tolist() == [-1.0, -1.0, 0.25, 1.0]


def test_unknown_and_odd_sized_chunks_are_skipped(tmp_path):
    ints = np.arange(-5, 6).reshape(-1, 1) * 1000
    content = _riff(
        _chunk(b"JUNK", b"abc"),  # odd size, followed by a pad byte
        _fmt_chunk(PCM, 1, 16000, 16, False),
        _chunk(b"LIST", b"INFOsome text"),
        _chunk(b"data", _pcm_bytes(ints, 16)),
        _chunk(b"id3 ", b"trailing metadata"),
    )
    audio, _ = read_wav(_write(tmp_path / "c.wav", content))
    assert np.array_equal(audio, _expected_from_ints(ints, 16))


def test_data_before_fmt_and_a_wrong_riff_size_are_accepted(tmp_path):
    ints = np.array([[1], [2], [3]]) * 100
    body = b"WAVE" + _chunk(b"data", _pcm_bytes(ints, 16)) + _fmt_chunk(PCM, 1, 8000, 16, False)
    content = b"RIFF" + struct.pack("<I", 0) + body  # streaming writers leave the size at 0
    audio, _ = read_wav(_write(tmp_path / "d.wav", content))
    assert np.array_equal(audio, _expected_from_ints(ints, 16))


def test_an_odd_sized_data_chunk_without_its_pad_byte_at_the_end_is_read(tmp_path):
    content = _hand_wav(PCM, 1, 8000, 8, bytes([0, 64, 128, 192, 255]))
    audio, _ = read_wav(_write(tmp_path / "o.wav", content[:-1]))  # drop the pad byte
    assert np.array_equal(audio, np.float32((np.array([0, 64, 128, 192, 255]) - 128) / 128))


# --- bad files --------------------------------------------------------------------------------


def _valid(rate_hz=16000, frames=100) -> bytes:
    ints = np.zeros((frames, 1), np.int64)
    return _hand_wav(PCM, 1, rate_hz, 16, _pcm_bytes(ints, 16))


def test_missing_file(tmp_path):
    _refused(tmp_path / "nope.wav", "no such file")


def test_a_directory(tmp_path):
    _refused(tmp_path, "directory")


def test_not_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo.wav"
    os.mkfifo(fifo)
    _refused(fifo, "not a regular file")


def test_empty_file(tmp_path):
    _bad(tmp_path / "e.wav", b"", "empty")


@pytest.mark.parametrize(
    "content",
    [b"ID3\x03\x00 this is an mp3", b"RI", b"RIFF\x10\x00\x00\x00AVI LIST", b"\0" * 64],
)
def test_not_riff_wave(tmp_path, content):
    _bad(tmp_path / "n.wav", content, "not a WAV file")


def test_rf64_is_named(tmp_path):
    _bad(tmp_path / "r.wav", b"RF64" + _valid()[4:], "RF64")


@pytest.mark.parametrize("keep_bytes", [4, 11, 12, 16, 20, 30])
def test_truncated_header(tmp_path, keep_bytes):
    _bad(tmp_path / "t.wav", _valid()[:keep_bytes], "truncated")


@pytest.mark.parametrize("drop_bytes", [1, 2, 100, 199])
def test_truncated_data_chunk(tmp_path, drop_bytes):
    _bad(tmp_path / "t.wav", _valid()[:-drop_bytes], "truncated", "data chunk")


def test_data_chunk_that_is_not_whole_frames(tmp_path):
    content = _riff(_fmt_chunk(PCM, 2, 16000, 16, False), _chunk(b"data", b"\0" * 10))
    _bad(tmp_path / "p.wav", content, "whole number")


def test_zero_samples(tmp_path):
    content = _riff(_fmt_chunk(PCM, 1, 16000, 16, False), _chunk(b"data", b""))
    _bad(tmp_path / "z.wav", content, "zero samples")


def test_no_data_chunk(tmp_path):
    _bad(tmp_path / "n.wav", _riff(_fmt_chunk(PCM, 1, 16000, 16, False)), "no data chunk")


@pytest.mark.parametrize(("code", "label"), [(2, "ADPCM"), (7, "mu-law"), (0x55, "MP3")])
def test_unsupported_format_code(tmp_path, code, label):
    content = _hand_wav(code, 1, 16000, 16, b"\0" * 64)
    _bad(tmp_path / "c.wav", content, "unsupported format code", label)


def test_unsupported_extensible_sub_format(tmp_path):
    content = bytearray(_hand_wav(PCM, 1, 16000, 16, b"\0" * 64, extensible=True))
    guid_at = content.index(GUID_TAIL)
    content[guid_at + 3] ^= 0xFF
    _bad(tmp_path / "s.wav", bytes(content), "sub-format")


@pytest.mark.parametrize(("code", "bits"), [(PCM, 12), (PCM, 64), (PCM, 4), (FLOAT, 16)])
def test_unsupported_bit_depth(tmp_path, code, bits):
    fmt = struct.pack("<HHIIHH", code, 1, 16000, 16000 * 2, 2, bits)
    content = _riff(_chunk(b"fmt ", fmt), _chunk(b"data", b"\0" * 64))
    _bad(tmp_path / "b.wav", content, "bit depth")


@pytest.mark.parametrize(("tag", "size"), [(PCM, 14), (EXTENSIBLE, 18), (EXTENSIBLE, 38)])
def test_fmt_chunk_too_short(tmp_path, tag, size):
    fmt = struct.pack("<HHIIHH", tag, 1, 16000, 32000, 2, 16) + b"\0" * 24
    content = _riff(_chunk(b"fmt ", fmt[:size]), _chunk(b"data", b"\0" * 64))
    _bad(tmp_path / "f.wav", content, "malformed", "fmt chunk")


def test_inconsistent_block_align(tmp_path):
    fmt = struct.pack("<HHIIHH", PCM, 2, 16000, 64000, 2, 16)
    content = _riff(_chunk(b"fmt ", fmt), _chunk(b"data", b"\0" * 64))
    _bad(tmp_path / "a.wav", content, "block align")


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("bits", [32, 64])
def test_nan_or_inf_samples(tmp_path, bad_value, bits):
    stored = np.array([0.0, 0.5, bad_value, 0.1], "<f4" if bits == 32 else "<f8")
    content = _hand_wav(FLOAT, 1, 16000, bits, stored.tobytes())
    _bad(tmp_path / "n.wav", content, "NaN or infinite")


def test_float64_too_large_for_float32_is_clipped_not_infinite(tmp_path):
    stored = np.array([1e300, -1e300, 0.5], "<f8")
    audio, _ = read_wav(
        _write(tmp_path / "big.wav", _hand_wav(FLOAT, 1, 8000, 64, stored.tobytes()))
    )
    assert audio.tolist() == [1.0, -1.0, 0.5]


def test_longer_than_max_seconds(tmp_path):
    path = _write(tmp_path / "long.wav", _valid(rate_hz=8000, frames=16001))
    _refused(path, "2.0 s long", "limit of 2 s", max_seconds=2.0)
    assert len(read_wav(path, max_seconds=2.1)[0]) == 16001


def test_the_default_limit_is_600_seconds(tmp_path):
    frames = 8000 * 600 + 1
    path = _write(tmp_path / "long.wav", _hand_wav(PCM, 1, 8000, 8, b"\x80" * frames))
    _refused(path, "limit of 600 s")


@pytest.mark.parametrize("channels", [0, 9, 64])
def test_absurd_channel_count(tmp_path, channels):
    fmt = struct.pack("<HHIIHH", PCM, channels, 16000, 0, 2 * channels, 16)
    content = _riff(_chunk(b"fmt ", fmt), _chunk(b"data", b"\0" * 256))
    _bad(tmp_path / "c.wav", content, "channels")


@pytest.mark.parametrize("rate_hz", [0, 4000, 7999, 192001, 384000])
def test_sample_rate_out_of_range(tmp_path, rate_hz):
    _bad(tmp_path / "r.wav", _valid(rate_hz=rate_hz), f"sample rate {rate_hz} Hz")


def test_rates_at_the_limits_are_accepted(tmp_path):
    for rate_hz in (8000, 192000):
        assert read_wav(_write(tmp_path / "ok.wav", _valid(rate_hz=rate_hz)))[1] == rate_hz


def test_a_path_through_a_file_cannot_be_read(tmp_path):
    _write(tmp_path / "file.wav", _valid())
    _refused(tmp_path / "file.wav" / "inner.wav", "cannot read")


def test_file_errors_are_melodypair_errors_for_the_cli():
    assert issubclass(AudioFileError, MelodypairError)


def _valid_files() -> list[bytes]:
    rng = np.random.default_rng(7)
    ints = _random_ints(rng, 40, 2, 24)
    floats = rng.uniform(-1, 1, (40, 2)).astype("<f4").tobytes()
    return [
        _valid(frames=40),
        _hand_wav(PCM, 2, 44100, 24, _pcm_bytes(ints, 24), extensible=True),
        _hand_wav(FLOAT, 2, 48000, 32, floats),
        _riff(_chunk(b"LIST", b"abc"), _fmt_chunk(PCM, 1, 8000, 8, False), _chunk(b"data", b"x")),
    ]


def _only_audio_file_errors(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    try:
        audio, rate_hz = read_wav(path)
    except AudioFileError as err:
        assert str(path) in str(err)
        return
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 0
    assert np.all(np.abs(audio) <= 1.0)
    assert 8000 <= rate_hz <= 192000


_FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_FUZZ
@given(content=st.binary(max_size=200), riff_prefix=st.booleans())
def test_random_bytes_raise_only_audio_file_errors(tmp_path, content, riff_prefix):
    if riff_prefix:
        content = b"RIFF" + struct.pack("<I", len(content) + 4) + b"WAVE" + content
    _only_audio_file_errors(tmp_path / "fuzz.wav", content)


_FMT_BODIES = st.one_of(
    st.binary(max_size=48),
    st.builds(
        lambda code, channels, rate_hz, block, bits, tail: (
            struct.pack("<HHIIHH", code, channels, rate_hz, 0, block, bits) + tail
        ),
        code=st.sampled_from([PCM, FLOAT, EXTENSIBLE, 2, 0]),
        channels=st.integers(0, 10),
        rate_hz=st.sampled_from([0, 8000, 44100, 2**32 - 1]),
        block=st.integers(0, 20),
        bits=st.sampled_from([0, 8, 16, 24, 32, 64]),
        tail=st.one_of(st.binary(max_size=30), st.just(b"\x16\x00\x10\x00\x03\x00\x00\x00")),
    ),
)
_CHUNKS = st.lists(
    st.one_of(
        st.tuples(st.just(b"fmt "), _FMT_BODIES),
        st.tuples(st.sampled_from([b"data", b"LIST", b"fact", b"fmt "]), st.binary(max_size=40)),
    ),
    max_size=4,
)


@_FUZZ
@given(chunks=_CHUNKS, size_errors=st.lists(st.integers(-8, 2**32 - 1), max_size=4))
def test_random_chunk_lists_raise_only_audio_file_errors(tmp_path, chunks, size_errors):
    parts = []
    for i, (chunk_id, body) in enumerate(chunks):
        declared = len(body) if i >= len(size_errors) else max(0, len(body) + size_errors[i])
        parts.append(_chunk(chunk_id, body, min(declared, 2**32 - 1)))
    _only_audio_file_errors(tmp_path / "chunks.wav", _riff(*parts))


@_FUZZ
@given(which=st.integers(0, 3), cut=st.integers(0, 400))
def test_truncated_valid_files_raise_only_audio_file_errors(tmp_path, which, cut):
    content = _valid_files()[which]
    _only_audio_file_errors(tmp_path / "cut.wav", content[: min(cut, len(content))])


@_FUZZ
@given(
    which=st.integers(0, 3),
    edits=st.lists(st.tuples(st.integers(0, 120), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_corrupted_valid_files_raise_only_audio_file_errors(tmp_path, which, edits):
    content = bytearray(_valid_files()[which])
    for at, value in edits:
        content[at % len(content)] = value
    _only_audio_file_errors(tmp_path / "bad.wav", bytes(content))


# --- writing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", RATES_HZ)
@pytest.mark.parametrize("bits", [16, 24, 32, "float32"])
def test_read_of_write_is_dequantize_of_quantize_exactly(tmp_path, rate_hz, bits):
    x = np.random.default_rng(11).uniform(-1.2, 1.2, 501).astype(np.float32)  # some clip
    x[:3] = [-1.0, 0.0, 1.0]
    path = tmp_path / "w.wav"
    write_wav(path, x, rate_hz, bits=bits)
    audio, got_rate = read_wav(path)
    assert got_rate == rate_hz
    assert np.array_equal(audio, dequantize(quantize(x, bits), bits))
    assert path.stat().st_size % 2 == 0  # odd-sized data is padded


def test_pcm16_quantization_is_round_clip_times_32767_read_as_over_32768(tmp_path):
    x = np.array([-1.5, -1.0, -0.5, -1e-5, 0.0, 2e-5, 0.5, 0.99999, 1.0, 7.0])
    expected = np.round(np.clip(x, -1, 1) * 32767).astype(np.int16)
    assert np.array_equal(quantize_pcm16(x), expected)
    write_wav(tmp_path / "q.wav", x, 16000)
    audio, _ = read_wav(tmp_path / "q.wav")
    assert np.array_equal(audio, np.float32(expected / 32768.0))


@pytest.mark.parametrize("bits", [16, 24, 32])
def test_written_pcm_is_read_by_the_stdlib(tmp_path, bits):
    x = np.random.default_rng(12).uniform(-1, 1, 101)
    write_wav(tmp_path / "s.wav", x, 22050, bits=bits)
    with wave.open(str(tmp_path / "s.wav"), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, bits // 8, 22050)
        raw = w.readframes(w.getnframes())
    assert raw == _pcm_bytes(quantize(x, bits).astype(np.int64), bits)


@pytest.mark.parametrize("bits", [16, 24, 32, "float32"])
def test_written_files_are_read_by_scipy(tmp_path, bits):
    from scipy.io import wavfile

    x = np.random.default_rng(13).uniform(-1, 1, 100)
    write_wav(tmp_path / "s.wav", x, 44100, bits=bits)
    rate_hz, data = wavfile.read(tmp_path / "s.wav")
    assert rate_hz == 44100
    if bits == 24:  # scipy puts 24-bit samples in the top of int32
        data = data >> 8
    assert np.array_equal(data, quantize(x, bits))


def test_write_replaces_atomically_and_leaves_no_temporary_files(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, np.full(10, 0.5), 16000)
    write_wav(path, np.full(20, -0.5), 8000)
    audio, rate_hz = read_wav(path)
    assert (len(audio), rate_hz) == (20, 8000)
    assert [p.name for p in tmp_path.iterdir()] == ["a.wav"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_refused_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "a.wav"
    write_wav(path, np.full(10, 0.5), 16000)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="NaN"):
        write_wav(path, np.array([0.1, np.nan]), 16000)
    assert path.read_bytes() == before
    with pytest.raises(AudioFileError, match="cannot write"):
        write_wav(tmp_path, np.full(10, 0.5), 16000)  # a directory is in the way
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav"]


def test_write_into_a_missing_directory(tmp_path):
    target = tmp_path / "missing" / "a.wav"
    with pytest.raises(AudioFileError, match="cannot write") as info:
        write_wav(target, np.zeros(10), 16000)
    assert str(target) in str(info.value)


@pytest.mark.parametrize(
    ("audio", "rate_hz", "bits", "match"),
    [
        (np.zeros((10, 2)), 16000, 16, "mono"),
        (np.zeros(0), 16000, 16, "non-empty"),
        (np.array([np.inf]), 16000, 16, "NaN or infinite"),
        (np.zeros(10), 4000, 16, "sample rate"),
        (np.zeros(10), 16000.0, 16, "integer"),
        (np.zeros(10), 16000, 8, "bits"),
        (np.zeros(10), 16000, "float64", "bits"),
    ],
)
def test_write_refuses_bad_arguments(tmp_path, audio, rate_hz, bits, match):
    with pytest.raises(ValueError, match=match):
        write_wav(tmp_path / "x.wav", audio, rate_hz, bits=bits)
    assert not list(tmp_path.iterdir())


# --- load_audio -------------------------------------------------------------------------------


def test_load_audio_gives_16khz_mono_with_the_tone_where_it_was(tmp_path):
    n = np.arange(48000)
    tone = np.sin(2 * np.pi * 1000.0 * n / 48000)
    stereo = np.stack([0.5 * tone, 0.25 * tone], axis=1)
    ints = np.round(stereo * 32767).astype(np.int64)
    path = tmp_path / "stereo48k.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(_pcm_bytes(ints, 16))
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) == 16000
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    assert np.fft.rfftfreq(len(audio), 1 / 16000)[np.argmax(spectrum)] == pytest.approx(1000.0)
    middle = audio[4000:12000]
    assert np.sqrt(2) * np.sqrt(np.mean(middle.astype(np.float64) ** 2)) == pytest.approx(
        0.375, rel=1e-3
    )


def test_load_audio_at_the_files_rate_is_read_wav(tmp_path):
    x = np.random.default_rng(14).uniform(-1, 1, 1000)
    write_wav(tmp_path / "a.wav", x, 16000)
    assert np.array_equal(load_audio(tmp_path / "a.wav"), read_wav(tmp_path / "a.wav")[0])


def test_load_audio_passes_max_seconds_and_file_errors_through(tmp_path):
    write_wav(tmp_path / "a.wav", np.zeros(16000 * 3), 16000)
    with pytest.raises(AudioFileError, match="limit of 2 s"):
        load_audio(tmp_path / "a.wav", max_seconds=2.0)
    with pytest.raises(AudioFileError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
