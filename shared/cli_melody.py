"""`melodypair melody new`: draw a fresh pairing melody."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    melody = subparsers.add_parser(
        "melody", help="pairing melodies", description="Make and inspect pairing melodies."
    )
    sub = melody.add_subparsers(dest="melody_command", metavar="ACTION", required=True)
    new = sub.add_parser(
        "new",
        help="draw a fresh random pairing melody",
        description=(
            "Draw a fresh pairing melody from the operating system's CSPRNG and print its notes, "
            "its secret bits and its entropy. The check notes at the end let a listener correct "
            "one wrong note and reject two."
        ),
    )
    new.add_argument("--json", action="store_true", help="print one JSON object")
    new.set_defaults(func=_new)


def _new(args: argparse.Namespace) -> int:
    from melodypair.shared.melody_code import MelodyCode
    from melodypair.shared.rhythm import DEFAULT_RHYTHM

    code = MelodyCode()
    melody = code.new()
    info = {
        "notes": list(melody.names),
        "data_notes": code.params.data_notes,
        "check_notes": code.params.check_notes,
        "bits": format(melody.secret, f"0{code.secret_bits}b"),
        "entropy_bits": melody.entropy_bits,
        "duration_ms": DEFAULT_RHYTHM.duration_ms(len(melody.notes)),
    }
    if args.json:
        print(json.dumps(info))
    else:
        print(" ".join(info["notes"]))
        print(f"secret: {info['bits']} ({info['entropy_bits']} bits)")
        print(
            f"{info['data_notes']} data + {info['check_notes']} check notes, "
            f"{info['duration_ms'] / 1000:.1f} s"
        )
    return 0
