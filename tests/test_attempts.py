"""Guess limiting: back-off, the daily lock-out (across restarts), one session at a time, and a
melody that expires and serves one attempt only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from pairing_helpers import REPO, RawPeer, cli_env, finish, new_melody_notes, start_pair

from melodypair.shared.attempts import (
    ATTEMPTS_FILE,
    DAY_MS,
    AttemptPolicy,
    AttemptRecord,
    after_failure,
    after_success,
    backoff_ms,
    check_allowed,
    load_attempts,
    remember_nonces,
    save_attempts,
    session_lock,
)
from melodypair.shared.framing import FrameType
from melodypair.shared.keystore import KeyStore
from melodypair.shared.link import open_link
from melodypair.shared.pairing import PASSWORD_LIFETIME_MS, Password, pair
from melodypair.shared.pairing_errors import (
    KeyStoreError,
    MelodyMismatch,
    PairingBusy,
    PasswordExpired,
    PasswordReused,
    PeerAborted,
    RetryTooSoon,
    TooManyAttempts,
)
from melodypair.shared.protocol import Send, Session

pytest_plugins = ["pairing_fixtures"]

T0 = 1_750_000_000_000  # an epoch time in ms


def test_backoff_doubles_and_is_capped():
    assert [backoff_ms(n) for n in range(5)] == [0, 2000, 4000, 8000, 16000]
    assert backoff_ms(30) == 10 * 60 * 1000


def test_after_a_failure_the_next_attempt_waits():
    record = after_failure(AttemptRecord(), T0)
    with pytest.raises(RetryTooSoon, match="wait 2 s"):
        check_allowed(record, T0 + 1)
    check_allowed(record, T0 + 2000)
    record = after_failure(record, T0 + 2000)
    with pytest.raises(RetryTooSoon, match="wait 4 s"):
        check_allowed(record, T0 + 2001)
    check_allowed(record, T0 + 6000)


def test_ten_failures_a_day_lock_out_until_the_oldest_is_a_day_old():
    record = AttemptRecord()
    times = [T0 + i * 3_600_000 for i in range(10)]  # one an hour
    for t in times:
        record = after_failure(record, t)
    with pytest.raises(TooManyAttempts, match="locked out until 2025-06-16T15:06:40Z") as info:
        check_allowed(record, times[-1] + 3_600_000)
    assert "10 in the last 24 hours" in str(info.value)
    with pytest.raises(TooManyAttempts):
        check_allowed(after_success(record), times[-1] + 3_600_000)  # a success does not unlock
    check_allowed(after_success(record), times[0] + DAY_MS)  # the oldest has aged out


def test_failures_older_than_a_day_are_forgotten():
    record = AttemptRecord()
    for i in range(9):
        record = after_failure(record, T0 + i)
    record = after_failure(record, T0 + DAY_MS + 10)
    assert record.failures_ms == (T0 + DAY_MS + 10,)


def test_success_ends_the_backoff():
    record = after_success(after_failure(AttemptRecord(), T0))
    check_allowed(record, T0 + 1)


def test_nonce_memory_is_bounded():
    policy = AttemptPolicy(remembered_nonces=3)
    record = AttemptRecord()
    for i in range(5):
        record = remember_nonces(record, [bytes([i]) * 32, None], policy)
    assert record.known_nonces() == {bytes([i]) * 32 for i in (2, 3, 4)}


def test_record_persists_privately_and_damage_is_refused(tmp_path):
    tmp_path.chmod(0o700)
    record = remember_nonces(after_failure(AttemptRecord(), T0), [b"\x01" * 32])
    save_attempts(tmp_path, record)
    assert load_attempts(tmp_path) == record
    path = tmp_path / ATTEMPTS_FILE
    assert os.stat(path).st_mode & 0o777 == 0o600
    path.write_text('{"format": "melodypair-attempts", "version": 1, "failures_ms": "x"}')
    with pytest.raises(KeyStoreError, match="damaged"):
        load_attempts(tmp_path)
    path.write_text("{}")
    path.chmod(0o644)
    with pytest.raises(KeyStoreError, match="chmod 600"):
        load_attempts(tmp_path)


def test_password_expires_after_two_minutes():
    notes = new_melody_notes()
    fresh = Password.from_notes(notes, now_ms=1000)
    assert fresh.take(1000 + PASSWORD_LIFETIME_MS)
    stale = Password.from_notes(notes, now_ms=1000)
    with pytest.raises(PasswordExpired, match="expired"):
        stale.take(1001 + PASSWORD_LIFETIME_MS)


def test_password_serves_one_attempt_only():
    password = Password.from_notes(new_melody_notes(), now_ms=0)
    password.take(1)
    with pytest.raises(PasswordReused, match="already used"):
        password.take(2)
    assert "Password(" in repr(password) and "data" not in repr(password)


_HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from melodypair.shared.attempts import session_lock
    with session_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(60)
    """
)


@pytest.mark.e2e
def test_one_session_at_a_time_per_store(tmp_path):
    store_dir = tmp_path / "store"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(store_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(PairingBusy, match="already running"), session_lock(store_dir):
            pass
        password = Password.from_notes(new_melody_notes(), now_ms=0)
        with open_link("loop://", 1) as link:
            with pytest.raises(PairingBusy):
                pair(link, password, KeyStore(store_dir), "me", clock=lambda: 0.0)
            assert not password.used  # a refused attempt does not spend the melody
            assert link.read(100, 0.2) == b"MP\x01\x04\x00\x01\x04"  # ABORT(busy) to the peer
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with session_lock(store_dir):  # the kernel dropped the dead holder's lock
        pass


class FakeWallClock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> float:
        return self.ms / 1000


def _pair_both(port, store_a, store_b, notes_a, notes_b, wall):
    """pair() on both ends of a real loopback TCP connection, one end in a thread."""
    box = {}

    def side_b():
        try:
            with open_link(f"tcp-listen://127.0.0.1:{port}", 5) as link:
                box["b"] = pair(link, fresh(notes_b), store_b, "b", 5000, wall_clock=wall)
        except Exception as err:
            box["b"] = err

    thread = threading.Thread(target=side_b)
    thread.start()
    try:
        with open_link(f"socket://127.0.0.1:{port}", 5) as link:
            box["a"] = pair(link, fresh(notes_a), store_a, "a", 5000, wall_clock=wall)
    except Exception as err:
        box["a"] = err
    thread.join(10)
    return box["a"], box["b"]


def fresh(notes: list[str]) -> Password:
    """A melody decoded just now, on the clock pair() uses by default."""
    return Password.from_notes(notes, int(time.monotonic() * 1000))


@pytest.mark.e2e
def test_failed_pairings_back_off_then_lock_out_and_the_lock_out_survives_a_restart(
    tmp_path, free_port
):
    store_a, store_b = KeyStore(tmp_path / "a"), KeyStore(tmp_path / "b")
    wall = FakeWallClock(T0)
    notes = new_melody_notes()
    wrong = new_melody_notes()
    end_a, end_b = _pair_both(free_port, store_a, store_b, notes, wrong, wall)
    assert isinstance(end_a, MelodyMismatch) and isinstance(end_b, MelodyMismatch)
    assert load_attempts(store_a.directory).consecutive == 1
    wall.ms += 500
    with open_link("loop://", 1) as link, pytest.raises(RetryTooSoon):
        pair(link, fresh(notes), store_a, "a", wall_clock=wall)
    for _ in range(9):
        wall.ms += 20 * 60 * 1000  # past any back-off
        _pair_both(free_port, store_a, store_b, notes, wrong, wall)
    record = load_attempts(store_a.directory)
    assert len(record.failures_ms) == 10 and record.consecutive == 10
    assert store_a.load() == () and store_b.load() == ()
    # A new process (a restart) reads the record from disk and refuses before opening the link.
    probe = subprocess.run(
        [sys.executable, "-c", _LOCKED_OUT_PROBE, str(store_a.directory), str(wall.ms + 60_000)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=cli_env(),
        timeout=30,
    )
    assert probe.returncode == 0, probe.stderr
    assert "too many failed pairings" in probe.stdout


_LOCKED_OUT_PROBE = textwrap.dedent(
    """
    import sys
    from melodypair.shared.keystore import KeyStore
    from melodypair.shared.pairing import preflight
    from melodypair.shared.pairing_errors import TooManyAttempts
    try:
        preflight(KeyStore(sys.argv[1]), wall_clock=lambda: int(sys.argv[2]) / 1000)
    except TooManyAttempts as err:
        print(err)
    else:
        sys.exit("not locked out")
    """
)


@pytest.mark.e2e
def test_cli_refuses_a_locked_out_store_with_its_reason(tmp_path):
    store = tmp_path / "store"
    store.mkdir(mode=0o700)
    record = AttemptRecord()
    now_ms = int(time.time() * 1000)
    for i in range(10):
        record = after_failure(record, now_ms - 1000 * (10 - i))
    save_attempts(store, record)
    code, outcome, err = finish(
        start_pair("tcp-listen://127.0.0.1:1", new_melody_notes(), store, "me", timeout_s=1)
    )
    assert code == 1
    assert outcome["status"] == "failed" and outcome["reason"] == "too_many_attempts"
    assert "locked out until" in err


@pytest.mark.e2e
def test_a_crash_after_the_peer_could_guess_still_counts_as_a_failure(tmp_path, free_port):
    """Kill the pairing process right after it sent its confirmation tag: the guess it gave
    away stays counted (the failure is written before the exchange and only refunded after)."""
    store = tmp_path / "store"
    victim = start_pair(f"tcp-listen://127.0.0.1:{free_port}", new_melody_notes(), store, "v")
    attacker = RawPeer(free_port)
    try:
        guess = Session(Password.from_notes(new_melody_notes(), 0).take(0), "mallory", 0)
        for act in guess.start(0):
            attacker.send(act.data)
        seen = attacker.frames(3)  # HELLO, HELLO again, PAKE
        for frame in seen:
            for act in guess.receive(_reencode(frame), 1):
                if isinstance(act, Send):
                    attacker.send(act.data)
        confirm = [f for f in seen + attacker.frames(1) if f.type is FrameType.CONFIRM]
        assert confirm, "the victim never sent its tag"
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
    finally:
        attacker.close()
        if victim.poll() is None:
            victim.kill()
    record = json.loads((store / ATTEMPTS_FILE).read_text())
    assert record["consecutive"] == 1 and len(record["failures_ms"]) == 1
    with pytest.raises(RetryTooSoon):
        check_allowed(load_attempts(store), record["failures_ms"][0] + 100)


def _reencode(frame) -> bytes:
    from melodypair.shared.framing import encode_frame

    return encode_frame(frame.type, frame.payload)


def test_a_success_refunds_the_attempt(tmp_path, free_port):
    store_a, store_b = KeyStore(tmp_path / "a"), KeyStore(tmp_path / "b")
    notes = new_melody_notes()
    end_a, end_b = _pair_both(free_port, store_a, store_b, notes, notes, FakeWallClock(T0))
    assert end_a.key_id == end_b.key_id
    for store in (store_a, store_b):
        record = load_attempts(store.directory)
        assert record.failures_ms == () and record.consecutive == 0
        assert len(record.recent_nonces) == 2


def test_peer_refusing_is_reported_promptly(tmp_path, free_port):
    """A locked-out side sends ABORT(busy); the other side reports it instead of timing out."""
    store_a, store_b = KeyStore(tmp_path / "a"), KeyStore(tmp_path / "b")
    store_b.directory.mkdir(mode=0o700)
    save_attempts(store_b.directory, after_failure(AttemptRecord(), T0))
    notes = new_melody_notes()
    end_a, end_b = _pair_both(free_port, store_a, store_b, notes, notes, FakeWallClock(T0 + 1))
    assert isinstance(end_b, RetryTooSoon)
    assert isinstance(end_a, PeerAborted) and "busy" in str(end_a)
