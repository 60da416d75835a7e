"""`make demo`: two device processes hear a melody through a real PulseAudio null sink, decode it
with the shipped model and pair over a socat pty pair; and the negative case."""

import subprocess
import sys

import pytest

from melodypair.shared.decoder import default_model_dir
from melodypair.shared.melody_code import MelodyCode

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not (default_model_dir() / "model.tflite").exists(), reason="no shipped model yet"
    ),
]


# Fixed melodies keep the test reproducible; `make demo` itself always draws a fresh one.
MELODY_A = " ".join(MelodyCode().encode(0x0123456789).names)
MELODY_B = " ".join(MelodyCode().encode(0xA5C3E1F702).names)


def _demo(tmp_path, *args):
    proc = subprocess.run(
        [sys.executable, "-m", "melodypair.demo", "--keep", str(tmp_path), *args],
        capture_output=True,
        text=True,
        timeout=240,
    )
    lines = [x for x in proc.stdout.splitlines() if x.startswith("device ")]
    return proc, lines


def test_two_devices_pair_by_listening(tmp_path):
    proc, lines = _demo(tmp_path, "--melody", MELODY_A)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(lines) == 2
    assert lines[0].startswith("device A: paired, fingerprint ")
    assert lines[1].startswith("device B: paired, fingerprint ")
    assert lines[0].split()[-1] == lines[1].split()[-1]
    assert len(list((tmp_path / "keys-a").glob("keys.json"))) == 1


def test_devices_hearing_different_melodies_both_fail_and_store_nothing(tmp_path):
    proc, lines = _demo(tmp_path, "--different", "--melody", MELODY_A, "--melody", MELODY_B)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [x.split(":")[0] for x in lines] == ["device A", "device B"]
    assert all(": failed, " in x for x in lines)
    assert "Traceback" not in proc.stderr
    for side in ("a", "b"):
        assert not (tmp_path / f"keys-{side}" / "keys.json").exists()
