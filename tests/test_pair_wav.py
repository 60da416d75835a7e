"""`melodypair pair --wav / --listen`: the recognizer hears the melody, then the devices pair."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest
from pairing_helpers import finish, start_pair

from melodypair.host.augment import mix_at_snr, pink_noise
from melodypair.shared.audio_io import write_wav
from melodypair.shared.decoder import default_model_dir
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, Timbre, render_notes

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (default_model_dir() / "model.tflite").exists(), reason="no shipped model yet"
    ),
]
pytest_plugins = ["pairing_fixtures", "audio_fixture"]


def _recording(path, notes, snr_db=15.0, rate=44100):
    r = render_notes(notes, params=SynthParams(timbre=Timbre("pluck"), sample_rate_hz=rate))
    audio = np.concatenate([np.zeros(rate // 2), r.audio, np.zeros(rate // 2)])
    active = np.abs(audio) > 1e-4
    noise = pink_noise(audio.size, rate, np.random.default_rng(3))
    write_wav(path, mix_at_snr(audio, noise, snr_db, active) * 0.5, rate)


def _pair_wav(link: str, wav, store, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "melodypair", "pair", "--link", link, "--wav", str(wav),
         "--store", str(store), "--name", name, "--timeout-s", "20", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_recorded_melody_pairs_with_the_player(tmp_path, free_port):
    melody = MelodyCode().encode(0x0123456789)
    wav = tmp_path / "heard.wav"
    _recording(wav, list(melody.notes))
    listener = _pair_wav(f"tcp-listen://127.0.0.1:{free_port}", wav, tmp_path / "a", "listener")
    player = start_pair(
        f"socket://127.0.0.1:{free_port}",
        list(melody.names),
        tmp_path / "b",
        "player",
        timeout_s=20,
    )
    (code_l, out_l, err_l), (code_p, out_p, err_p) = finish(listener), finish(player)
    assert code_l == 0 and code_p == 0, (err_l, err_p)
    assert out_l["fingerprint"] == out_p["fingerprint"]


def test_a_recording_without_a_melody_fails_cleanly(tmp_path):
    wav = tmp_path / "noise.wav"
    write_wav(wav, 0.05 * np.random.default_rng(0).standard_normal(16000 * 3), 16000)
    proc = _pair_wav("loop://", wav, tmp_path / "s", "x")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert json.loads(out.strip().splitlines()[-1])["reason"] == "invalid_melody"
    assert "no pairing melody heard" in err and "Traceback" not in err


def test_listen_hears_the_melody_on_a_real_microphone_and_pairs(tmp_path, free_port, pulse_server):
    melody = MelodyCode().encode(0xA5C3E1F702)
    listener = subprocess.Popen(
        [sys.executable, "-m", "melodypair", "pair", "--link", f"tcp-listen://127.0.0.1:{free_port}",
         "--listen", "--listen-s", "30", "--store", str(tmp_path / "a"), "--name", "listener",
         "--timeout-s", "30", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=pulse_server.env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    line = ""
    while "listening for the melody" not in line and time.monotonic() < deadline:
        line = listener.stderr.readline()
    assert "listening for the melody on microphone" in line
    time.sleep(0.5)
    subprocess.run(
        [sys.executable, "-m", "melodypair", "play", " ".join(melody.names), "--rate", "48000"],
        env=pulse_server.env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    player = start_pair(f"socket://127.0.0.1:{free_port}", list(melody.names), tmp_path / "b",
                        "player", timeout_s=30)  # fmt: skip
    (code_l, out_l, err_l), (code_p, out_p, err_p) = finish(listener, 60), finish(player, 60)
    assert code_l == 0 and code_p == 0, (err_l, err_p)
    assert out_l["fingerprint"] == out_p["fingerprint"]
