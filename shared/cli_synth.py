"""`melodypair synth` (render a melody to a WAV file) and `melodypair play` (play it aloud)."""

from __future__ import annotations

import argparse
import json

from melodypair.shared.errors import UsageError
from melodypair.shared.synth import TIMBRE_NAMES

_BITS = ("16", "24", "32", "float32")


def register(subparsers: argparse._SubParsersAction) -> None:
    synth = subparsers.add_parser(
        "synth",
        help="render a melody to a WAV file",
        description=(
            "Render notes (or, with --random, a fresh pairing melody) to a mono WAV file with "
            "the pairing rhythm. Prints the notes it used; with --json one JSON object."
        ),
    )
    _add_melody_options(synth, default_rate_hz=16000, with_random=True)
    synth.add_argument("-o", "--output", required=True, metavar="FILE", help="WAV file to write")
    synth.add_argument(
        "--bits",
        choices=_BITS,
        default="16",
        help="sample format: 16/24/32-bit integer PCM or 32-bit float (default: 16)",
    )
    synth.set_defaults(func=_synth)

    play = subparsers.add_parser(
        "play",
        help="play a melody through the speaker",
        description=(
            "Play notes (by default a fresh random pairing melody, whose notes are printed) "
            "through the default audio output or the one chosen with --device."
        ),
    )
    # The player picks the sound: "pluck" is the one the recognizer hears best (measured on clean
    # audio with the shipped model: 59/60 random melodies paired, against 51/60 for "harmonic").
    _add_melody_options(play, default_rate_hz=48000, with_random=False, default_timbre="pluck")
    play.add_argument(
        "--device",
        metavar="NAME|INDEX",
        help="output device: its PortAudio index or part of its name (default: system default)",
    )
    play.set_defaults(func=_play)


def _add_melody_options(
    parser: argparse.ArgumentParser,
    default_rate_hz: int,
    with_random: bool,
    default_timbre: str = "sine",
) -> None:
    parser.add_argument(
        "notes",
        nargs="?",
        metavar="NOTES",
        help='notes to play, e.g. "C5 E5 G5" (names from C5 to D7; spaces or commas)',
    )
    if with_random:
        parser.add_argument(
            "--random",
            action="store_true",
            help="use a fresh pairing melody from the operating system's CSPRNG",
        )
    parser.add_argument(
        "--timbre",
        choices=TIMBRE_NAMES,
        default=default_timbre,
        help=f"sound of the notes (default: {default_timbre})",
    )
    parser.add_argument(
        "--rate",
        type=int,
        default=default_rate_hz,
        metavar="HZ",
        help=f"sample rate, 8000-192000 Hz (default: {default_rate_hz})",
    )
    parser.add_argument(
        "--tempo", type=float, default=1.0, help="speed factor, 0.25-4; 2 plays twice as fast"
    )
    parser.add_argument(
        "--detune", type=float, default=0.0, metavar="CENTS", help="shift every note, -100 to 100"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _render(args: argparse.Namespace, fresh: bool):
    """(symbols, rendering) of the notes given, or of a fresh pairing melody if `fresh`."""
    from melodypair.shared.alphabet import DEFAULT_ALPHABET
    from melodypair.shared.melody_code import MelodyCode
    from melodypair.shared.synth import SynthParams, Timbre, render_notes

    if args.notes is not None and fresh:
        raise UsageError("give notes or --random, not both")
    if args.notes is None and not fresh:
        raise UsageError('give the notes to render (e.g. "C5 E5 G5") or --random')
    symbols = list(MelodyCode().new().notes) if fresh else DEFAULT_ALPHABET.parse(args.notes)
    params = SynthParams(
        timbre=Timbre(args.timbre),
        sample_rate_hz=args.rate,
        tempo=args.tempo,
        detune_cents=args.detune,
    )
    return symbols, render_notes(symbols, params=params)


def _summary(args: argparse.Namespace, symbols: list[int], rendering) -> dict:
    from melodypair.shared.alphabet import DEFAULT_ALPHABET

    return {
        "notes": DEFAULT_ALPHABET.format(symbols).split(),
        "rate": rendering.sample_rate_hz,
        "duration_ms": rendering.duration_ms,
        "timbre": args.timbre,
        "tempo": args.tempo,
        "detune_cents": args.detune,
    }


def _synth(args: argparse.Namespace) -> int:
    from melodypair.shared.audio_io import write_wav

    symbols, rendering = _render(args, fresh=args.random)
    bits = args.bits if args.bits == "float32" else int(args.bits)
    write_wav(args.output, rendering.audio, rendering.sample_rate_hz, bits=bits)
    info = {**_summary(args, symbols, rendering), "file": args.output, "bits": args.bits}
    if args.json:
        print(json.dumps(info))
    else:
        print(" ".join(info["notes"]))
        print(
            f"wrote {args.output}: {len(symbols)} notes, {info['duration_ms'] / 1000:.2f} s, "
            f"{info['rate']} Hz, {args.timbre}"
        )
    return 0


def _play(args: argparse.Namespace) -> int:
    from melodypair.host.play import play_audio

    symbols, rendering = _render(args, fresh=args.notes is None)
    info = _summary(args, symbols, rendering)
    if not args.json:
        print(" ".join(info["notes"]), flush=True)
    device = play_audio(rendering.audio, rendering.sample_rate_hz, args.device)
    if args.json:
        print(json.dumps({**info, "device": device.name}))
    return 0
