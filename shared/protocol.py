"""The pairing protocol as a state machine with no I/O: bytes and times in, actions out.

Both sides run the same `Session`; there is no initiator. Each sends HELLO (a fresh nonce and its
name); the larger nonce becomes SPAKE2 side A. Then each sends its SPAKE2 message (PAKE), derives
the keys and sends its confirmation tag (CONFIRM); a side that verifies the other's tag is done.
The driver (pairing.py) feeds received bytes to `receive`, calls `tick` when nothing arrives and
performs the returned actions in order: `Send` bytes, then at most one `Done` or `Fail`.
See docs/protocol.md for the message layout and the threat model.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from spake2 import SPAKE2_A, SPAKE2_B

from melodypair.shared import kdf
from melodypair.shared.framing import (
    HEADER_BYTES,
    NONCE_BYTES,
    AbortCode,
    Frame,
    FrameDecoder,
    FrameType,
    decode_abort,
    decode_hello,
    encode_abort,
    encode_frame,
    encode_hello,
)
from melodypair.shared.pairing_errors import (
    MelodyMismatch,
    PairingError,
    PairingTimeout,
    PeerAborted,
    ProtocolViolation,
    ReflectionDetected,
    ReplayDetected,
)

DEFAULT_DEADLINE_MS = 15_000
HELLO_RESEND_MS = 500


class State(Enum):
    IDLE = "idle"
    WAIT_HELLO = "waiting for HELLO"
    WAIT_PAKE = "waiting for PAKE"
    WAIT_CONFIRM = "waiting for CONFIRM"
    DONE = "done"
    FAILED = "failed"


_EXPECTED = {
    State.WAIT_HELLO: FrameType.HELLO,
    State.WAIT_PAKE: FrameType.PAKE,
    State.WAIT_CONFIRM: FrameType.CONFIRM,
}


@dataclass(frozen=True)
class AgreedKey:
    """What a successful exchange yields; `key` is secret and never shown."""

    key: bytes = field(repr=False)
    key_id: str
    fingerprint: str
    peer: str
    role: str
    elapsed_ms: int


@dataclass(frozen=True)
class Send:
    data: bytes


@dataclass(frozen=True)
class Done:
    agreed: AgreedKey


@dataclass(frozen=True)
class Fail:
    reason: PairingError


Action = Send | Done | Fail


class Session:
    """One pairing attempt of one side.

    `password` is the encoded melody (kdf.encode_password). `known_nonces` are HELLO nonces of
    earlier sessions (ours and peers'): one coming back means a replay. `nonce` and `entropy`
    exist for known-answer tests; leave them to the defaults (os.urandom).
    """

    def __init__(
        self,
        password: bytes,
        identity: str,
        now_ms: int,
        deadline_ms: int = DEFAULT_DEADLINE_MS,
        *,
        known_nonces: frozenset[bytes] = frozenset(),
        nonce: bytes | None = None,
        entropy: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._password = password
        self.own_nonce = nonce if nonce is not None else entropy(NONCE_BYTES)
        self._hello = encode_hello(self.own_nonce, identity)
        self._entropy = entropy
        self._known_nonces = known_nonces
        self.started_ms = now_ms
        self.deadline_at_ms = now_ms + deadline_ms
        self.state = State.IDLE
        self.role: str | None = None
        self.peer: str | None = None
        self.peer_nonce: bytes | None = None
        self.guess_exposed = False
        self._decoder = FrameDecoder()
        self._next_hello_ms = now_ms
        self._peer_hello: bytes | None = None
        self._spake: SPAKE2_A | SPAKE2_B | None = None
        self._own_pake = b""
        self._transcript = b""
        self._keys: kdf.SessionKeys | None = None
        self._own_tag = b""

    @property
    def _hello_payload(self) -> bytes:
        return self._hello[HEADER_BYTES:]

    @property
    def finished(self) -> bool:
        return self.state in (State.DONE, State.FAILED)

    def next_wakeup_ms(self) -> int:
        """When `tick` next has something to do (a HELLO resend or the deadline)."""
        if self.state is State.WAIT_HELLO:
            return min(self._next_hello_ms, self.deadline_at_ms)
        return self.deadline_at_ms

    def start(self, now_ms: int) -> list[Action]:
        if self.state is not State.IDLE:
            raise RuntimeError("a session starts once")
        self.state = State.WAIT_HELLO
        self._next_hello_ms = now_ms + HELLO_RESEND_MS
        return [Send(self._hello)]

    def tick(self, now_ms: int) -> list[Action]:
        """Deadline check, and the HELLO resend for a peer that opened the link after us."""
        if self.finished:
            return []
        if now_ms >= self.deadline_at_ms:
            return self._timeout()
        if self.state is State.WAIT_HELLO and now_ms >= self._next_hello_ms:
            self._next_hello_ms = now_ms + HELLO_RESEND_MS
            return [Send(self._hello)]
        return []

    def receive(self, data: bytes, now_ms: int) -> list[Action]:
        """Bytes from the link (any split); returns what to send and whether the session ended."""
        if self.state is State.IDLE:
            raise RuntimeError("call start() before receive()")
        if self.finished:
            return []
        if now_ms >= self.deadline_at_ms:
            return self._timeout()
        try:
            frames = self._decoder.process(data)
        except ProtocolViolation as err:
            return self._fail(err, AbortCode.PROTOCOL)
        actions: list[Action] = []
        for frame in frames:
            actions += self._on_frame(frame, now_ms)
            if self.finished:
                break
        return actions

    def _on_frame(self, frame: Frame, now_ms: int) -> list[Action]:
        if frame.type is FrameType.ABORT:
            return self._peer_aborted(decode_abort(frame.payload))
        if frame.type is FrameType.HELLO and self._peer_hello is not None:
            if frame.payload == self._peer_hello:
                return []  # the peer's resend of the HELLO we already have
            return self._fail(
                ProtocolViolation("protocol violation: a second, different HELLO"),
                AbortCode.PROTOCOL,
            )
        expected = _EXPECTED[self.state]
        if frame.type is not expected:
            return self._fail(
                ProtocolViolation(
                    f"protocol violation: unexpected {frame.type.name} frame while "
                    f"{self.state.value} (out of order)"
                ),
                AbortCode.PROTOCOL,
            )
        try:
            if frame.type is FrameType.HELLO:
                return self._on_hello(frame.payload)
            if frame.type is FrameType.PAKE:
                return self._on_pake(frame.payload)
            return self._on_confirm(frame.payload, now_ms)
        except ProtocolViolation as err:
            return self._fail(err, AbortCode.PROTOCOL)

    def _on_hello(self, payload: bytes) -> list[Action]:
        hello = decode_hello(payload)
        if hello.nonce == self.own_nonce:
            raise ReflectionDetected(
                "reflection: our own HELLO came back; the link echoes what we send, "
                "or someone on it is replaying our messages"
            )
        if hello.nonce in self._known_nonces:
            raise ReplayDetected(
                "replay: this HELLO belongs to an earlier pairing session; "
                "someone on the link is replaying old messages"
            )
        self._peer_hello = payload
        self.peer_nonce = hello.nonce
        self.peer = hello.identity
        self.role = "A" if self.own_nonce > hello.nonce else "B"
        spake_class = SPAKE2_A if self.role == "A" else SPAKE2_B
        self._spake = spake_class(
            self._password,
            idA=kdf.SPAKE2_ID_A,
            idB=kdf.SPAKE2_ID_B,
            entropy_f=self._entropy,
        )
        self._own_pake = self._spake.start()
        self.state = State.WAIT_PAKE
        # The HELLO again first: a peer that opened the link late may have missed ours.
        return [Send(self._hello), Send(encode_frame(FrameType.PAKE, self._own_pake))]

    def _on_pake(self, payload: bytes) -> list[Action]:
        if payload == self._own_pake:
            raise ReflectionDetected("reflection: our own PAKE message came back")
        peer_side = b"B" if self.role == "A" else b"A"
        if payload[:1] != peer_side:
            raise ProtocolViolation(
                f"protocol violation: the PAKE message claims side {payload[:1]!r}, "
                f"expected side {peer_side.decode()}"
            )
        try:
            pake_key = self._spake.finish(payload)
        except Exception as err:  # spake2 raises ValueError, its own errors or asserts on garbage
            raise ProtocolViolation(
                "protocol violation: the PAKE message is not a valid group element"
            ) from err
        if self.role == "A":
            hello_a, hello_b = self._hello_payload, self._peer_hello
            pake_a, pake_b = self._own_pake, payload
        else:
            hello_a, hello_b = self._peer_hello, self._hello_payload
            pake_a, pake_b = payload, self._own_pake
        self._transcript = kdf.transcript_hash(hello_a, hello_b, pake_a, pake_b)
        self._keys = kdf.derive_session_keys(pake_key, self._transcript)
        self._own_tag = kdf.confirmation_tag(self._keys.confirm_key_of(self.role), self._transcript)
        self.guess_exposed = True
        self.state = State.WAIT_CONFIRM
        return [Send(encode_frame(FrameType.CONFIRM, self._own_tag))]

    def _on_confirm(self, payload: bytes, now_ms: int) -> list[Action]:
        if kdf.tags_equal(payload, self._own_tag):
            raise ReflectionDetected("reflection: our own confirmation tag came back")
        peer_role = "B" if self.role == "A" else "A"
        expected = kdf.confirmation_tag(self._keys.confirm_key_of(peer_role), self._transcript)
        if not kdf.tags_equal(payload, expected):
            return self._fail(MelodyMismatch(), AbortCode.MISMATCH)
        self.state = State.DONE
        agreed = AgreedKey(
            key=self._keys.pairing_key,
            key_id=kdf.key_id(self._keys.pairing_key),
            fingerprint=kdf.fingerprint(self._keys.fingerprint_key),
            peer=self.peer,
            role=self.role,
            elapsed_ms=now_ms - self.started_ms,
        )
        self._forget_secrets()
        return [Done(agreed)]

    def _peer_aborted(self, code: AbortCode | None) -> list[Action]:
        if code is AbortCode.MISMATCH:
            error: PairingError = MelodyMismatch()
        else:
            why = code.description if code else "for a reason this version does not know"
            error = PeerAborted(f"the other device aborted the pairing: {why}")
        return self._fail(error, None)

    def _timeout(self) -> list[Action]:
        seconds = (self.deadline_at_ms - self.started_ms) / 1000
        if self.state is State.WAIT_HELLO:
            message = (
                f"timeout: nobody answered on the link within {seconds:g} s; is the other "
                "device running `melodypair pair` on the same link?"
            )
        else:
            message = (
                f"timeout: the other device stopped answering while {self.state.value} "
                f"(deadline {seconds:g} s)"
            )
        return self._fail(PairingTimeout(message), AbortCode.TIMEOUT)

    def _fail(self, error: PairingError, abort: AbortCode | None) -> list[Action]:
        self.state = State.FAILED
        self._forget_secrets()
        actions: list[Action] = [] if abort is None else [Send(encode_abort(abort))]
        return [*actions, Fail(error)]

    def _forget_secrets(self) -> None:
        self._password = b""
        self._spake = None
        self._keys = None
