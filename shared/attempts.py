"""Guess limiting: one pairing session at a time, back-off after failures, a daily lock-out.

Each failed attempt in which the other side could have tested a melody guess (it got our
confirmation tag) is a failure. After n consecutive failures the next attempt waits
`backoff_base_ms * 2^(n-1)` (capped); after `max_failures` failures within 24 hours pairing is
locked out until the oldest of them is 24 hours old. The record lives in the store directory
(attempts.json, 0600, atomic writes), so a restart does not reset it. It also remembers recent
HELLO nonces, so frames replayed from an earlier session are recognised.
Times here are wall-clock epoch milliseconds: back-off has to survive a reboot.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from melodypair.shared.keystore import (
    atomic_write_bytes,
    check_private,
    ensure_private_dir,
    exclusive_lock,
    iso_utc,
)
from melodypair.shared.pairing_errors import (
    KeyStoreError,
    PairingBusy,
    RetryTooSoon,
    TooManyAttempts,
)

ATTEMPTS_FILE = "attempts.json"
SESSION_LOCK_FILE = "pairing.lock"
ATTEMPTS_FORMAT = "melodypair-attempts"
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class AttemptPolicy:
    max_failures: int = 10
    window_ms: int = DAY_MS
    backoff_base_ms: int = 2_000
    backoff_max_ms: int = 10 * 60 * 1000
    remembered_nonces: int = 128


DEFAULT_POLICY = AttemptPolicy()


@dataclass(frozen=True)
class AttemptRecord:
    """Failure times within the window, the current run of failures, and recent nonces (hex)."""

    failures_ms: tuple[int, ...] = ()
    consecutive: int = 0
    recent_nonces: tuple[str, ...] = ()

    def known_nonces(self) -> frozenset[bytes]:
        return frozenset(bytes.fromhex(n) for n in self.recent_nonces)

    def to_json(self) -> dict:
        return {
            "format": ATTEMPTS_FORMAT,
            "version": 1,
            "failures_ms": list(self.failures_ms),
            "consecutive": self.consecutive,
            "recent_nonces": list(self.recent_nonces),
        }

    @classmethod
    def from_json(cls, document: object) -> AttemptRecord:
        if not isinstance(document, dict) or document.get("format") != ATTEMPTS_FORMAT:
            raise ValueError(f'no "format": "{ATTEMPTS_FORMAT}"')
        if document.get("version") != 1:
            raise ValueError(f"version {document.get('version')!r}, this program reads 1")
        failures = document.get("failures_ms")
        consecutive = document.get("consecutive")
        nonces = document.get("recent_nonces")
        if not isinstance(failures, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) for t in failures
        ):
            raise ValueError("failures_ms is not a list of integers")
        if not isinstance(consecutive, int) or isinstance(consecutive, bool) or consecutive < 0:
            raise ValueError("consecutive is not a count")
        if not isinstance(nonces, list) or not all(
            isinstance(n, str) and len(n) == 64 and _is_hex(n) for n in nonces
        ):
            raise ValueError("recent_nonces is not a list of 32-byte hex nonces")
        return cls(tuple(failures), consecutive, tuple(nonces))


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return True


def backoff_ms(consecutive: int, policy: AttemptPolicy = DEFAULT_POLICY) -> int:
    """Wait required after `consecutive` failures in a row (0 after none)."""
    if consecutive <= 0:
        return 0
    return min(policy.backoff_base_ms * 2 ** (consecutive - 1), policy.backoff_max_ms)


def check_allowed(
    record: AttemptRecord, now_ms: int, policy: AttemptPolicy = DEFAULT_POLICY
) -> None:
    """Raise TooManyAttempts (lock-out) or RetryTooSoon (back-off) unless an attempt may start."""
    recent = sorted(t for t in record.failures_ms if now_ms - t < policy.window_ms)
    if len(recent) >= policy.max_failures:
        lifts_ms = recent[-policy.max_failures] + policy.window_ms
        raise TooManyAttempts(
            f"too many failed pairings: {len(recent)} in the last 24 hours; pairing is locked "
            f"out until {iso_utc(lifts_ms)} (UTC)"
        )
    if recent and record.consecutive:
        ready_ms = recent[-1] + backoff_ms(record.consecutive, policy)
        if now_ms < ready_ms:
            wait_s = -(-(ready_ms - now_ms) // 1000)
            raise RetryTooSoon(
                f"the last pairing failed; wait {wait_s} s before the next attempt "
                "(each failure doubles the wait)"
            )


def after_failure(
    record: AttemptRecord, now_ms: int, policy: AttemptPolicy = DEFAULT_POLICY
) -> AttemptRecord:
    """The record with one more failure at `now_ms` (old ones outside the window dropped)."""
    kept = tuple(t for t in record.failures_ms if now_ms - t < policy.window_ms)
    return replace(record, failures_ms=(*kept, now_ms), consecutive=record.consecutive + 1)


def after_success(record: AttemptRecord) -> AttemptRecord:
    """A success ends the back-off run; failures still count towards the daily lock-out."""
    return replace(record, consecutive=0)


def remember_nonces(
    record: AttemptRecord, nonces: Iterable[bytes | None], policy: AttemptPolicy = DEFAULT_POLICY
) -> AttemptRecord:
    fresh = [n.hex() for n in nonces if n]
    kept = (*record.recent_nonces, *fresh)[-policy.remembered_nonces :]
    return replace(record, recent_nonces=kept)


def load_attempts(directory: Path) -> AttemptRecord:
    """The persisted record (empty when none yet); refuses an unsafe or malformed file."""
    path = directory / ATTEMPTS_FILE
    if not os.path.lexists(path):
        return AttemptRecord()
    check_private(path, want_dir=False)
    try:
        return AttemptRecord.from_json(json.loads(path.read_bytes().decode("utf-8")))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise KeyStoreError(
            f"the attempt record {path} is damaged ({err}); pairing stays refused until it is "
            "removed by hand (removing it also resets the guess limit)"
        ) from None


def save_attempts(directory: Path, record: AttemptRecord) -> None:
    path = directory / ATTEMPTS_FILE
    try:
        atomic_write_bytes(path, (json.dumps(record.to_json()) + "\n").encode())
    except OSError as err:
        raise KeyStoreError(f"cannot write the attempt record {path}: {err}") from err


@contextlib.contextmanager
def session_lock(directory: Path) -> Iterator[None]:
    """Hold the device's single pairing-session lock, or raise PairingBusy at once."""
    ensure_private_dir(directory)
    with exclusive_lock(directory / SESSION_LOCK_FILE, blocking=False) as held:
        if not held:
            raise PairingBusy(
                "another pairing is already running on this device (one session at a time)"
            )
        yield
