"""`melodypair decode FILE...`: transcribe WAV files into notes, check them as pairing melodies."""

from __future__ import annotations

import argparse
import json
import sys

from melodypair.shared.cli_types import whole_number
from melodypair.shared.errors import MelodypairError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "decode",
        help="transcribe WAV files into notes",
        description=(
            "Transcribe WAV files (any common rate, mono or stereo) into the notes they contain "
            "with the note recognizer, and say whether the notes form a valid pairing melody. "
            "A file that cannot be read gets a one-line error; the other files are still decoded."
        ),
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="WAV files to decode")
    p.add_argument("--json", action="store_true", help="one JSON object per file per line")
    p.add_argument("--model", metavar="DIR", help="model folder (default: the shipped model)")
    p.add_argument(
        "--threads",
        type=whole_number(1),
        default=1,
        help="threads for the model and the features' numpy work (default 1)",
    )
    p.set_defaults(func=_decode)


def describe(file: str, out, code) -> dict:
    """The JSON object of one decoded file."""
    from melodypair.shared.melody_finder import best_melody

    names = [n.name for n in out.notes]
    if out.melodies:
        best = best_melody(out.melodies)
        verdict = {
            "valid": True,
            "corrected": best.result.corrected,
            "melody": list(best.result.melody.names),
        }
    else:
        total = code.params.total_notes
        reason = (
            code.decode([n.symbol for n in out.notes]).reason
            if len(names) == total
            else f"heard {len(names)} notes; a pairing melody has {total} in a steady rhythm"
        )
        verdict = {"valid": False, "corrected": 0, "reason": reason}
    return {
        "file": file,
        "notes": names,
        "events": [n.to_dict() for n in out.notes],
        "code": verdict,
    }


def _decode(args: argparse.Namespace) -> int:
    from melodypair.shared.audio_io import read_wav
    from melodypair.shared.decoder import decode_audio, load_default_bundle
    from melodypair.shared.melody_code import MelodyCode

    bundle = load_default_bundle(args.model)
    code = MelodyCode(bundle.alphabet)
    failures = 0
    for file in args.files:
        try:
            audio, rate = read_wav(file)
            out = decode_audio(audio, rate, bundle, num_threads=args.threads)
        except MelodypairError as err:
            failures += 1
            if args.json:
                print(json.dumps({"file": file, "error": str(err)}), flush=True)
            print(f"melodypair: error: {err}", file=sys.stderr, flush=True)
            continue
        info = describe(file, out, code)
        if args.json:
            print(json.dumps(info), flush=True)
        else:
            verdict = info["code"]
            status = (
                f"valid pairing melody ({verdict['corrected']} corrected)"
                if verdict["valid"]
                else verdict["reason"]
            )
            print(f"{file}: {' '.join(info['notes']) or '(no notes)'}  [{status}]", flush=True)
    return 1 if failures else 0
