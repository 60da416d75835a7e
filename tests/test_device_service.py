"""The device service for real: `melodypair device run` pairs from a WAV with a peer process,
stops cleanly on SIGTERM while listening to a real (PulseAudio) microphone, refuses a bad config
with one line, and `device selftest` says whether the device can do its job."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from pairing_helpers import finish, start_pair

from melodypair.shared.audio_io import write_wav
from melodypair.shared.decoder import default_model_dir
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, Timbre, render_notes

pytest_plugins = ["pairing_fixtures", "audio_fixture"]
needs_model = pytest.mark.skipif(
    not (default_model_dir() / "model.tflite").exists(), reason="no shipped model yet"
)


def _config(tmp_path, link="loop://", **extra) -> str:
    path = tmp_path / "device.toml"
    lines = ["[link]", f'url = "{link}"', "timeout_s = 15", "[store]",
             f'dir = "{tmp_path / "keys"}"', "[device]", 'name = "dev"']  # fmt: skip
    for section, body in extra.items():
        lines += [f"[{section}]", body]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _device(*args, env=None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "melodypair", "device", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw,
    )  # fmt: skip


@pytest.mark.e2e
@needs_model
def test_device_run_pairs_from_a_wav_with_a_peer(tmp_path, free_port):
    melody = MelodyCode().encode(0x0123456789)
    r = render_notes(
        list(melody.notes), params=SynthParams(timbre=Timbre("sine"), sample_rate_hz=44100)
    )
    wav = tmp_path / "heard.wav"
    write_wav(wav, np.concatenate([np.zeros(22050), r.audio, np.zeros(44100)]), 44100)
    config = _config(tmp_path, link=f"tcp-listen://127.0.0.1:{free_port}")
    device = _device("run", "--config", config, "--wav", str(wav), "--once", "--json")
    peer = start_pair(f"socket://127.0.0.1:{free_port}", list(melody.names), tmp_path / "p",
                      "peer", timeout_s=30)  # fmt: skip
    out, err = device.communicate(timeout=60)
    code_p, out_p, err_p = finish(peer)
    assert device.returncode == 0 and code_p == 0, (err, err_p)
    attempt = json.loads(out.strip().splitlines()[-1])
    assert attempt["ok"] and attempt["fingerprint"] == out_p["fingerprint"], (err, err_p)
    assert "paired with peer" in err and "listening again" in err


@pytest.mark.e2e
@needs_model
def test_sigterm_while_listening_to_a_microphone_exits_within_2_s(tmp_path, pulse_server):
    device = _device("run", "--config", _config(tmp_path), env=pulse_server.env)
    deadline = time.monotonic() + 60
    line = ""
    while "listening on" not in line and time.monotonic() < deadline:
        line = device.stderr.readline()
    assert "listening on microphone" in line
    time.sleep(0.5)
    sent = time.monotonic()
    device.send_signal(signal.SIGTERM)
    device.wait(timeout=10)
    assert time.monotonic() - sent < 2.0
    assert device.returncode == 0
    assert "stopping (SIGTERM)" in device.stderr.read()


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[link]\ntimeout_s = "abc"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "melodypair", "device", "run", "--config", str(path)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "link.timeout_s" in proc.stderr and proc.stderr.count("\n") == 1


@needs_model
def test_selftest_passes_without_audio_and_fails_with_a_loose_store(tmp_path):
    config = _config(tmp_path)
    ok = subprocess.run(
        [sys.executable, "-m", "melodypair", "device", "selftest", "--config", config,
         "--json", "--no-audio"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    report = json.loads(ok.stdout)
    assert ok.returncode == 0 and report["ok"], report
    assert [c["name"] for c in report["checks"]] == ["model", "recognizer", "key store"]
    (tmp_path / "keys").chmod(0o755)
    bad = subprocess.run(
        [sys.executable, "-m", "melodypair", "device", "selftest", "--config", config,
         "--json", "--no-audio"], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1
    store = next(c for c in json.loads(bad.stdout)["checks"] if c["name"] == "key store")
    assert not store["ok"]


@pytest.mark.e2e
@needs_model
def test_selftest_lists_a_real_audio_input(tmp_path, pulse_server):
    proc = subprocess.run(
        [sys.executable, "-m", "melodypair", "device", "selftest", "--config",
         _config(tmp_path), "--json"], capture_output=True, text=True, timeout=60,
        env=pulse_server.env,
    )  # fmt: skip
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, report
    assert report["checks"][-1]["name"] == "audio inputs" and report["checks"][-1]["ok"]


@pytest.mark.e2e
@needs_model
def test_a_missing_microphone_is_retried_with_back_off_until_stopped(tmp_path):
    import os

    env = {**os.environ, "PULSE_SERVER": f"unix:{tmp_path}/no-such-server"}
    device = _device("run", "--config", _config(tmp_path), env=env)
    lines = []
    deadline = time.monotonic() + 30
    while sum("retrying in" in x for x in lines) < 2 and time.monotonic() < deadline:
        lines.append(device.stderr.readline())
    assert device.poll() is None, "the service must keep running without a microphone"
    retries = [x for x in lines if "audio input unavailable" in x]
    assert "retrying in 1 s" in retries[0] and "retrying in 2 s" in retries[1]
    device.send_signal(signal.SIGTERM)
    assert device.wait(timeout=5) == 0


def _wait_for_line(process: subprocess.Popen, text: str, timeout_s: float) -> list[str]:
    """stderr lines up to and including the first that contains `text` (all of them if none)."""
    deadline, lines = time.monotonic() + timeout_s, []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        lines.append(line)
        if text in line:
            break
    return lines


def _initiate_and_expect_pairing(player_dir, free_port, env, listener) -> None:
    """`device initiate` plays a melody into the sink; it and `listener` must pair alike."""
    player = _device(
        "initiate", "--config", _config(player_dir, link=f"tcp-listen://127.0.0.1:{free_port}"),
        "--json", env=env,
    )  # fmt: skip
    out_p, err_p = player.communicate(timeout=90)
    out_l, err_l = listener.communicate(timeout=90)
    assert player.returncode == 0 and listener.returncode == 0, (err_p, err_l)
    a, b = (json.loads(o.strip().splitlines()[-1]) for o in (out_p, out_l))
    assert a["ok"] and b["ok"] and a["fingerprint"] == b["fingerprint"]


@pytest.mark.e2e
@needs_model
def test_initiate_plays_a_melody_and_pairs_with_the_listener(tmp_path, free_port, pulse_server):
    listener_dir, player_dir = tmp_path / "listener", tmp_path / "player"
    listener_dir.mkdir()
    player_dir.mkdir()
    listener = _device(
        "run", "--config", _config(listener_dir, link=f"socket://127.0.0.1:{free_port}"),
        "--once", "--json", "--max-seconds", "60", env=pulse_server.env,
    )  # fmt: skip
    _wait_for_line(listener, "listening on", 60)
    time.sleep(0.5)
    _initiate_and_expect_pairing(player_dir, free_port, pulse_server.env, listener)


@pytest.mark.e2e
@needs_model
def test_a_microphone_unplugged_while_listening_is_reopened_and_pairs_after(tmp_path, free_port):
    from melodypair.rig import running_pulseaudio

    listener_dir, player_dir = tmp_path / "listener", tmp_path / "player"
    listener_dir.mkdir()
    player_dir.mkdir()
    config = _config(listener_dir, link=f"socket://127.0.0.1:{free_port}")
    with running_pulseaudio(tmp_path / "pulse") as first:
        listener = _device(
            "run", "--config", config, "--once", "--json", "--max-seconds", "120",
            env=first.env,
        )  # fmt: skip
        assert "listening on" in "".join(_wait_for_line(listener, "listening on", 60))
        first.stop()  # the microphone goes away while the device listens
        lost = _wait_for_line(listener, "audio input unavailable", 30)
        assert any("audio input lost" in x and "reopening" in x for x in lost), lost
        assert "retrying in" in lost[-1], lost
    with running_pulseaudio(tmp_path / "pulse") as second:  # plugged in again
        assert "listening on" in "".join(_wait_for_line(listener, "listening on", 30))
        time.sleep(0.5)
        _initiate_and_expect_pairing(player_dir, free_port, second.env, listener)
