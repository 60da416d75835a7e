"""Key derivation of the pairing protocol: password encoding, transcript hash, HKDF keys, tags.

Every label lives here; the known-answer tests pin what they produce, so an accidental change to
a label or an encoding fails a test instead of silently breaking pairing between versions.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PASSWORD_LABEL = b"melodypair-v1 password\x00"
TRANSCRIPT_LABEL = b"melodypair-v1 transcript\x00"
KEY_ID_LABEL = b"melodypair-v1 key id\x00"
# SPAKE2 identities: fixed per role; the devices' own names are in the transcript instead.
SPAKE2_ID_A = b"melodypair-v1 side A"
SPAKE2_ID_B = b"melodypair-v1 side B"
INFO_CONFIRM_A_TO_B = b"melodypair-v1 confirm A->B"
INFO_CONFIRM_B_TO_A = b"melodypair-v1 confirm B->A"
INFO_PAIRING_KEY = b"melodypair-v1 pairing key"
INFO_FINGERPRINT = b"melodypair-v1 fingerprint"

KEY_BYTES = 32
FINGERPRINT_DIGITS = 6
KEY_ID_HEX_CHARS = 16


def encode_password(data_symbols: Sequence[int], alphabet_size: int) -> bytes:
    """Canonical password bytes of a melody's corrected *data* symbols (never the check notes).

    label | alphabet size (2 bytes, big-endian) | symbol count (1 byte) | one byte per symbol
    """
    if not 2 <= alphabet_size <= 256:
        raise ValueError(f"alphabet size {alphabet_size} is outside 2..256")
    if not 1 <= len(data_symbols) <= 255:
        raise ValueError("a melody has 1 to 255 data symbols")
    if any(not 0 <= s < alphabet_size for s in data_symbols):
        raise ValueError("a data symbol is outside the alphabet")
    return (
        PASSWORD_LABEL
        + alphabet_size.to_bytes(2, "big")
        + bytes([len(data_symbols)])
        + bytes(data_symbols)
    )


def transcript_hash(hello_a: bytes, hello_b: bytes, pake_a: bytes, pake_b: bytes) -> bytes:
    """SHA-256 over both HELLO payloads and both PAKE messages, in A, B order, length-prefixed."""
    digest = hashlib.sha256(TRANSCRIPT_LABEL)
    for part in (hello_a, hello_b, pake_a, pake_b):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return digest.digest()


def hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int = KEY_BYTES) -> bytes:
    """HKDF-SHA256 (RFC 5869) extract-and-expand, via the cryptography library."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 (RFC 2104; test vectors in RFC 4231)."""
    return hmac.new(key, message, hashlib.sha256).digest()


@dataclass(frozen=True)
class SessionKeys:
    """The four independent keys of one exchange; none of them is ever printed or logged."""

    confirm_a_to_b: bytes = field(repr=False)
    confirm_b_to_a: bytes = field(repr=False)
    pairing_key: bytes = field(repr=False)
    fingerprint_key: bytes = field(repr=False)

    def confirm_key_of(self, sender_role: str) -> bytes:
        """The key of the tag that `sender_role` ("A" or "B") sends."""
        return {"A": self.confirm_a_to_b, "B": self.confirm_b_to_a}[sender_role]


def derive_session_keys(pake_key: bytes, transcript: bytes) -> SessionKeys:
    """HKDF-SHA256 with the SPAKE2 output as key material and the transcript hash as salt."""
    return SessionKeys(
        confirm_a_to_b=hkdf_sha256(pake_key, transcript, INFO_CONFIRM_A_TO_B),
        confirm_b_to_a=hkdf_sha256(pake_key, transcript, INFO_CONFIRM_B_TO_A),
        pairing_key=hkdf_sha256(pake_key, transcript, INFO_PAIRING_KEY),
        fingerprint_key=hkdf_sha256(pake_key, transcript, INFO_FINGERPRINT),
    )


def confirmation_tag(confirm_key: bytes, transcript: bytes) -> bytes:
    """The key-confirmation tag a side sends: HMAC-SHA256(its direction's key, transcript)."""
    return hmac_sha256(confirm_key, transcript)


def tags_equal(a: bytes, b: bytes) -> bool:
    """Constant-time comparison of two tags."""
    return hmac.compare_digest(a, b)


def fingerprint(fingerprint_key: bytes) -> str:
    """Six decimal digits a person compares on both devices (bias below 2^-40: 64 bits mod 10^6)."""
    value = int.from_bytes(fingerprint_key[:8], "big") % 10**FINGERPRINT_DIGITS
    return f"{value:0{FINGERPRINT_DIGITS}d}"


def key_id(pairing_key: bytes) -> str:
    """A public name for a pairing key: 16 hex digits of a labelled hash (reveals nothing)."""
    return hashlib.sha256(KEY_ID_LABEL + pairing_key).hexdigest()[:KEY_ID_HEX_CHARS]
