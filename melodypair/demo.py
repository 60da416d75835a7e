"""`make demo`: the main job, shown step by step on this machine.

Draws a fresh pairing melody from the CSPRNG, renders it to a WAV, reads it back, then shows the
melody code at work: one wrong note is corrected, two are rejected.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melodypair.shared.audio_io import read_wav, write_wav
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, Timbre, render_notes


def _say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)


def run(out_dir: Path) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    code = MelodyCode()
    alphabet = code.alphabet

    melody = code.new()
    _say("draw", f"fresh melody ({melody.entropy_bits} secret bits): {' '.join(melody.names)}")

    wav = out_dir / "melody.wav"
    rendering = render_notes(
        list(melody.notes), params=SynthParams(timbre=Timbre("harmonic"), sample_rate_hz=16000)
    )
    write_wav(wav, rendering.audio, 16000)
    audio, rate = read_wav(wav)
    _say("render", f"{wav}: {audio.size / rate:.2f} s at {rate} Hz, {len(rendering.events)} notes")

    flipped = list(melody.notes)
    position = 4
    flipped[position] = (flipped[position] + 5) % len(alphabet)
    heard = alphabet.format(flipped)
    result = code.decode(flipped)
    _say("noise", f"a listener mishears note {position + 1}: {heard}")
    if not (result.valid and result.melody.secret == melody.secret):
        _say("code", "FAILED: the code did not restore the melody")
        return 1
    _say(
        "code",
        f"corrected {result.corrected} note at position {result.corrected_positions[0] + 1}: "
        f"{' '.join(result.melody.names)} (same secret)",
    )
    flipped[position + 3] = (flipped[position + 3] + 1) % len(alphabet)
    result = code.decode(flipped)
    _say("code", f"two wrong notes are rejected, never mis-corrected: {result.reason}")
    return 0 if not result.valid else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="where files go")
    args = parser.parse_args(argv)
    return run(args.out)


if __name__ == "__main__":
    sys.exit(main())
