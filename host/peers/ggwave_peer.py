"""The signalling peer: ggwave, the best-known data-over-sound library, sending the same 40 bits.

ggwave 0.4.3 (pip `ggwave`, built from source with g++) works on 48 kHz float32 audio in
1024-sample frames. Its single-tone "MT" protocols need a fixed payload length (5 bytes = 40
bits); in that mode it outputs each message several times and sometimes a wrong payload first,
so the receiver takes the *first* payload it outputs, as a device would. Each receiver listens
only for the protocol under test (listening for all of them is much less reliable). The audible
multi-tone protocol is AUDIBLE_FAST, ggwave's default, in its usual variable-length mode.
ggwave is an optional dependency (the `eval` extra), never one of the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE_HZ = 48000
FRAME_SAMPLES = 1024
PAYLOAD_BYTES = 5
VOLUME = 25  # ggwave's recommended transmit volume (0-100)
_PROTOCOL_COUNT = 12  # the built-in protocols toggled off before listening for one


@dataclass(frozen=True)
class Protocol:
    """A ggwave protocol: its name, its id in ggwave's enum and whether the length is fixed."""

    name: str
    protocol_id: int
    fixed_length: bool

    @property
    def payload_length(self) -> int:
        return PAYLOAD_BYTES if self.fixed_length else -1


PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("MT_FASTEST", 11, True),
        Protocol("MT_NORMAL", 9, True),
        Protocol("AUDIBLE_FAST", 1, False),
    )
}


def available() -> bool:
    """Whether the ggwave module can be imported."""
    try:
        import ggwave  # noqa: F401
    except ImportError:
        return False
    return True


def _instance(ggwave, protocol: Protocol) -> int:
    """A ggwave instance that sends and listens with `protocol` only (rx toggles are global and
    copied into the instance when it is made)."""
    ggwave.disableLog()
    for pid in range(_PROTOCOL_COUNT):
        ggwave.rxToggleProtocol(pid, 1 if pid == protocol.protocol_id else 0)
    params = ggwave.getDefaultParameters()
    params["payloadLength"] = protocol.payload_length
    params["sampleRateInp"] = params["sampleRateOut"] = params["sampleRate"] = float(RATE_HZ)
    params["samplesPerFrame"] = FRAME_SAMPLES
    return ggwave.init(params)


def encode(payload: bytes, protocol: Protocol) -> np.ndarray:
    """The waveform (float32, RATE_HZ) that sends `payload` with `protocol`."""
    import ggwave

    if len(payload) != PAYLOAD_BYTES and protocol.fixed_length:
        raise ValueError(f"{protocol.name} sends exactly {PAYLOAD_BYTES} bytes")
    instance = _instance(ggwave, protocol)
    try:
        raw = ggwave.encode(
            payload, protocolId=protocol.protocol_id, volume=VOLUME, instance=instance
        )
    finally:
        ggwave.free(instance)
    return np.frombuffer(raw, dtype=np.float32).copy()


def receive(audio: np.ndarray, protocol: Protocol) -> bytes | None:
    """The first payload ggwave outputs while listening to `audio` (RATE_HZ), or None."""
    import ggwave

    x = np.asarray(audio, np.float32).reshape(-1)
    instance = _instance(ggwave, protocol)
    try:
        for start in range(0, x.size - FRAME_SAMPLES + 1, FRAME_SAMPLES):
            out = ggwave.decode(instance, x[start : start + FRAME_SAMPLES].tobytes())
            if out is not None:
                return bytes(out)
    finally:
        ggwave.free(instance)
    return None


def payload_of(secret: int, bits: int = 8 * PAYLOAD_BYTES) -> bytes:
    """The pairing secret as the bytes ggwave sends (big-endian)."""
    return secret.to_bytes(bits // 8, "big")


def data_symbols(payload: bytes, bits_per_symbol: int = 4) -> tuple[int, ...]:
    """Received bytes as the melody code's data symbols (nibbles), so a received payload is
    the same password a melody with that secret gives."""
    value = int.from_bytes(payload, "big")
    n = 8 * len(payload) // bits_per_symbol
    mask = (1 << bits_per_symbol) - 1
    return tuple((value >> (bits_per_symbol * (n - 1 - i))) & mask for i in range(n))
