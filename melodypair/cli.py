"""The `melodypair` command line: a thin dispatcher over command modules.

Each module in COMMAND_MODULES has `register(subparsers)`, which adds its sub-commands and sets
`func` on them. Handlers import heavy libraries (TensorFlow, pyaudio, LiteRT) lazily, so
`melodypair --help` is instant and the device never imports TensorFlow.

Exit codes: 0 success, 1 failure (a one-line message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from melodypair import __version__
from melodypair.shared.errors import MelodypairError

COMMAND_MODULES = (
    "melodypair.shared.cli_melody",
    "melodypair.shared.cli_pair",
    "melodypair.shared.cli_synth",
    "melodypair.shared.cli_decode",
    "melodypair.host.cli_train",
    "melodypair.device.cli_device",
    "melodypair.host.cli_model",
    "melodypair.host.cli_evaluate",
    "melodypair.host.cli_compare",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="melodypair",
        description=(
            "Pair two devices securely by a short tone melody: one plays a random melody, "
            "the others transcribe it and use it as the password of a key exchange."
        ),
    )
    parser.add_argument("--version", action="version", version=f"melodypair {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MelodypairError as err:
        print(f"melodypair: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("melodypair: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
