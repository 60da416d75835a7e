"""Key derivation: RFC vectors for HKDF and HMAC, and known answers that pin every label."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from melodypair.shared import kdf

# RFC 5869 appendix A.1-A.3 (the SHA-256 cases).
RFC5869 = [
    (
        "0b" * 22,
        "000102030405060708090a0b0c",
        "f0f1f2f3f4f5f6f7f8f9",
        42,
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    ),
    (
        bytes(range(0x00, 0x50)).hex(),
        bytes(range(0x60, 0xB0)).hex(),
        bytes(range(0xB0, 0x100)).hex(),
        82,
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87",
    ),
    (
        "0b" * 22,
        "",
        "",
        42,
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
    ),
]

# RFC 4231 section 4, HMAC-SHA-256 (test case 5 is truncated to 128 bits by the RFC).
_LONG_DATA = (
    b"This is a test using a larger than block-size key and a larger than block-size data. "
    b"The key needs to be hashed before being used by the HMAC algorithm."
)
RFC4231 = [
    (b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (
        b"Jefe",
        b"what do ya want for nothing?",
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    ),
    (
        b"\xaa" * 20,
        b"\xdd" * 50,
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    ),
    (
        bytes(range(1, 26)),
        b"\xcd" * 50,
        "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    ),
    (b"\x0c" * 20, b"Test With Truncation", "a3b6167473100ee06e0c796c2955552b"),
    (
        b"\xaa" * 131,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    ),
    (b"\xaa" * 131, _LONG_DATA, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


@pytest.mark.parametrize("ikm, salt, info, length, okm", RFC5869)
def test_hkdf_matches_rfc5869(ikm, salt, info, length, okm):
    out = kdf.hkdf_sha256(bytes.fromhex(ikm), bytes.fromhex(salt), bytes.fromhex(info), length)
    assert out.hex() == okm


@pytest.mark.parametrize("key, data, mac", RFC4231)
def test_hmac_matches_rfc4231(key, data, mac):
    assert kdf.hmac_sha256(key, data).hex()[: len(mac)] == mac


# Known answers: a fixed SPAKE2 output and a fixed transcript give these keys and tags.
# If one changes, the protocol changed: bump the version in the labels and in framing.
PAKE_KEY = bytes(range(32))
HELLO_A = bytes([0xA1]) * 32 + b"alice"
HELLO_B = bytes([0xB2]) * 32 + b"bob"
PAKE_A = b"A" + bytes([0x11]) * 32
PAKE_B = b"B" + bytes([0x22]) * 32
KAT = {
    "transcript": "333be3fd2e026bd5d0c2116d52aefade11694b8ef60055d6d3bd8fb69b699ff9",
    "confirm_a_to_b": "101d496bd291248163c5d73b57dca4627ac21a22899c77bc4ea2e7897ad2dc86",
    "confirm_b_to_a": "cf37b931f5773ed63db42df17dcc01175508e0848c7e8b7d074108b07d1aa29b",
    "pairing_key": "fe11d0ec0f91e7a77e95fe27324cdf2aca3295d09c113dbb558421c241c20dec",
    "fingerprint_key": "2c988279f1a7aef4276173f5e41ffb46658183f67d2b3ee1da1fe0f38d44e8bb",
    "tag_a": "f872782b06206fab202e4fa29ae57870c1f7a1df9005209dcccc55e2472d5f82",
    "tag_b": "d094ead08d831f25426e7e0a66bb65a3bfb8442446c5b0c40d0cfd16edbb54f5",
    "fingerprint": "800948",
    "key_id": "61c17e57006df857",
}


def _rfc5869_by_hand(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """An independent 32-byte HKDF-SHA256 from the RFC's two formulas, for cross-checking."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


def test_known_answer_transcript_keys_and_tags():
    transcript = kdf.transcript_hash(HELLO_A, HELLO_B, PAKE_A, PAKE_B)
    assert transcript.hex() == KAT["transcript"]
    keys = kdf.derive_session_keys(PAKE_KEY, transcript)
    for name in ("confirm_a_to_b", "confirm_b_to_a", "pairing_key", "fingerprint_key"):
        assert getattr(keys, name).hex() == KAT[name], name
    assert kdf.confirmation_tag(keys.confirm_a_to_b, transcript).hex() == KAT["tag_a"]
    assert kdf.confirmation_tag(keys.confirm_b_to_a, transcript).hex() == KAT["tag_b"]
    assert kdf.fingerprint(keys.fingerprint_key) == KAT["fingerprint"]
    assert kdf.key_id(keys.pairing_key) == KAT["key_id"]


def test_known_answers_follow_from_the_documented_labels():
    """The pinned values are the documented construction, recomputed without kdf.py."""
    parts = [HELLO_A, HELLO_B, PAKE_A, PAKE_B]
    transcript = hashlib.sha256(
        b"melodypair-v1 transcript\x00" + b"".join(len(p).to_bytes(4, "big") + p for p in parts)
    ).digest()
    assert transcript.hex() == KAT["transcript"]
    pairing = _rfc5869_by_hand(PAKE_KEY, transcript, b"melodypair-v1 pairing key")
    assert pairing.hex() == KAT["pairing_key"]
    confirm_a = _rfc5869_by_hand(PAKE_KEY, transcript, b"melodypair-v1 confirm A->B")
    assert hmac.new(confirm_a, transcript, hashlib.sha256).hexdigest() == KAT["tag_a"]
    fp_key = _rfc5869_by_hand(PAKE_KEY, transcript, b"melodypair-v1 fingerprint")
    assert f"{int.from_bytes(fp_key[:8], 'big') % 10**6:06d}" == KAT["fingerprint"]
    key_id = hashlib.sha256(b"melodypair-v1 key id\x00" + pairing).hexdigest()[:16]
    assert key_id == KAT["key_id"]


def test_every_label_gives_a_different_key():
    keys = kdf.derive_session_keys(PAKE_KEY, bytes(32))
    values = {keys.confirm_a_to_b, keys.confirm_b_to_a, keys.pairing_key, keys.fingerprint_key}
    assert len(values) == 4
    assert all(len(v) == 32 for v in values)


def test_a_reflected_tag_does_not_verify():
    transcript = kdf.transcript_hash(HELLO_A, HELLO_B, PAKE_A, PAKE_B)
    keys = kdf.derive_session_keys(PAKE_KEY, transcript)
    tag_a = kdf.confirmation_tag(keys.confirm_key_of("A"), transcript)
    expected_from_b = kdf.confirmation_tag(keys.confirm_key_of("B"), transcript)
    assert not kdf.tags_equal(tag_a, expected_from_b)
    assert kdf.tags_equal(tag_a, bytes(tag_a))


def test_transcript_is_ordered_and_unambiguous():
    base = kdf.transcript_hash(HELLO_A, HELLO_B, PAKE_A, PAKE_B)
    assert kdf.transcript_hash(HELLO_B, HELLO_A, PAKE_A, PAKE_B) != base
    assert kdf.transcript_hash(HELLO_A, HELLO_B, PAKE_B, PAKE_A) != base
    # Moving a byte from one field to the next changes the hash (length prefixes).
    assert kdf.transcript_hash(HELLO_A + b"x", HELLO_B[:-1], PAKE_A, PAKE_B) != kdf.transcript_hash(
        HELLO_A, b"x" + HELLO_B[:-1], PAKE_A, PAKE_B
    )


def test_password_encoding_is_the_label_size_count_and_symbols():
    pw = kdf.encode_password([1, 2, 3, 4, 5, 6, 7, 8, 9, 15], 16)
    assert pw == b"melodypair-v1 password\x00" + bytes([0, 16, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15])
    assert kdf.encode_password([1, 2], 16) != kdf.encode_password([1, 2], 32)
    assert kdf.encode_password([1, 2], 16) != kdf.encode_password([1, 2, 0], 16)


@pytest.mark.parametrize(
    "data, size", [([], 16), ([16], 16), ([-1], 16), ([1], 1), ([1], 257), ([0] * 256, 16)]
)
def test_password_encoding_refuses_impossible_melodies(data, size):
    with pytest.raises(ValueError):
        kdf.encode_password(data, size)


def test_fingerprint_is_six_zero_padded_digits():
    assert kdf.fingerprint(bytes(32)) == "000000"
    assert kdf.fingerprint((1_000_000 + 42).to_bytes(8, "big") + bytes(24)) == "000042"


def test_secrets_are_not_in_repr():
    keys = kdf.derive_session_keys(PAKE_KEY, bytes(32))
    assert keys.pairing_key.hex() not in repr(keys)
    assert "pairing_key" not in repr(keys)
