"""Frames: exact layout, every malformed case rejected early, and a fuzz of the parser."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from melodypair.shared.framing import (
    HEADER_BYTES,
    MAX_FRAME_BYTES,
    AbortCode,
    Frame,
    FrameDecoder,
    FrameType,
    decode_abort,
    decode_hello,
    encode_abort,
    encode_frame,
    encode_hello,
    parse_frame,
    parse_header,
)
from melodypair.shared.pairing_errors import ProtocolViolation

NONCE = bytes(range(32))


def test_layout_is_magic_version_type_length_payload():
    frame = encode_frame(FrameType.CONFIRM, b"\xaa" * 32)
    assert frame[:6] == b"MP\x01\x03\x00\x20"
    assert frame[6:] == b"\xaa" * 32
    assert encode_abort(AbortCode.MISMATCH) == b"MP\x01\x04\x00\x01\x01"


def test_hello_round_trip_keeps_nonce_and_name():
    frame = parse_frame(encode_hello(NONCE, "kitchen-pi ü"))
    assert frame.type is FrameType.HELLO
    hello = decode_hello(frame.payload)
    assert hello.nonce == NONCE
    assert hello.identity == "kitchen-pi ü"


@pytest.mark.parametrize(
    "frame_type, payload",
    [
        (FrameType.PAKE, b"A" * 32),
        (FrameType.PAKE, b"A" * 34),
        (FrameType.CONFIRM, b"x" * 31),
        (FrameType.ABORT, b""),
        (FrameType.HELLO, NONCE),
        (FrameType.HELLO, NONCE + b"n" * 65),
    ],
)
def test_encoder_refuses_wrong_payload_lengths(frame_type, payload):
    with pytest.raises(ValueError):
        encode_frame(frame_type, payload)


@pytest.mark.parametrize("name", ["", "a" * 65, "tab\there", "new\nline"])
def test_encoder_refuses_bad_names(name):
    with pytest.raises(ValueError):
        encode_hello(NONCE, name)


@pytest.mark.parametrize(
    "header, words",
    [
        (b"XX\x01\x01\x00\x21", "garbage"),
        (b"MP\x02\x01\x00\x21", "version 2"),
        (b"MP\x01\x09\x00\x21", "unknown frame type 9"),
        (b"MP\x01\x01\xff\xff", "oversized"),
        (b"MP\x01\x01\x0f\xfb", "oversized"),
        (b"MP\x01\x02\x00\x20", "PAKE frame carries 33 bytes"),
        (b"MP\x01\x02\x00\x22", "PAKE frame carries 33 bytes"),
        (b"MP\x01\x03\x00\x40", "CONFIRM"),
        (b"MP\x01\x04\x00\x02", "ABORT"),
        (b"MP\x01\x01\x00\x20", "HELLO frame carries 33 to 96 bytes"),
        (b"MP\x01\x01\x00\x61", "HELLO frame carries 33 to 96 bytes"),
    ],
)
def test_bad_headers_are_rejected_from_the_header_alone(header, words):
    with pytest.raises(ProtocolViolation, match=words):
        parse_header(header)
    decoder = FrameDecoder()
    with pytest.raises(ProtocolViolation, match=words):
        decoder.process(header)  # no payload needed to reject it


def test_oversized_limit_is_the_frame_total():
    assert MAX_FRAME_BYTES == 4096
    with pytest.raises(ProtocolViolation, match="4097 bytes"):
        parse_header(b"MP\x01\x01" + (MAX_FRAME_BYTES - HEADER_BYTES + 1).to_bytes(2, "big"))


def test_garbage_is_rejected_at_its_first_byte():
    with pytest.raises(ProtocolViolation, match="garbage"):
        FrameDecoder().process(b"\x00")
    with pytest.raises(ProtocolViolation, match="garbage"):
        FrameDecoder().process(b"MQ")
    with pytest.raises(ProtocolViolation, match="version 7"):
        FrameDecoder().process(b"MP\x07")
    assert FrameDecoder().process(b"MP\x01") == []  # a valid prefix waits for more


def test_parse_frame_refuses_truncated_and_trailing_bytes():
    frame = encode_frame(FrameType.CONFIRM, b"t" * 32)
    with pytest.raises(ProtocolViolation, match="truncated"):
        parse_frame(frame[:5])
    with pytest.raises(ProtocolViolation, match="header says 38"):
        parse_frame(frame[:-1])
    with pytest.raises(ProtocolViolation, match="header says 38"):
        parse_frame(frame + b"\x00")


def test_decoder_reassembles_frames_split_at_every_byte():
    stream = (
        encode_hello(NONCE, "alice")
        + encode_frame(FrameType.PAKE, b"B" + b"\x01" * 32)
        + encode_frame(FrameType.CONFIRM, b"\x02" * 32)
        + encode_abort(AbortCode.TIMEOUT)
    )
    whole = FrameDecoder().process(stream)
    assert [f.type for f in whole] == [
        FrameType.HELLO,
        FrameType.PAKE,
        FrameType.CONFIRM,
        FrameType.ABORT,
    ]
    decoder = FrameDecoder()
    pieces = [f for i in range(len(stream)) for f in decoder.process(stream[i : i + 1])]
    assert pieces == whole
    assert decoder.pending_bytes == 0
    decoder.process(stream[:10])
    assert decoder.pending_bytes == 10  # a truncated frame stays pending, never half-delivered


def test_decoder_stays_failed_until_reset():
    decoder = FrameDecoder()
    with pytest.raises(ProtocolViolation):
        decoder.process(b"junk")
    with pytest.raises(ProtocolViolation):
        decoder.process(encode_abort(AbortCode.BUSY))
    decoder.reset()
    assert decoder.process(encode_abort(AbortCode.BUSY)) == [
        Frame(FrameType.ABORT, bytes([AbortCode.BUSY]))
    ]


def test_hello_with_undecodable_name_is_a_violation():
    with pytest.raises(ProtocolViolation, match="printable"):
        decode_hello(NONCE + b"\xff\xfe")
    with pytest.raises(ProtocolViolation, match="printable"):
        decode_hello(NONCE + b"bell\x07")


def test_unknown_abort_code_is_still_an_abort():
    assert decode_abort(bytes([AbortCode.MISMATCH])) is AbortCode.MISMATCH
    assert decode_abort(b"\xee") is None


_VALID_FRAMES = st.sampled_from(
    [
        encode_hello(NONCE, "x"),
        encode_frame(FrameType.PAKE, b"A" + bytes(32)),
        encode_frame(FrameType.CONFIRM, bytes(32)),
        encode_abort(AbortCode.PROTOCOL),
    ]
)


def _mutated(data: st.DataObject) -> bytes:
    """Valid frames with bytes flipped, cut, or garbage spliced in: reaches the deep paths."""
    stream = bytearray(b"".join(data.draw(st.lists(_VALID_FRAMES, max_size=4))))
    for _ in range(data.draw(st.integers(0, 3))):
        if not stream:
            break
        i = data.draw(st.integers(0, len(stream) - 1))
        stream[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(stream)))
    return bytes(stream[:cut]) + data.draw(st.binary(max_size=16))


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), chunk=st.integers(1, 64), mutate=st.booleans())
def test_fuzz_decoder_raises_only_protocol_violation(data, chunk, mutate):
    raw = _mutated(data) if mutate else data.draw(st.binary(max_size=300))
    decoder = FrameDecoder()
    try:
        for i in range(0, len(raw), chunk):
            for frame in decoder.process(raw[i : i + chunk]):
                assert HEADER_BYTES + len(frame.payload) <= MAX_FRAME_BYTES
                if frame.type is FrameType.HELLO:
                    decode_hello(frame.payload)
    except ProtocolViolation:
        pass
    with contextlib.suppress(ProtocolViolation):
        parse_frame(raw)
