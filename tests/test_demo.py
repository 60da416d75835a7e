"""`make demo` runs the main job end to end."""

import subprocess
import sys

from melodypair.shared.audio_io import read_wav


def test_demo_runs_and_shows_correction(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "melodypair.demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "corrected 1 note" in proc.stdout
    assert "rejected" in proc.stdout
    audio, rate = read_wav(tmp_path / "melody.wav")
    assert rate == 16000 and 2.0 < audio.size / rate <= 3.0
