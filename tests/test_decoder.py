"""The streaming decoder on the shipped model: exact on clean melodies, chunking-invariant."""

import json
import subprocess
import sys

import numpy as np
import pytest

from melodypair.shared.audio_io import write_wav
from melodypair.shared.decoder import Decoder, decode_audio, default_model_dir, load_default_bundle
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, Timbre, render_notes

pytestmark = pytest.mark.skipif(
    not (default_model_dir() / "model.tflite").exists(), reason="no shipped model yet"
)


@pytest.fixture(scope="module")
def bundle():
    return load_default_bundle()


def _melody_audio(notes, rate=16000, timbre="harmonic", lead_s=0.5, tail_s=0.5):
    r = render_notes(notes, params=SynthParams(timbre=Timbre(timbre), sample_rate_hz=rate))
    audio = np.concatenate([np.zeros(int(lead_s * rate)), r.audio, np.zeros(int(tail_s * rate))])
    return audio.astype(np.float32), r


@pytest.mark.parametrize("timbre", ["sine", "square", "harmonic", "pluck"])
def test_clean_melodies_decode_exactly_and_pair(bundle, timbre):
    code = MelodyCode()
    for secret in (0x0123456789, 0xA5C3E1F702, 0x5EC0DE1234):
        melody = code.encode(secret)
        audio, _ = _melody_audio(list(melody.notes), timbre=timbre)
        out = decode_audio(audio, 16000, bundle)
        assert [n.symbol for n in out.notes] == list(melody.notes)
        assert [m.result.melody.secret for m in out.melodies] == [melody.secret]


def test_repeated_notes_stay_separate(bundle):
    notes = [5, 5, 5, 2, 2, 9, 9, 9, 9, 0, 0, 14, 14]
    audio, _ = _melody_audio(notes)
    assert [n.symbol for n in decode_audio(audio, 16000, bundle).notes] == notes


def test_note_times_follow_the_audio(bundle):
    notes = [1, 4, 7, 10, 13, 3]
    audio, rendering = _melody_audio(notes, lead_s=0.7)
    heard = decode_audio(audio, 16000, bundle).notes
    assert len(heard) == len(notes)
    for h, e in zip(heard, rendering.events, strict=True):
        assert abs(h.start_ms - (700 + e.start_sample / 16)) < 45
        assert abs(h.end_ms - (700 + e.end_sample / 16)) < 60


@pytest.mark.parametrize("rate", [8000, 44100, 48000])
def test_other_input_rates(bundle, rate):
    melody = MelodyCode().encode(0x31415926AB)
    audio, _ = _melody_audio(list(melody.notes), rate=rate)
    out = decode_audio(audio, rate, bundle)
    assert [m.result.melody.secret for m in out.melodies] == [melody.secret]


@pytest.mark.parametrize("chunk", [1, 160, 333, 4096])
def test_streaming_equals_whole_file(bundle, chunk):
    rng = np.random.default_rng(5)
    melody = MelodyCode().encode(0x2718281828)
    audio, _ = _melody_audio(list(melody.notes), rate=44100)
    audio = audio + 0.05 * rng.standard_normal(audio.size).astype(np.float32)
    whole = decode_audio(audio, 44100, bundle)
    if chunk == 1:
        audio = audio[: 44100 * 2]  # keep the 1-sample case quick
        whole = decode_audio(audio, 44100, bundle)
    decoder = Decoder(bundle, 44100)
    notes, melodies = [], []
    for i in range(0, audio.size, chunk):
        out = decoder.process(audio[i : i + chunk])
        notes += out.notes
        melodies += out.melodies
    out = decoder.flush()
    assert notes + out.notes == whole.notes
    assert [m.result.melody.secret for m in melodies + out.melodies] == [
        m.result.melody.secret for m in whole.melodies
    ]


def test_noise_alone_gives_no_melody(bundle):
    rng = np.random.default_rng(1)
    out = decode_audio((0.1 * rng.standard_normal(16000 * 4)).astype(np.float32), 16000, bundle)
    assert out.melodies == []


def test_decode_cli_json_and_bad_files(tmp_path):
    melody = MelodyCode().encode(0x0123456789)
    audio, _ = _melody_audio(list(melody.notes))
    good = tmp_path / "good.wav"
    write_wav(good, audio, 16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav at all")
    proc = subprocess.run(
        [sys.executable, "-m", "melodypair", "decode", "--json", str(bad), str(good)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert lines[0]["file"] == str(bad) and "error" in lines[0]
    assert lines[1]["notes"] == list(melody.names)
    assert lines[1]["code"] == {"valid": True, "corrected": 0, "melody": list(melody.names)}
    assert len(lines[1]["events"]) == 13
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_decode_cli_refuses_fewer_than_one_thread(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "melodypair", "decode", "--threads", "0", str(tmp_path / "x.wav")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "argument --threads: must be at least 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_decoding_never_imports_tensorflow(tmp_path):
    melody = MelodyCode().encode(0xA5C3E1F702)
    audio, _ = _melody_audio(list(melody.notes))
    wav = tmp_path / "m.wav"
    write_wav(wav, audio, 16000)
    code = (
        "import sys\n"
        "from melodypair.cli import main\n"
        f"rc = main(['decode', '--json', {str(wav)!r}])\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
