"""Run one pairing: guess limits, the protocol session over a real link, then the key store.

`pair()` is the I/O edge around protocol.Session: it holds the device's session lock, refuses
attempts while backed off or locked out, counts the attempt as a failure *before* it starts (a
crash cannot refund a guess) and refunds it when the attempt succeeds or ends before the other
side could test a guess. The key is stored, atomically, only after both tags were verified.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from melodypair.shared import kdf
from melodypair.shared.attempts import (
    DEFAULT_POLICY,
    AttemptPolicy,
    AttemptRecord,
    after_failure,
    after_success,
    check_allowed,
    load_attempts,
    remember_nonces,
    save_attempts,
    session_lock,
)
from melodypair.shared.framing import AbortCode, encode_abort
from melodypair.shared.keystore import KeyStore, StoredKey, iso_utc
from melodypair.shared.link import Link
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.melody_finder import best_melody
from melodypair.shared.pairing_errors import (
    InvalidMelody,
    KeyStoreError,
    LinkError,
    PairingBusy,
    PairingError,
    PasswordExpired,
    PasswordReused,
    RetryTooSoon,
    TooManyAttempts,
)
from melodypair.shared.protocol import DEFAULT_DEADLINE_MS, AgreedKey, Done, Fail, Send, Session

PASSWORD_LIFETIME_MS = 120_000
_READ_BYTES = 4096
_MAX_READ_WAIT_S = 0.25


class Password:
    """The corrected data notes of a decoded melody, usable for one attempt within 2 minutes.

    Deliberately mutable: `take()` marks it used, so a melody cannot serve a second attempt.
    """

    def __init__(
        self,
        data: tuple[int, ...],
        alphabet_size: int,
        decoded_at_ms: int,
        corrected: int = 0,
        lifetime_ms: int = PASSWORD_LIFETIME_MS,
    ) -> None:
        self._secret = kdf.encode_password(data, alphabet_size)
        self.decoded_at_ms = decoded_at_ms
        self.corrected = corrected
        self.lifetime_ms = lifetime_ms
        self.used = False

    def __repr__(self) -> str:
        return f"Password(decoded_at_ms={self.decoded_at_ms}, used={self.used})"

    @classmethod
    def from_notes(
        cls, notes: str | list[str], now_ms: int, code: MelodyCode | None = None
    ) -> Password:
        """Decode a melody written as note names (all notes, check notes included)."""
        code = code or MelodyCode()
        result = code.decode_names(notes)
        if not result.valid:
            raise InvalidMelody(f"invalid melody: {result.reason}")
        return cls(result.melody.data, len(code.alphabet), now_ms, corrected=result.corrected)

    def take(self, now_ms: int) -> bytes:
        """The password bytes, once; refuses a stale or already used melody."""
        if self.used:
            raise PasswordReused(
                "this melody was already used for a pairing attempt; play a new one "
                "(`melodypair melody new`)"
            )
        age_ms = now_ms - self.decoded_at_ms
        if age_ms > self.lifetime_ms:
            raise PasswordExpired(
                f"the melody expired: it was heard {age_ms / 1000:.0f} s ago and is valid for "
                f"{self.lifetime_ms / 1000:.0f} s; play a new one"
            )
        self.used = True
        secret, self._secret = self._secret, b""
        return secret


def password_from_melodies(found: list, alphabet_size: int, now_ms: int, source: str) -> Password:
    """The password of the one pairing melody the decoder found; refuses none or several."""
    if not found:
        raise InvalidMelody(f"no pairing melody heard in {source}; play the melody again")
    secrets = {m.result.melody.secret for m in found}
    if len(secrets) > 1:
        raise InvalidMelody(
            f"{source} holds {len(secrets)} different pairing melodies; play just one"
        )
    best = best_melody(found)
    return Password(best.result.melody.data, alphabet_size, now_ms, best.result.corrected)


def melody_from_wav(path: str, model_dir: str | None = None) -> Password:
    """Transcribe the pairing melody recorded in a WAV file with the note recognizer."""
    from melodypair.shared.audio_io import read_wav
    from melodypair.shared.decoder import decode_audio, load_default_bundle

    bundle = load_default_bundle(model_dir)
    audio, rate = read_wav(path)
    out = decode_audio(audio, rate, bundle)
    return password_from_melodies(
        out.melodies, len(bundle.alphabet), int(time.monotonic() * 1000), path
    )


@dataclass(frozen=True)
class PairingResult:
    """What a person and a program may see of a new pairing: never the key itself."""

    key_id: str
    fingerprint: str
    peer: str
    created: str
    elapsed_ms: int


def run_session(link: Link, session: Session, clock: Callable[[], float]) -> AgreedKey:
    """Drive a session over the link until Done (returned) or Fail (raised); bounded by the
    session's deadline because every read waits at most until its next wake-up."""

    def now_ms() -> int:
        return int(clock() * 1000)

    actions = session.start(now_ms())
    while True:
        failure = next((a.reason for a in actions if isinstance(a, Fail)), None)
        for action in actions:
            if isinstance(action, Send):
                if failure is None:
                    link.write(action.data)
                else:  # a courtesy ABORT; the link may already be gone
                    with contextlib.suppress(LinkError):
                        link.write(action.data)
            elif isinstance(action, Done):
                return action.agreed
        if failure is not None:
            raise failure
        wait_s = max(session.next_wakeup_ms() - now_ms(), 0) / 1000
        data = link.read(_READ_BYTES, min(wait_s, _MAX_READ_WAIT_S))
        t = now_ms()
        actions = session.receive(data, t) if data else []
        if not session.finished:
            actions += session.tick(t)


def preflight(
    store: KeyStore,
    *,
    wall_clock: Callable[[], float] = time.time,
    policy: AttemptPolicy = DEFAULT_POLICY,
) -> AttemptRecord:
    """Refuse early, before a link is opened: damaged store, back-off or lock-out."""
    store.load()  # a damaged store fails now, before a key is negotiated and then lost
    record = load_attempts(store.directory)
    check_allowed(record, int(wall_clock() * 1000), policy)
    return record


def pair(
    link: Link,
    password: Password,
    store: KeyStore,
    identity: str,
    deadline_ms: int = DEFAULT_DEADLINE_MS,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    policy: AttemptPolicy = DEFAULT_POLICY,
) -> PairingResult:
    """Pair over `link` with whoever is at the other end, using `password` (consumed)."""
    try:
        with session_lock(store.directory):
            record = preflight(store, wall_clock=wall_clock, policy=policy)
            secret = password.take(int(clock() * 1000))
            return _pair_locked(
                link, secret, store, identity, deadline_ms, record, clock, wall_clock, policy
            )
    except (
        PairingBusy,
        RetryTooSoon,
        TooManyAttempts,
        PasswordExpired,
        PasswordReused,
        KeyStoreError,
    ):
        # Refused before (or stored nothing after) the exchange: tell the other side at once
        # instead of letting it wait for its deadline.
        with contextlib.suppress(LinkError):
            link.write(encode_abort(AbortCode.BUSY))
        raise


def _pair_locked(
    link: Link,
    secret: bytes,
    store: KeyStore,
    identity: str,
    deadline_ms: int,
    record: AttemptRecord,
    clock: Callable[[], float],
    wall_clock: Callable[[], float],
    policy: AttemptPolicy,
) -> PairingResult:
    started_wall_ms = int(wall_clock() * 1000)
    session = Session(
        secret, identity, int(clock() * 1000), deadline_ms, known_nonces=record.known_nonces()
    )
    # Counted as a failure before it starts, refunded below: a crash cannot refund a guess.
    save_attempts(store.directory, after_failure(record, started_wall_ms, policy))
    try:
        agreed = run_session(link, session, clock)
    except PairingError:
        final = after_failure(record, started_wall_ms, policy) if session.guess_exposed else record
        nonces = (session.own_nonce, session.peer_nonce)
        save_attempts(store.directory, remember_nonces(final, nonces, policy))
        raise
    nonces = (session.own_nonce, session.peer_nonce)
    save_attempts(store.directory, remember_nonces(after_success(record), nonces, policy))
    created = iso_utc(int(wall_clock() * 1000))
    store.add(
        StoredKey(
            key=agreed.key,
            key_id=agreed.key_id,
            peer=agreed.peer,
            fingerprint=agreed.fingerprint,
            created=created,
            role=agreed.role,
        )
    )
    return PairingResult(
        key_id=agreed.key_id,
        fingerprint=agreed.fingerprint,
        peer=agreed.peer,
        created=created,
        elapsed_ms=agreed.elapsed_ms,
    )
