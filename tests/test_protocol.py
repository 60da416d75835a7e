"""The protocol state machine in memory: agreement, mismatch, MITM, replay, reflection, bad frames.

Sessions are real (real SPAKE2, real HKDF); only the wire is a Python loop, so every attack
can be staged byte for byte.
"""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from melodypair.shared import kdf
from melodypair.shared.framing import (
    AbortCode,
    FrameDecoder,
    FrameType,
    encode_abort,
    encode_frame,
    encode_hello,
)
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.pairing_errors import (
    MelodyMismatch,
    PairingTimeout,
    PeerAborted,
    ProtocolViolation,
    ReflectionDetected,
    ReplayDetected,
)
from melodypair.shared.protocol import (
    HELLO_RESEND_MS,
    Done,
    Fail,
    Send,
    Session,
    State,
)

PW = kdf.encode_password(list(range(10)), 16)
OTHER_PW = kdf.encode_password([*range(9), 15], 16)
HIGH = bytes([0xAA]) * 32
LOW = bytes([0x55]) * 32


def drbg(seed: bytes):
    """Deterministic entropy for known-answer tests (never for real sessions)."""
    counter = 0

    def read(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
            counter += 1
        return out[:n]

    return read


def sends(actions) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, Send)]


def frame_types(actions) -> list[FrameType]:
    return [f.type for data in sends(actions) for f in FrameDecoder().process(data)]


def outcome(actions):
    ends = [a for a in actions if isinstance(a, Done | Fail)]
    assert len(ends) <= 1
    return ends[0] if ends else None


def run(a: Session, b: Session, now_ms: int = 10, tap=None):
    """Deliver everything each side sends to the other until both stop; returns their ends.
    `tap(sender, data)` sees every message on the wire."""
    pending = {id(a): a.start(now_ms), id(b): b.start(now_ms)}
    ends = {}
    while any(pending.values()):
        for me, peer in ((a, b), (b, a)):
            actions, pending[id(me)] = pending[id(me)], []
            for act in actions:
                if isinstance(act, Send):
                    if tap:
                        tap(me, act.data)
                    pending[id(peer)] += peer.receive(act.data, now_ms)
                else:
                    ends[id(me)] = act
    return ends.get(id(a)), ends.get(id(b))


def test_same_password_gives_the_same_key_on_both_sides():
    end_a, end_b = run(Session(PW, "alice", 0), Session(PW, "bob", 0))
    assert isinstance(end_a, Done) and isinstance(end_b, Done)
    ka, kb = end_a.agreed, end_b.agreed
    assert ka.key == kb.key and len(ka.key) == 32
    assert ka.key_id == kb.key_id and ka.fingerprint == kb.fingerprint
    assert (ka.peer, kb.peer) == ("bob", "alice")
    assert {ka.role, kb.role} == {"A", "B"}
    assert ka.key.hex() not in repr(ka)


def test_two_runs_give_different_keys():
    first, _ = run(Session(PW, "a", 0), Session(PW, "b", 0))
    second, _ = run(Session(PW, "a", 0), Session(PW, "b", 0))
    assert first.agreed.key != second.agreed.key


def test_larger_nonce_is_side_a():
    end_high, end_low = run(Session(PW, "h", 0, nonce=HIGH), Session(PW, "l", 0, nonce=LOW))
    assert end_high.agreed.role == "A" and end_low.agreed.role == "B"


def test_known_answer_of_a_whole_exchange():
    """Fixed nonces and SPAKE2 randomness pin the result: catches any change of the protocol."""
    a = Session(PW, "alice", 0, nonce=HIGH, entropy=drbg(b"alice"))
    b = Session(PW, "bob", 0, nonce=LOW, entropy=drbg(b"bob"))
    end_a, end_b = run(a, b)
    assert end_a.agreed.key_id == end_b.agreed.key_id == "f1961388fe018b76"
    assert end_a.agreed.fingerprint == "278099"


def test_different_melody_fails_on_both_sides_with_melody_mismatch():
    a, b = Session(PW, "alice", 0), Session(OTHER_PW, "bob", 0)
    end_a, end_b = run(a, b)
    for end in (end_a, end_b):
        assert isinstance(end, Fail)
        assert isinstance(end.reason, MelodyMismatch)
        assert "melody mismatch: the other device heard a different melody" in str(end.reason)
    assert a.guess_exposed and b.guess_exposed


def test_one_wrong_note_corrected_by_the_code_still_agrees():
    code = MelodyCode()
    melody = code.new()
    heard = list(melody.notes)
    heard[4] = (heard[4] + 3) % 16
    decoded = code.decode(heard)
    assert decoded.valid and decoded.corrected == 1
    pw_a = kdf.encode_password(melody.data, 16)
    pw_b = kdf.encode_password(decoded.melody.data, 16)
    end_a, end_b = run(Session(pw_a, "a", 0), Session(pw_b, "b", 0))
    assert isinstance(end_a, Done) and end_a.agreed.key == end_b.agreed.key


def _mitm(guess: bytes):
    """A relays to M1 (guess), M2 (guess) relays to B; M forwards nothing it cannot compute."""
    a, b = Session(PW, "alice", 0), Session(PW, "bob", 0)
    m1, m2 = Session(guess, "bob", 0), Session(guess, "alice", 0)
    return run(a, m1), run(m2, b)


def test_man_in_the_middle_with_a_wrong_guess_fails_everywhere():
    (end_a, end_m1), (end_m2, end_b) = _mitm(OTHER_PW)
    for end in (end_a, end_b, end_m1, end_m2):
        assert isinstance(end, Fail) and isinstance(end.reason, MelodyMismatch)


def test_man_in_the_middle_with_the_right_guess_is_seen_in_the_fingerprints():
    """The one guess in 2^40 that is right: both sides pair, but with different keys."""
    (end_a, end_m1), (end_m2, end_b) = _mitm(PW)
    assert all(isinstance(end, Done) for end in (end_a, end_m1, end_m2, end_b))
    assert end_a.agreed.key != end_b.agreed.key
    assert end_a.agreed.key_id != end_b.agreed.key_id


def _record_b_frames():
    wire: list[bytes] = []
    a = Session(PW, "alice", 0, nonce=HIGH)
    b = Session(PW, "bob", 0, nonce=LOW)
    run(a, b, tap=lambda sender, data: wire.append(data) if sender is b else None)
    return b, wire


def _feed(session: Session, frames: list[bytes]):
    actions = session.start(0)
    for data in frames:
        actions += session.receive(data, 1)
        if session.finished:
            break
    return actions


def test_replayed_frames_of_an_earlier_session_fail():
    _, old_frames = _record_b_frames()
    victim = Session(PW, "alice", 0, nonce=HIGH[:-1] + b"\xab")  # fresh nonce, same role A
    actions = _feed(victim, old_frames)
    end = outcome(actions)
    assert isinstance(end, Fail) and isinstance(end.reason, MelodyMismatch)
    assert FrameType.CONFIRM in frame_types(actions)  # it got as far as checking the tag


def test_replayed_hello_is_recognised_when_its_nonce_is_remembered():
    b, old_frames = _record_b_frames()
    victim = Session(PW, "alice", 0, known_nonces=frozenset({b.own_nonce}))
    actions = _feed(victim, old_frames)
    end = outcome(actions)
    assert isinstance(end, Fail) and isinstance(end.reason, ReplayDetected)
    assert FrameType.PAKE not in frame_types(actions)


def test_reflected_hello_is_detected():
    s = Session(PW, "alice", 0)
    (hello,) = sends(s.start(0))
    end = outcome(s.receive(hello, 1))
    assert isinstance(end.reason, ReflectionDetected)


def _after_hello(s: Session, peer: Session):
    """Both HELLOs exchanged; returns the PAKE frame s sent and the peer's messages."""
    s_out = sends(s.start(0))
    peer_out = sends(peer.start(0))
    s_out += sends(s.receive(peer_out[0], 1))
    peer_out += sends(peer.receive(s_out[0], 1))
    return s_out[-1], peer_out[-1]


def test_reflected_pake_is_detected():
    s, peer = Session(PW, "alice", 0), Session(PW, "bob", 0)
    own_pake, _ = _after_hello(s, peer)
    end = outcome(s.receive(own_pake, 2))
    assert isinstance(end.reason, ReflectionDetected)


def test_reflected_confirm_is_detected():
    s, peer = Session(PW, "alice", 0), Session(PW, "bob", 0)
    _, peer_pake = _after_hello(s, peer)
    (own_confirm,) = sends(s.receive(peer_pake, 2))
    end = outcome(s.receive(own_confirm, 3))
    assert isinstance(end.reason, ReflectionDetected)


def test_pake_from_the_wrong_side_is_refused():
    s, peer = Session(PW, "alice", 0, nonce=HIGH), Session(PW, "bob", 0, nonce=LOW)
    _, peer_pake = _after_hello(s, peer)
    assert peer_pake[6:7] == b"B"
    forged = encode_frame(FrameType.PAKE, b"A" + peer_pake[7:])
    actions = s.receive(forged, 2)
    assert isinstance(outcome(actions).reason, ProtocolViolation)
    assert "side" in str(outcome(actions).reason)


@pytest.mark.parametrize(
    "first, words",
    [
        (encode_frame(FrameType.PAKE, b"B" + bytes(32)), "unexpected PAKE"),
        (encode_frame(FrameType.CONFIRM, bytes(32)), "unexpected CONFIRM"),
        (b"MP\x01\x01\x10\x00", "oversized"),
        (b"GET / HTTP/1.1\r\n", "garbage"),
        (b"MP\x01\x03\x00\x05abcde", "CONFIRM frame carries 32"),
    ],
)
def test_bad_first_frames_end_the_attempt_with_an_abort(first, words):
    s = Session(PW, "alice", 0)
    s.start(0)
    actions = s.receive(first, 1)
    end = outcome(actions)
    assert isinstance(end, Fail) and isinstance(end.reason, ProtocolViolation)
    assert words in str(end.reason)
    assert sends(actions) == [encode_abort(AbortCode.PROTOCOL)]
    assert s.state is State.FAILED
    assert s.receive(encode_abort(AbortCode.BUSY), 2) == []  # nothing after the end


def test_out_of_order_confirm_before_pake_fails():
    s, peer = Session(PW, "alice", 0), Session(PW, "bob", 0)
    _after_hello(s, peer)
    end = outcome(s.receive(encode_frame(FrameType.CONFIRM, bytes(32)), 2))
    assert isinstance(end.reason, ProtocolViolation) and "out of order" in str(end.reason)


def test_a_second_different_hello_fails_and_an_identical_one_is_ignored():
    s, peer = Session(PW, "alice", 0), Session(PW, "bob", 0)
    _after_hello(s, peer)
    peer_hello = encode_hello(peer.own_nonce, "bob")
    assert s.receive(peer_hello, 2) == []
    end = outcome(s.receive(encode_hello(peer.own_nonce, "mallory"), 3))
    assert isinstance(end.reason, ProtocolViolation) and "second, different HELLO" in str(
        end.reason
    )


def test_truncated_frame_waits_then_times_out_at_the_deadline():
    s = Session(PW, "alice", 0, deadline_ms=2000)
    s.start(0)
    assert s.receive(encode_hello(LOW, "bob")[:20], 10) == []
    assert s.tick(1999) in ([], [Send(encode_hello(s.own_nonce, "alice"))])
    actions = s.tick(2000)
    end = outcome(actions)
    assert isinstance(end.reason, PairingTimeout)
    assert "2 s" in str(end.reason)
    assert sends(actions) == [encode_abort(AbortCode.TIMEOUT)]


def test_data_arriving_after_the_deadline_is_a_timeout():
    s = Session(PW, "alice", 0, deadline_ms=1000)
    s.start(0)
    end = outcome(s.receive(encode_hello(LOW, "bob"), 1000))
    assert isinstance(end.reason, PairingTimeout)


def test_hello_is_resent_until_the_peer_answers():
    s = Session(PW, "alice", 0)
    (hello,) = sends(s.start(0))
    assert s.tick(HELLO_RESEND_MS - 1) == []
    assert sends(s.tick(HELLO_RESEND_MS)) == [hello]
    assert s.next_wakeup_ms() == 2 * HELLO_RESEND_MS


def test_a_peer_that_missed_our_first_hello_still_pairs():
    """Opening a serial port flushes its input: the late side never sees the first HELLO."""
    early, late = Session(PW, "early", 0), Session(PW, "late", 0)
    early.start(0)  # this HELLO is lost
    to_early = sends(late.start(5))
    to_late = sends(early.receive(to_early[0], 6))  # HELLO again, then PAKE
    assert frame_types([Send(d) for d in to_late]) == [FrameType.HELLO, FrameType.PAKE]
    ends = {}
    queue = [(late, d) for d in to_late]
    while queue:
        target, data = queue.pop(0)
        other = early if target is late else late
        for act in target.receive(data, 7):
            if isinstance(act, Send):
                queue.append((other, act.data))
            else:
                ends[target.peer] = act
    assert isinstance(ends["late"], Done) and isinstance(ends["early"], Done)
    assert ends["late"].agreed.key == ends["early"].agreed.key


def test_peer_abort_with_mismatch_reads_as_melody_mismatch():
    s = Session(PW, "alice", 0)
    s.start(0)
    actions = s.receive(encode_abort(AbortCode.MISMATCH), 1)
    assert isinstance(outcome(actions).reason, MelodyMismatch)
    assert sends(actions) == []  # no abort answered to an abort


@pytest.mark.parametrize("code, words", [(3, "timed out"), (4, "busy"), (200, "does not know")])
def test_other_peer_aborts_say_why(code, words):
    s = Session(PW, "alice", 0)
    s.start(0)
    end = outcome(s.receive(encode_frame(FrameType.ABORT, bytes([code])), 1))
    assert isinstance(end.reason, PeerAborted) and words in str(end.reason)


def test_frames_split_into_single_bytes_still_pair():
    a, b = Session(PW, "a", 0), Session(PW, "b", 0)
    pending = {id(a): sends(a.start(0)), id(b): sends(b.start(0))}
    ends = {}
    while any(pending.values()):
        for me, peer in ((a, b), (b, a)):
            messages, pending[id(me)] = pending[id(me)], []
            for data in messages:
                for i in range(len(data)):
                    for act in peer.receive(data[i : i + 1], 1):
                        if isinstance(act, Send):
                            pending[id(peer)].append(act.data)
                        else:
                            ends[id(peer)] = act
    assert ends[id(a)].agreed.key == ends[id(b)].agreed.key


def test_secrets_are_dropped_when_the_session_ends():
    a, b = Session(PW, "a", 0), Session(PW, "b", 0)
    run(a, b)
    assert a._password == b"" and a._keys is None and a._spake is None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point=st.binary(min_size=32, max_size=32))
@example(point=b"\x01" + bytes(31))  # the identity element
@example(point=bytes(32))  # a small-order point
def test_fuzz_pake_payloads_map_to_the_protocol_error(point):
    s, peer = Session(PW, "alice", 0, nonce=HIGH), Session(PW, "bob", 0, nonce=LOW)
    _after_hello(s, peer)
    actions = s.receive(encode_frame(FrameType.PAKE, b"B" + point), 2)
    end = outcome(actions)
    if end is None:
        assert frame_types(actions) == [FrameType.CONFIRM]  # a valid point: carry on
    else:
        assert isinstance(end.reason, ProtocolViolation)
        assert sends(actions) == [encode_abort(AbortCode.PROTOCOL)]


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=200))
def test_fuzz_session_never_raises(data):
    s = Session(PW, "alice", 0, nonce=HIGH)
    s.start(0)
    for act in s.receive(data, 1):
        if isinstance(act, Fail):
            assert isinstance(act.reason, ProtocolViolation | PeerAborted | MelodyMismatch)
