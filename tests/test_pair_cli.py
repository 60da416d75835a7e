"""`melodypair pair` and `melodypair keys` end to end: two real processes over a socat pty pair
and over loopback TCP, and a hand-driven hostile peer sending bad frames to a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import serial
from pairing_helpers import (
    REPO,
    RawPeer,
    cli_env,
    finish,
    new_melody_notes,
    start_pair,
    stored_keys,
    with_wrong_note,
)

from melodypair.shared.framing import (
    AbortCode,
    FrameType,
    encode_abort,
    encode_frame,
    encode_hello,
)
from melodypair.shared.kdf import encode_password

pytest_plugins = ["pairing_fixtures"]

pytestmark = pytest.mark.e2e

RESULT_FIELDS = {"status", "fingerprint", "key_id", "peer", "elapsed_ms"}


def cli(*args: str, timeout_s: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "melodypair", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=cli_env(),
        timeout=timeout_s,
    )


def assert_paired_alike(tmp_path, left, right, names=("alice", "bob")):
    (code_l, out_l, err_l), (code_r, out_r, err_r) = left, right
    assert code_l == 0 and code_r == 0, (err_l, err_r)
    for out in (out_l, out_r):
        assert set(out) == RESULT_FIELDS and out["status"] == "paired"
    assert out_l["fingerprint"] == out_r["fingerprint"]
    assert len(out_l["fingerprint"]) == 6 and out_l["fingerprint"].isdigit()
    assert out_l["key_id"] == out_r["key_id"]
    assert (out_l["peer"], out_r["peer"]) == (names[1], names[0])
    keys_l, keys_r = stored_keys(tmp_path / "a"), stored_keys(tmp_path / "b")
    assert len(keys_l) == len(keys_r) == 1
    assert keys_l[0]["key"] == keys_r[0]["key"] and len(keys_l[0]["key"]) == 64
    assert keys_l[0]["key_id"] == out_l["key_id"]
    assert {keys_l[0]["role"], keys_r[0]["role"]} == {"A", "B"}
    return keys_l[0]["key"]


def assert_key_never_shown(key_hex: str, *procs_output: str) -> None:
    for text in procs_output:
        assert key_hex not in text


def test_same_melody_pairs_over_a_pty_pair_between_two_processes(tmp_path, socat_pty_pair):
    tty_a, tty_b = socat_pty_pair
    notes = new_melody_notes()
    left = start_pair(tty_a, notes, tmp_path / "a", "alice")
    time.sleep(0.7)  # the second side opens its port late: its input flush eats a HELLO
    right = start_pair(tty_b, notes, tmp_path / "b", "bob")
    out_left, out_right = finish(left), finish(right)
    key = assert_paired_alike(tmp_path, out_left, out_right)
    assert_key_never_shown(key, *out_left[1:], *out_right[1:])
    for store in ("a", "b"):
        text = "".join(p.read_text() for p in (tmp_path / store).iterdir() if p.is_file())
        assert " ".join(notes) not in text  # never the melody, in any file of the store
        assert "password" not in text
        assert encode_password([0], 16).hex()[:20] not in text


def test_same_melody_pairs_over_tcp_between_two_processes(tmp_path, free_port):
    notes = new_melody_notes()
    left = start_pair(f"tcp-listen://127.0.0.1:{free_port}", notes, tmp_path / "a", "alice")
    right = start_pair(f"socket://127.0.0.1:{free_port}", notes, tmp_path / "b", "bob")
    assert_paired_alike(tmp_path, finish(left), finish(right))


def test_human_output_shows_fingerprint_and_key_id_not_the_key(tmp_path, free_port):
    notes = " ".join(new_melody_notes())
    base = ["pair", "--melody", notes, "--timeout-s", "10"]
    left = subprocess.Popen(
        [sys.executable, "-m", "melodypair", *base, "--link", f"tcp-listen://127.0.0.1:{free_port}",
         "--store", str(tmp_path / "a"), "--name", "alice"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=cli_env(),
    )  # fmt: skip
    right = cli(*base, "--link", f"socket://127.0.0.1:{free_port}", "--store", str(tmp_path / "b"))
    out, _ = left.communicate(timeout=30)
    assert left.returncode == 0 and right.returncode == 0
    key = stored_keys(tmp_path / "a")[0]
    assert "paired with" in out and f"key id: {key['key_id']}" in out
    fingerprint = key["fingerprint"]
    assert f"fingerprint: {fingerprint[:3]} {fingerprint[3:]}" in out
    assert key["key"] not in out + right.stdout + right.stderr


def test_different_melody_fails_on_both_sides_with_melody_mismatch(tmp_path, socat_pty_pair):
    tty_a, tty_b = socat_pty_pair
    left = start_pair(tty_a, new_melody_notes(), tmp_path / "a", "alice")
    right = start_pair(tty_b, new_melody_notes(), tmp_path / "b", "bob")
    for code, out, err in (finish(left), finish(right)):
        assert code == 1
        assert out["status"] == "failed" and out["reason"] == "melody_mismatch"
        assert out["fingerprint"] is None and out["key_id"] is None
        assert "melody mismatch: the other device heard a different melody" in err
    assert stored_keys(tmp_path / "a") == [] and stored_keys(tmp_path / "b") == []


def test_one_wrong_note_that_the_code_corrects_still_pairs(tmp_path, free_port):
    notes = new_melody_notes()
    heard = with_wrong_note(notes, 3)
    left = start_pair(f"tcp-listen://127.0.0.1:{free_port}", notes, tmp_path / "a", "alice")
    right = start_pair(f"socket://127.0.0.1:{free_port}", heard, tmp_path / "b", "bob")
    out_left, out_right = finish(left), finish(right)
    assert_paired_alike(tmp_path, out_left, out_right)


def test_two_wrong_notes_are_refused_before_touching_the_link(tmp_path):
    notes = with_wrong_note(with_wrong_note(new_melody_notes(), 1), 6)
    code, out, err = finish(start_pair("/dev/ttyDOES-NOT-EXIST", notes, tmp_path / "a", "a"))
    assert code == 1 and out["reason"] == "invalid_melody"
    assert "invalid melody" in err and "wrong note" in err


# --- a hostile peer against a real `melodypair pair` process over TCP -----------------------

DEADLINE_S = 2.0


def _hello_exchange(peer: RawPeer):
    peer.send(encode_hello(b"\x01" * 32, "mallory"))  # the smallest nonce: we are side B
    return peer.frames(3)  # HELLO, HELLO again, PAKE


def _send_truncated(peer: RawPeer):
    peer.send(encode_hello(b"\x01" * 32, "mallory")[:20])


def _send_truncated_and_close(peer: RawPeer):
    _send_truncated(peer)
    peer.close()


def _send_oversized(peer: RawPeer):
    peer.send(b"MP\x01\x01\xff\xff" + b"x" * 1000)


def _send_garbage(peer: RawPeer):
    peer.send(os.urandom(64).replace(b"M", b"?"))


def _send_out_of_order(peer: RawPeer):
    peer.send(encode_frame(FrameType.CONFIRM, bytes(32)))


def _send_second_pake_first(peer: RawPeer):
    _hello_exchange(peer)
    peer.send(encode_frame(FrameType.CONFIRM, bytes(32)))


def _close_mid_exchange(peer: RawPeer):
    _hello_exchange(peer)
    peer.close()


def _send_pake_of_the_wrong_length(peer: RawPeer):
    _hello_exchange(peer)
    peer.send(b"MP\x01\x02\x00\x40" + b"B" * 64)


@pytest.mark.parametrize(
    "attack, reason, words, aborts",
    [
        (_send_truncated, "timeout", "timeout", True),
        (_send_truncated_and_close, "link_error", "closed by the other side", False),
        (_send_oversized, "protocol_violation", "oversized", True),
        (_send_garbage, "protocol_violation", "garbage", True),
        (_send_out_of_order, "protocol_violation", "unexpected CONFIRM", True),
        (_send_second_pake_first, "protocol_violation", "out of order", True),
        (_send_pake_of_the_wrong_length, "protocol_violation", "PAKE frame carries 33", True),
        (_close_mid_exchange, "link_error", "closed by the other side", False),
    ],
)
def test_bad_frames_and_a_closed_link_end_cleanly_within_the_deadline(
    tmp_path, free_port, attack, reason, words, aborts
):
    victim = start_pair(
        f"tcp-listen://127.0.0.1:{free_port}",
        new_melody_notes(),
        tmp_path / "v",
        "victim",
        timeout_s=DEADLINE_S,
    )
    peer = RawPeer(free_port)
    t0 = time.monotonic()
    attack(peer)
    code, out, err = finish(victim)
    waited_s = time.monotonic() - t0
    tail = [] if peer.sock.fileno() == -1 else peer.frames(10, timeout_s=1)
    peer.close()
    assert code == 1, err
    assert out["status"] == "failed" and out["reason"] == reason
    assert words in err and "Traceback" not in err
    assert waited_s < DEADLINE_S + 2.5  # process exit and a 0.5 s linger included
    assert out["elapsed_ms"] < (DEADLINE_S + 1.5) * 1000
    assert stored_keys(tmp_path / "v") == []
    if aborts:
        assert any(f.type is FrameType.ABORT for f in tail)


def test_a_peer_that_vanishes_from_a_pty_ends_in_a_timeout(tmp_path, socat_pty_pair):
    """A pty cannot report that the far end closed; the deadline ends the attempt."""
    tty_a, tty_b = socat_pty_pair
    victim = start_pair(tty_a, new_melody_notes(), tmp_path / "v", "victim", timeout_s=DEADLINE_S)
    with serial.serial_for_url(tty_b, timeout=3) as port:
        assert port.read(6)[:2] == b"MP"  # the victim's HELLO has arrived: it is listening
        port.write(encode_hello(b"\x01" * 32, "mallory"))
        time.sleep(0.2)
    code, out, err = finish(victim)
    assert code == 1 and out["reason"] == "timeout"
    assert "stopped answering" in err
    assert out["elapsed_ms"] < (DEADLINE_S + 1.5) * 1000
    assert stored_keys(tmp_path / "v") == []


def test_garbage_on_a_pty_is_a_protocol_violation(tmp_path, socat_pty_pair):
    tty_a, tty_b = socat_pty_pair
    victim = start_pair(tty_a, new_melody_notes(), tmp_path / "v", "victim", timeout_s=5)
    with serial.serial_for_url(tty_b, timeout=3) as port:
        assert port.read(6)[:2] == b"MP"
        port.write(b"AT+RESET\r\n")
        abort = port.read_until(encode_abort(AbortCode.PROTOCOL))
    code, out, err = finish(victim)
    assert code == 1 and out["reason"] == "protocol_violation" and "garbage" in err
    assert encode_abort(AbortCode.PROTOCOL) in abort


def test_an_echoing_link_is_detected_as_reflection(tmp_path):
    code, out, err = finish(start_pair("loop://", new_melody_notes(), tmp_path / "v", "v"))
    assert code == 1 and out["reason"] == "reflection"
    assert "our own HELLO came back" in err
    assert stored_keys(tmp_path / "v") == []


def test_nobody_on_the_other_end(tmp_path, free_port, socat_pty_pair):
    notes = new_melody_notes()
    listen = start_pair(
        f"tcp-listen://127.0.0.1:{free_port}", notes, tmp_path / "a", "a", timeout_s=0.5
    )
    code, out, err = finish(listen)
    assert code == 1 and out["reason"] == "link_error" and "nobody connected" in err
    pty = start_pair(socat_pty_pair[0], notes, tmp_path / "b", "b", timeout_s=0.5)
    code, out, err = finish(pty)
    assert code == 1 and out["reason"] == "timeout" and "nobody answered" in err


def test_usage_errors_exit_2(tmp_path):
    notes = " ".join(new_melody_notes())
    assert cli("pair", "--link", "loop://").returncode == 2  # no melody source
    assert cli("pair", "--link", "loop://", "--melody", notes, "--listen").returncode == 2
    bad_timeout = cli("pair", "--link", "loop://", "--melody", notes, "--timeout-s", "0")
    assert bad_timeout.returncode == 2 and "timeout" in bad_timeout.stderr
    bad_name = cli("pair", "--link", "loop://", "--melody", notes, "--name", "x" * 80,
                   "--store", str(tmp_path))  # fmt: skip
    assert bad_name.returncode == 2 and "--name" in bad_name.stderr


def test_help_explains_each_command():
    pair_help = cli("pair", "--help")
    assert pair_help.returncode == 0
    text = " ".join(pair_help.stdout.split())
    for words in ("--link", "listen://HOST:PORT", "--melody", "--wav", "--listen", "6-digit"):
        assert words in text
    assert "never printed" in text
    assert "forget" in cli("keys", "--help").stdout
    assert "fingerprint" in cli("keys", "list", "--help").stdout
    assert "KEY_ID" in cli("keys", "forget", "--help").stdout


def test_keys_list_and_forget(tmp_path, free_port):
    notes = new_melody_notes()
    left = start_pair(f"tcp-listen://127.0.0.1:{free_port}", notes, tmp_path / "a", "alice")
    right = start_pair(f"socket://127.0.0.1:{free_port}", notes, tmp_path / "b", "bob")
    _, out, _ = finish(left)
    finish(right)
    store = str(tmp_path / "a")
    listed = cli("keys", "list", "--store", store, "--json")
    assert listed.returncode == 0
    (entry,) = json.loads(listed.stdout)["keys"]
    assert entry["key_id"] == out["key_id"] and entry["peer"] == "bob"
    assert "key" not in entry
    assert stored_keys(tmp_path / "a")[0]["key"] not in listed.stdout
    table = cli("keys", "list", "--store", store)
    assert out["key_id"] in table.stdout and "bob" in table.stdout
    forget = cli("keys", "forget", out["key_id"], "--store", store)
    assert forget.returncode == 0 and "forgot key" in forget.stdout
    assert stored_keys(tmp_path / "a") == []
    again = cli("keys", "forget", out["key_id"], "--store", store)
    assert again.returncode == 1 and "no key" in again.stderr
    assert "no pairings" in cli("keys", "list", "--store", store).stdout


def test_keys_list_uses_melodypair_home_and_refuses_a_loose_store(tmp_path):
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    env = {**cli_env(), "MELODYPAIR_HOME": str(home)}
    (home / "keys.json").write_text('{"format": "melodypair-keys", "version": 1, "keys": []}')
    result = subprocess.run(
        [sys.executable, "-m", "melodypair", "keys", "list"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=30,
    )
    assert result.returncode == 1
    assert f"chmod 700 {home}" in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback
