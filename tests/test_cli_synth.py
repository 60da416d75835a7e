"""`melodypair synth` and `melodypair play`, in-process and as the installed program."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from melodypair.cli import main
from melodypair.host.play import default_output_device
from melodypair.shared.alphabet import DEFAULT_ALPHABET
from melodypair.shared.audio_io import dequantize, quantize_pcm16, read_wav
from melodypair.shared.errors import AudioDeviceError
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, Timbre, render_notes

PROGRAM = Path(sys.executable).with_name("melodypair")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(PROGRAM), *args], capture_output=True, text=True, timeout=60, check=False
    )


def _expected_pcm16(notes, **params) -> np.ndarray:
    rendering = render_notes(DEFAULT_ALPHABET.parse(notes), params=SynthParams(**params))
    return quantize_pcm16(rendering.audio)


def _assert_one_line_error(stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("melodypair: error: ")
    assert "Traceback" not in stderr


def test_synth_random_in_process_writes_exactly_the_printed_melody(tmp_path, capsys):
    out = tmp_path / "x.wav"
    assert main(["synth", "--random", "-o", str(out)]) == 0
    notes = capsys.readouterr().out.splitlines()[0].split()
    assert len(notes) == 13
    assert MelodyCode().decode_names(notes).valid  # a real pairing melody, not random notes
    audio, rate = read_wav(out)
    assert rate == 16000
    expected = _expected_pcm16(notes)
    assert np.array_equal(audio, dequantize(expected))
    assert np.array_equal(np.round(audio * 32768).astype(np.int16), expected)


def test_synth_random_as_a_program_with_json(tmp_path):
    out = tmp_path / "melody.wav"
    result = _run(
        "synth", "--random", "-o", str(out), "--json", "--timbre", "pluck", "--rate", "44100"
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["file"] == str(out) and info["rate"] == 44100 and info["timbre"] == "pluck"
    assert info["duration_ms"] == pytest.approx(2990.0)  # 13 notes x (160 + 70) ms
    audio, rate = read_wav(out)
    assert rate == 44100
    expected = _expected_pcm16(info["notes"], timbre=Timbre("pluck"), sample_rate_hz=44100)
    assert np.array_equal(audio, dequantize(expected))


def test_two_random_melodies_differ(tmp_path, capsys):
    for name in ("a.wav", "b.wav"):
        assert main(["synth", "--random", "-o", str(tmp_path / name), "--json"]) == 0
    first, second = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert first["notes"] != second["notes"]


@pytest.mark.parametrize(
    ("bits", "tolerance"), [("16", 2.0**-15), ("24", 2.0**-23), ("32", 2.0**-24), ("float32", 0)]
)
def test_synth_given_notes_in_every_sample_format(tmp_path, capsys, bits, tolerance):
    out = tmp_path / "notes.wav"
    argv = ["synth", "C5, E5 G5 D7", "-o", str(out), "--bits", bits, "--tempo", "2"]
    assert main([*argv, "--detune", "-20", "--timbre", "triangle"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "C5 E5 G5 D7"
    params = SynthParams(timbre=Timbre("triangle"), tempo=2.0, detune_cents=-20.0)
    expected = render_notes([0, 2, 4, 15], params=params).audio
    audio, rate = read_wav(out)
    assert rate == 16000 and audio.size == 7360  # 4 notes x 230 ms / tempo 2
    np.testing.assert_allclose(audio, expected, rtol=0, atol=tolerance)


@pytest.mark.parametrize(
    ("argv", "code"),
    [
        (["synth", "C5 H5", "-o", "{dir}/x.wav"], 1),  # not a note name
        (["synth", "C5 C#5", "-o", "{dir}/x.wav"], 1),  # not in the alphabet
        (["synth", "-o", "{dir}/x.wav"], 2),  # no notes and no --random
        (["synth", "C5", "--random", "-o", "{dir}/x.wav"], 2),
        (["synth", "C5", "--rate", "1000", "-o", "{dir}/x.wav"], 2),
        (["synth", "C5", "--tempo", "0", "-o", "{dir}/x.wav"], 2),
        (["synth", "C5", "--detune", "400", "-o", "{dir}/x.wav"], 2),
        (["synth", "C5", "-o", "{dir}/missing/x.wav"], 1),  # unwritable
        (["synth", "C5", "-o", "{dir}"], 1),  # a directory
    ],
)
def test_bad_synth_inputs_fail_with_one_line(tmp_path, capsys, argv, code):
    argv = [a.replace("{dir}", str(tmp_path)) for a in argv]
    assert main(argv) == code
    _assert_one_line_error(capsys.readouterr().err)
    assert not (tmp_path / "x.wav").exists()


def test_bad_inputs_as_a_program_fail_cleanly(tmp_path):
    result = _run("synth", "C5 X9", "-o", str(tmp_path / "x.wav"))
    assert result.returncode == 1
    _assert_one_line_error(result.stderr)
    assert "X9" in result.stderr
    result = _run("synth", "C5", "--rate", "fast", "-o", str(tmp_path / "x.wav"))
    assert result.returncode == 2  # argparse: usage line plus the error
    assert "invalid int value" in result.stderr and "Traceback" not in result.stderr


def _has_output_device() -> bool:
    try:
        default_output_device()
    except AudioDeviceError:
        return False
    return True


def test_play_without_an_audio_device_fails_cleanly():
    if _has_output_device():
        pytest.skip("this machine has a sound output; the test needs one without")
    result = _run("play", "C5 E5 G5")
    assert result.returncode == 1
    _assert_one_line_error(result.stderr)
    assert "no audio output device" in result.stderr
    assert result.stdout.split() == ["C5", "E5", "G5"]


def test_play_random_without_a_device_fails_cleanly_in_process(capsys):
    if _has_output_device():
        pytest.skip("this machine has a sound output; the test needs one without")
    assert main(["play", "--json"]) == 1
    _assert_one_line_error(capsys.readouterr().err)


def test_play_on_an_unknown_device_names_the_problem(capsys):
    assert main(["play", "C5", "--device", "no-such-speaker-xyz"]) == 1
    err = capsys.readouterr().err
    _assert_one_line_error(err)
    assert "no-such-speaker-xyz" in err


def test_play_without_pyaudio_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pyaudio", None)  # makes `import pyaudio` fail
    assert main(["play", "C5"]) == 1
    err = capsys.readouterr().err
    _assert_one_line_error(err)
    assert "PyAudio" in err


def test_help_explains_both_commands():
    for command in ("synth", "play"):
        result = _run(command, "--help")
        assert result.returncode == 0
        assert "--timbre" in result.stdout and "--rate" in result.stdout
    assert "--random" in _run("synth", "--help").stdout
    assert "--device" in _run("play", "--help").stdout
