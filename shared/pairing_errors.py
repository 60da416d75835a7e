"""Errors of pairing, the link and the key store, each with a short `reason` code for --json.

Every class derives from MelodypairError, so the CLI prints its message as one line (exit 1).
The `reason` strings are part of the CLI's JSON output: change them only with the docs.
"""

from __future__ import annotations

from melodypair.shared.errors import MelodypairError


class PairingError(MelodypairError):
    """A pairing attempt ended without a key."""

    reason = "pairing_failed"


class LinkError(PairingError):
    """The byte link cannot be opened, was closed, or failed while reading or writing."""

    reason = "link_error"


class PairingTimeout(PairingError):
    """The other side did not answer before a read timeout or the exchange's deadline."""

    reason = "timeout"


class ProtocolViolation(PairingError):
    """A frame was malformed, oversized, unexpected or out of order."""

    reason = "protocol_violation"


class ReflectionDetected(ProtocolViolation):
    """One of our own messages came back to us: an echoing link or an attacker."""

    reason = "reflection"


class ReplayDetected(ProtocolViolation):
    """A HELLO nonce seen in an earlier session came back: frames of an old exchange replayed."""

    reason = "replay"


class MelodyMismatch(PairingError):
    """The confirmation tags disagree: the two sides used different melodies."""

    reason = "melody_mismatch"

    def __init__(
        self, message: str = "melody mismatch: the other device heard a different melody"
    ) -> None:
        super().__init__(message)


class PeerAborted(PairingError):
    """The other side sent ABORT for a reason of its own (timeout, protocol error, busy)."""

    reason = "peer_aborted"


class PairingBusy(PairingError):
    """Another pairing session holds this key store's session lock."""

    reason = "busy"


class RetryTooSoon(PairingError):
    """Back-off after a failed pairing: the next attempt is not allowed yet."""

    reason = "backoff"


class TooManyAttempts(PairingError):
    """Lock-out: too many failed pairings in the last 24 hours."""

    reason = "too_many_attempts"


class PasswordExpired(PairingError):
    """The decoded melody is older than its lifetime (2 minutes)."""

    reason = "melody_expired"


class PasswordReused(PairingError):
    """The decoded melody was already used for one pairing attempt."""

    reason = "melody_used"


class InvalidMelody(PairingError):
    """The notes given are not a valid pairing melody (wrong length, too many wrong notes)."""

    reason = "invalid_melody"


class KeyStoreError(MelodypairError):
    """The key store is unsafe (loose permissions), unreadable, malformed or cannot be written."""

    reason = "store_error"


def reason_of(error: BaseException) -> str:
    """The --json `reason` code of an error (\"error\" for errors without one)."""
    return getattr(error, "reason", "error")
