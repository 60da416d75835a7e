"""Reading and writing WAV files with numpy alone (the device carries no libsndfile).

`read_wav` parses the RIFF chunks itself because Python's `wave` module cannot read IEEE float
or WAVE_FORMAT_EXTENSIBLE files. It reads 8-bit unsigned, 16/24/32-bit signed PCM and 32/64-bit
float, 1 to 8 channels, 8 to 192 kHz, and returns mono float32. Every problem with a file raises
`AudioFileError` naming the file and the problem.

Chunks may come in any order; unknown ones are skipped (odd sizes padded). The RIFF size field is
ignored, since streaming writers often leave it wrong, but the data chunk is strict: one that
declares more bytes than the file holds, or a partial frame, is "truncated".

Sample scaling, exact per format (a read is `int / 2**(bits - 1)`, full scale is -1.0):
    8-bit unsigned   (b - 128) / 128
    16-bit           s / 32768
    24-bit           s / 8388608
    32-bit int       s / 2147483648 (rounded to float32: exact only for |s| <= 2**24)
    32/64-bit float  as stored (64-bit rounded to float32), clipped to [-1, 1]
More than one channel is mixed down by averaging the channels in float64, rounded once to float32.

`write_wav` quantizes with `round(clip(x, -1, 1) * (2**(bits - 1) - 1))`, so +1.0 does not
overflow; `dequantize` is the read scaling above. Hence read_wav(write_wav(x)) equals
dequantize(quantize(x)) exactly, a gain of 32767/32768 (-0.0003 dB) at 16 bits.
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import tempfile
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from melodypair.shared.errors import AudioFileError
from melodypair.shared.resample import resample

MIN_RATE_HZ = 8000
MAX_RATE_HZ = 192000
MAX_CHANNELS = 8
DEFAULT_MAX_SECONDS = 600.0

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# KSDATAFORMAT_SUBTYPE_* GUIDs are the format code followed by these 14 bytes.
_SUBFORMAT_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
}
_PCM_BITS = (8, 16, 24, 32)
_FLOAT_BITS = (32, 64)
_MAX_FMT_BYTES = 1024  # a real fmt chunk has 16 to 40 bytes
_READ_BLOCK_BYTES = 1 << 22
WRITE_FORMATS = (16, 24, 32, "float32")


@dataclass(frozen=True)
class WavFormat:
    """What the fmt chunk says, with EXTENSIBLE resolved to its sub-format code."""

    format_code: int  # WAVE_FORMAT_PCM or WAVE_FORMAT_IEEE_FLOAT
    channels: int
    sample_rate_hz: int
    bits: int  # container size of one sample
    block_align: int  # bytes per frame (one sample of every channel)


def read_wav(
    path: str | os.PathLike, max_seconds: float = DEFAULT_MAX_SECONDS
) -> tuple[np.ndarray, int]:
    """(mono float32 samples in [-1, 1], sample rate in Hz) of a WAV file.

    Files longer than `max_seconds` are refused before their samples are read.
    """
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, not {max_seconds!r}")
    name = os.fspath(path)
    _check_regular_file(name)
    try:
        with open(name, "rb") as f:
            file_bytes = os.fstat(f.fileno()).st_size
            fmt, data_offset, data_bytes = _find_chunks(f, file_bytes, name)
            n_frames = data_bytes // fmt.block_align
            if n_frames > max_seconds * fmt.sample_rate_hz:
                raise AudioFileError(
                    f"{name}: is {n_frames / fmt.sample_rate_hz:.1f} s long, "
                    f"more than the limit of {max_seconds:g} s"
                )
            f.seek(data_offset)
            audio = _read_samples(f, fmt, n_frames, name)
    except OSError as err:
        raise AudioFileError(f"{name}: cannot read: {err.strerror or err}") from err
    return audio, fmt.sample_rate_hz


def load_audio(
    path: str | os.PathLike,
    target_rate_hz: int = 16000,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> np.ndarray:
    """A WAV file as mono float32 at `target_rate_hz` (the model's rate): what decoding reads."""
    audio, rate_hz = read_wav(path, max_seconds=max_seconds)
    return resample(audio, rate_hz, target_rate_hz)


def _check_regular_file(name: str) -> None:
    """Refuse a missing path, a directory or a FIFO/device (opening a FIFO would block)."""
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError as err:
        raise AudioFileError(f"{name}: no such file") from err
    except (OSError, ValueError) as err:
        raise AudioFileError(
            f"{name}: cannot read: {getattr(err, 'strerror', None) or err}"
        ) from err
    if stat.S_ISDIR(mode):
        raise AudioFileError(f"{name}: is a directory, not a WAV file")
    if not stat.S_ISREG(mode):
        raise AudioFileError(f"{name}: is not a regular file")


def _find_chunks(f: BinaryIO, file_bytes: int, name: str) -> tuple[WavFormat, int, int]:
    """(format, data offset, data size in bytes) from the RIFF chunk list; other chunks skipped."""
    if file_bytes == 0:
        raise AudioFileError(f"{name}: is empty")
    header = f.read(12)
    if header[:4] == b"RF64":
        raise AudioFileError(f"{name}: is an RF64 (64-bit) WAV file, which is not supported")
    if header[:4] != b"RIFF" or (len(header) == 12 and header[8:12] != b"WAVE"):
        raise AudioFileError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    if len(header) < 12:
        raise AudioFileError(f"{name}: truncated header ({file_bytes} bytes)")
    fmt: WavFormat | None = None
    data: tuple[int, int] | None = None
    pos = 12
    while pos + 8 <= file_bytes and not (fmt and data):
        f.seek(pos)
        chunk_header = f.read(8)
        if len(chunk_header) < 8:
            raise AudioFileError(f"{name}: truncated: the file ended while reading a chunk header")
        chunk_id, size = struct.unpack("<4sI", chunk_header)
        body = pos + 8
        if chunk_id == b"fmt " and fmt is None:
            if size > _MAX_FMT_BYTES:
                raise AudioFileError(f"{name}: malformed fmt chunk ({size} bytes)")
            if body + size > file_bytes:
                raise AudioFileError(f"{name}: truncated header (the fmt chunk is cut off)")
            fmt = _parse_fmt(f.read(size), name)
        elif chunk_id == b"data" and data is None:
            if body + size > file_bytes:
                raise AudioFileError(
                    f"{name}: truncated: the data chunk declares {size} bytes "
                    f"but only {file_bytes - body} are in the file"
                )
            data = (body, size)
        pos = body + size + (size & 1)  # chunks are padded to an even size
    if fmt is None:
        raise AudioFileError(f"{name}: truncated header (no fmt chunk)")
    if data is None:
        raise AudioFileError(f"{name}: has no data chunk (truncated?)")
    offset, size = data
    if size == 0:
        raise AudioFileError(f"{name}: contains zero samples")
    if size % fmt.block_align:
        raise AudioFileError(
            f"{name}: truncated: the data chunk ({size} bytes) is not a whole number of "
            f"{fmt.block_align}-byte frames"
        )
    return fmt, offset, size


def _parse_fmt(payload: bytes, name: str) -> WavFormat:
    """Validate the fmt chunk: a format, channel count, rate and bit depth this reader handles."""
    if len(payload) < 16:
        raise AudioFileError(f"{name}: malformed fmt chunk ({len(payload)} bytes, need 16)")
    code, channels, rate_hz, _, block_align, bits = struct.unpack("<HHIIHH", payload[:16])
    if code == WAVE_FORMAT_EXTENSIBLE:
        if len(payload) < 40:
            raise AudioFileError(f"{name}: malformed extensible fmt chunk ({len(payload)} bytes)")
        valid_bits = struct.unpack("<H", payload[18:20])[0]
        guid = payload[24:40]
        if guid[2:] != _SUBFORMAT_GUID_TAIL:
            raise AudioFileError(f"{name}: unsupported extensible sub-format {guid.hex()}")
        code = struct.unpack("<H", guid[:2])[0]
        if valid_bits > bits:
            raise AudioFileError(
                f"{name}: malformed fmt chunk ({valid_bits} valid bits in {bits}-bit samples)"
            )
    if code not in (WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT):
        label = _FORMAT_NAMES.get(code, "unknown")
        raise AudioFileError(
            f"{name}: unsupported format code 0x{code:04x} ({label}); "
            "only PCM and IEEE float WAV files can be read"
        )
    if channels == 0:
        raise AudioFileError(f"{name}: declares zero channels")
    if channels > MAX_CHANNELS:
        raise AudioFileError(
            f"{name}: declares {channels} channels; at most {MAX_CHANNELS} are supported"
        )
    if not MIN_RATE_HZ <= rate_hz <= MAX_RATE_HZ:
        raise AudioFileError(
            f"{name}: sample rate {rate_hz} Hz is outside {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz"
        )
    allowed = _PCM_BITS if code == WAVE_FORMAT_PCM else _FLOAT_BITS
    if bits not in allowed:
        kind = "PCM" if code == WAVE_FORMAT_PCM else "float"
        raise AudioFileError(
            f"{name}: unsupported bit depth: {bits}-bit {kind} "
            f"(supported: {', '.join(map(str, allowed))})"
        )
    if block_align != channels * bits // 8:
        raise AudioFileError(
            f"{name}: malformed fmt chunk (block align {block_align} for {channels} x {bits} bits)"
        )
    return WavFormat(code, channels, rate_hz, bits, block_align)


def _read_samples(f: BinaryIO, fmt: WavFormat, n_frames: int, name: str) -> np.ndarray:
    """Decode `n_frames` frames at the file position into mono float32, a block at a time."""
    out = np.empty(n_frames, dtype=np.float32)
    block_frames = max(1, _READ_BLOCK_BYTES // fmt.block_align)
    for start in range(0, n_frames, block_frames):
        count = min(block_frames, n_frames - start)
        raw = f.read(count * fmt.block_align)
        if len(raw) != count * fmt.block_align:
            raise AudioFileError(f"{name}: truncated: the file ended while reading samples")
        out[start : start + count] = _decode(raw, fmt, name)
    return out


def _decode(raw: bytes, fmt: WavFormat, name: str) -> np.ndarray:
    """Whole frames of raw sample bytes -> mono float32, scaled as the module docstring says."""
    if fmt.format_code == WAVE_FORMAT_IEEE_FLOAT:
        x = np.frombuffer(raw, dtype="<f4" if fmt.bits == 32 else "<f8").astype(np.float64)
        if not np.all(np.isfinite(x)):
            raise AudioFileError(f"{name}: contains NaN or infinite samples")
        np.clip(x, -1.0, 1.0, out=x)
    elif fmt.bits == 8:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif fmt.bits == 24:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = (v - ((v & 0x800000) << 1)).astype(np.float64) / 2.0**23
    else:
        x = np.frombuffer(raw, dtype="<i2" if fmt.bits == 16 else "<i4") / 2.0 ** (fmt.bits - 1)
    frames = x.reshape(-1, fmt.channels)
    mono = frames[:, 0] if fmt.channels == 1 else frames.mean(axis=1)
    return mono.astype(np.float32)


def quantize(audio: np.ndarray, bits: int | str = 16) -> np.ndarray:
    """The samples `write_wav` stores: round(clip(x) * (2**(bits-1) - 1)) as int16/int32, or
    clipped float32 for bits="float32"."""
    x = np.clip(np.asarray(audio, dtype=np.float64), -1.0, 1.0)
    if bits == "float32":
        return x.astype(np.float32)
    if bits not in (16, 24, 32):
        raise ValueError(f"bits must be one of {WRITE_FORMATS}, not {bits!r}")
    return np.round(x * (2 ** (bits - 1) - 1)).astype(np.int16 if bits == 16 else np.int32)


def dequantize(samples: np.ndarray, bits: int | str = 16) -> np.ndarray:
    """What `read_wav` returns for stored mono samples: the inverse scaling of `quantize`."""
    if bits == "float32":
        return np.asarray(samples, dtype=np.float32)
    if bits not in (16, 24, 32):
        raise ValueError(f"bits must be one of {WRITE_FORMATS}, not {bits!r}")
    return (np.asarray(samples, dtype=np.float64) / 2.0 ** (bits - 1)).astype(np.float32)


def quantize_pcm16(audio: np.ndarray) -> np.ndarray:
    """The int16 samples a default `write_wav` stores; read back they are these / 32768."""
    return quantize(audio, 16)


def write_wav(
    path: str | os.PathLike, audio: np.ndarray, sample_rate_hz: int, bits: int | str = 16
) -> None:
    """Write mono audio as a WAV file, atomically (a temporary file, then a rename).

    `bits`: 16 (default), 24 or 32 for PCM, "float32" for IEEE float; samples are clipped to
    [-1, 1] and quantized by `quantize`.
    """
    x = np.asarray(audio)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"write_wav takes a non-empty 1-D (mono) array, not shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("write_wav was given NaN or infinite samples")
    if isinstance(sample_rate_hz, bool) or not isinstance(sample_rate_hz, int | np.integer):
        raise ValueError(f"sample_rate_hz must be an integer, not {sample_rate_hz!r}")
    if not MIN_RATE_HZ <= sample_rate_hz <= MAX_RATE_HZ:
        raise ValueError(f"sample rate {sample_rate_hz} Hz is outside {MIN_RATE_HZ}-{MAX_RATE_HZ}")
    samples = quantize(x, bits)
    if bits == 24:
        payload = samples.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        payload = samples.astype(samples.dtype.newbyteorder("<")).tobytes()
    if len(payload) > 0xFFFFFFFF - 64:
        raise ValueError("too much audio for one WAV file (4 GiB)")
    container_bits = 32 if bits == "float32" else int(bits)
    code = WAVE_FORMAT_IEEE_FLOAT if bits == "float32" else WAVE_FORMAT_PCM
    header = _wav_header(code, 1, int(sample_rate_hz), container_bits, len(x))
    pad = b"\0" * (len(payload) & 1)  # a chunk of odd size is followed by a pad byte
    _atomic_write(os.fspath(path), header + payload + pad)


def _wav_header(format_code: int, channels: int, rate_hz: int, bits: int, n_frames: int) -> bytes:
    """RIFF/WAVE header of a plain PCM (16-byte fmt) or float (18-byte fmt + fact chunk) file."""
    block_align = channels * bits // 8
    data_bytes = n_frames * block_align
    fmt = struct.pack(
        "<HHIIHH", format_code, channels, rate_hz, rate_hz * block_align, block_align, bits
    )
    chunks = b""
    if format_code != WAVE_FORMAT_PCM:
        fmt += struct.pack("<H", 0)
        chunks = b"fact" + struct.pack("<II", 4, n_frames)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + chunks
    riff_bytes = 4 + len(chunks) + 8 + data_bytes + (data_bytes & 1)
    return (
        b"RIFF"
        + struct.pack("<I", riff_bytes)
        + b"WAVE"
        + chunks
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _atomic_write(name: str, content: bytes) -> None:
    """Write `content` to a temporary file beside `name`, then rename it over `name`."""
    directory = os.path.dirname(os.path.abspath(name))
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(name)}.", suffix=".tmp", dir=directory
        )
    except OSError as err:
        raise AudioFileError(f"{name}: cannot write: {err.strerror or err}") from err
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, name)
    except OSError as err:
        _remove_quietly(tmp)
        raise AudioFileError(f"{name}: cannot write: {err.strerror or err}") from err
    except BaseException:
        _remove_quietly(tmp)
        raise


def _umask() -> int:
    """The process umask, so the file gets the usual permissions rather than mkstemp's 0600."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
