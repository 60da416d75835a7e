"""Frames of the pairing protocol: a 6-byte header, then a payload of an exact, bounded length.

    magic "MP" (2 bytes) | version (1) | type (1) | payload length (2, big-endian) | payload

Every check happens as early as the bytes allow: a wrong magic, version, type or length is
rejected from the header alone, so a hostile peer cannot make us wait for (or buffer) a payload
that could never be valid. Any error raises ProtocolViolation; nothing else escapes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from melodypair.shared.pairing_errors import ProtocolViolation

MAGIC = b"MP"
VERSION = 1
HEADER = struct.Struct(">2sBBH")
HEADER_BYTES = HEADER.size
MAX_FRAME_BYTES = 4096

NONCE_BYTES = 32
MAX_IDENTITY_BYTES = 64
PAKE_BYTES = 33  # the spake2 side byte ("A" or "B") and a 32-byte Ed25519 point
TAG_BYTES = 32  # HMAC-SHA256


class FrameType(IntEnum):
    HELLO = 1
    PAKE = 2
    CONFIRM = 3
    ABORT = 4


class AbortCode(IntEnum):
    """Why a side gave up; the only payload of an ABORT frame (one byte)."""

    MISMATCH = 1
    PROTOCOL = 2
    TIMEOUT = 3
    BUSY = 4
    CANCELLED = 5

    @property
    def description(self) -> str:
        return _ABORT_TEXT[self]


_ABORT_TEXT = {
    AbortCode.MISMATCH: "its confirmation check failed (different melody)",
    AbortCode.PROTOCOL: "it received a malformed or unexpected message",
    AbortCode.TIMEOUT: "it timed out",
    AbortCode.BUSY: "it is busy or not allowed to pair right now",
    AbortCode.CANCELLED: "it was cancelled",
}

# Inclusive (min, max) payload length of each frame type.
PAYLOAD_BYTES: dict[FrameType, tuple[int, int]] = {
    FrameType.HELLO: (NONCE_BYTES + 1, NONCE_BYTES + MAX_IDENTITY_BYTES),
    FrameType.PAKE: (PAKE_BYTES, PAKE_BYTES),
    FrameType.CONFIRM: (TAG_BYTES, TAG_BYTES),
    FrameType.ABORT: (1, 1),
}


@dataclass(frozen=True)
class Frame:
    type: FrameType
    payload: bytes


@dataclass(frozen=True)
class Hello:
    """A HELLO payload: a fresh random nonce and the sender's human-readable identity."""

    nonce: bytes
    identity: str


def check_identity(identity: str) -> bytes:
    """UTF-8 bytes of a device identity; raises ValueError unless printable, 1-64 bytes."""
    raw = identity.encode("utf-8")
    if not 1 <= len(raw) <= MAX_IDENTITY_BYTES or not identity.isprintable():
        raise ValueError(
            f"a device name must be 1 to {MAX_IDENTITY_BYTES} bytes of printable text, "
            f"not {identity!r}"
        )
    return raw


def encode_frame(frame_type: FrameType, payload: bytes) -> bytes:
    """Header + payload; a payload length outside the type's bounds is a programming error."""
    lo, hi = PAYLOAD_BYTES[frame_type]
    if not lo <= len(payload) <= hi:
        raise ValueError(f"{frame_type.name} payload must be {lo}-{hi} bytes, not {len(payload)}")
    return HEADER.pack(MAGIC, VERSION, frame_type, len(payload)) + payload


def encode_hello(nonce: bytes, identity: str) -> bytes:
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"a HELLO nonce is {NONCE_BYTES} bytes")
    return encode_frame(FrameType.HELLO, nonce + check_identity(identity))


def encode_abort(code: AbortCode) -> bytes:
    return encode_frame(FrameType.ABORT, bytes([code]))


def _garbage() -> ProtocolViolation:
    return ProtocolViolation(
        "protocol violation: garbage on the link (not a melodypair frame); "
        "is something else talking on this link?"
    )


def _wrong_version(version: int) -> ProtocolViolation:
    return ProtocolViolation(
        f"protocol violation: the other side speaks melodypair protocol version {version}, "
        f"this side speaks version {VERSION}; update both devices"
    )


def parse_header(header: bytes) -> tuple[FrameType, int]:
    """(type, payload length) of a complete 6-byte header, or ProtocolViolation."""
    if len(header) != HEADER_BYTES:
        raise ProtocolViolation(f"protocol violation: a frame header is {HEADER_BYTES} bytes")
    magic, version, type_code, length = HEADER.unpack(header)
    if magic != MAGIC:
        raise _garbage()
    if version != VERSION:
        raise _wrong_version(version)
    try:
        frame_type = FrameType(type_code)
    except ValueError:
        raise ProtocolViolation(f"protocol violation: unknown frame type {type_code}") from None
    if HEADER_BYTES + length > MAX_FRAME_BYTES:
        raise ProtocolViolation(
            f"protocol violation: oversized frame ({HEADER_BYTES + length} bytes; "
            f"the limit is {MAX_FRAME_BYTES})"
        )
    lo, hi = PAYLOAD_BYTES[frame_type]
    if not lo <= length <= hi:
        expected = f"{lo}" if lo == hi else f"{lo} to {hi}"
        raise ProtocolViolation(
            f"protocol violation: a {frame_type.name} frame carries {expected} bytes, "
            f"this one says {length}"
        )
    return frame_type, length


def parse_frame(data: bytes) -> Frame:
    """Exactly one complete frame, nothing missing and nothing after it."""
    if len(data) < HEADER_BYTES:
        raise ProtocolViolation(f"protocol violation: truncated frame ({len(data)} bytes)")
    frame_type, length = parse_header(bytes(data[:HEADER_BYTES]))
    if len(data) != HEADER_BYTES + length:
        raise ProtocolViolation(
            f"protocol violation: {frame_type.name} frame of {len(data)} bytes, "
            f"its header says {HEADER_BYTES + length}"
        )
    return Frame(frame_type, bytes(data[HEADER_BYTES:]))


def decode_hello(payload: bytes) -> Hello:
    """Nonce and identity of a HELLO payload (its length already checked by the header)."""
    nonce, raw_identity = payload[:NONCE_BYTES], payload[NONCE_BYTES:]
    try:
        identity = raw_identity.decode("utf-8")
        check_identity(identity)
    except ValueError:
        raise ProtocolViolation(
            "protocol violation: the other side's name is not printable UTF-8 text"
        ) from None
    return Hello(bytes(nonce), identity)


def decode_abort(payload: bytes) -> AbortCode | None:
    """The abort reason, or None for a code this version does not know (still an abort)."""
    try:
        return AbortCode(payload[0])
    except ValueError:
        return None


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, get the frames they complete.

    After a ProtocolViolation the stream is out of sync; every later `process` raises again
    until `reset()`.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._buffer = bytearray()
        self._header: tuple[FrameType, int] | None = None
        self._error: ProtocolViolation | None = None

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete frame held back; nonzero at the end means a truncated frame."""
        return len(self._buffer)

    def process(self, data: bytes) -> list[Frame]:
        if self._error is not None:
            raise self._error
        self._buffer += data
        frames: list[Frame] = []
        try:
            while True:
                if self._header is None:
                    if len(self._buffer) < HEADER_BYTES:
                        self._check_partial_header()
                        break
                    self._header = parse_header(bytes(self._buffer[:HEADER_BYTES]))
                frame_type, length = self._header
                if len(self._buffer) < HEADER_BYTES + length:
                    break
                payload = bytes(self._buffer[HEADER_BYTES : HEADER_BYTES + length])
                del self._buffer[: HEADER_BYTES + length]
                self._header = None
                frames.append(Frame(frame_type, payload))
        except ProtocolViolation as err:
            self._error = err
            raise
        return frames

    def _check_partial_header(self) -> None:
        """Reject garbage as soon as its first bytes differ from the magic and version."""
        seen = bytes(self._buffer[: len(MAGIC) + 1])
        if seen[: len(MAGIC)] != MAGIC[: len(seen)]:
            raise _garbage()
        if len(seen) > len(MAGIC) and seen[len(MAGIC)] != VERSION:
            raise _wrong_version(seen[len(MAGIC)])
