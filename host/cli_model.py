"""`melodypair quantize models/NAME`: the trained float model -> checked full-int8 model bundle."""

from __future__ import annotations

import argparse
import json
import os

from melodypair.shared.cli_types import whole_number


def register(subparsers: argparse._SubParsersAction) -> None:
    quantize = subparsers.add_parser(
        "quantize",
        help="export a trained model to a checked full-int8 TFLite bundle",
        description=(
            "Convert the float model that `melodypair train` left in MODEL_DIR (float/model.keras, "
            "train_config.json, calibration.npz) into a full-integer int8 TFLite model with int8 "
            "input and output and only builtin ops, check that it agrees with the float model "
            "window by window and that both, in the same decoder, hear the same pairing melodies "
            "in evaluation recordings (white/pink/babble noise, 20 to 0 dB SNR, dry and "
            "reverberant; at most 1 in 20 may differ), and write MODEL_DIR/model.tflite and "
            "MODEL_DIR/manifest.json. Nothing is written when a check fails."
        ),
    )
    quantize.add_argument(
        "model_dir", metavar="MODEL_DIR", help="training folder, e.g. models/NAME"
    )
    quantize.add_argument(
        "--min-agreement",
        type=_fraction,
        default=0.99,
        help="least fraction of windows where int8 and float pick the same class (default 0.99)",
    )
    quantize.add_argument(
        "--melody-recordings",
        type=whole_number(0),
        default=60,
        metavar="N",
        help="evaluation recordings for the melody parity check (default 60; 0 skips it, "
        "e.g. for a model with another alphabet)",
    )
    quantize.add_argument("--json", action="store_true", help="print one JSON object")
    quantize.set_defaults(func=_quantize)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _quantize(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from melodypair.host.quantize import quantize_folder

    bundle, report, melodies = quantize_folder(
        args.model_dir,
        min_agreement=args.min_agreement,
        melody_recordings=args.melody_recordings,
        progress=not args.json,
    )
    m = bundle.manifest
    info = {
        "model": str(bundle.path),
        "tflite_bytes": bundle.size_bytes,
        "tflite_sha256": m.tflite_sha256,
        "ops": m.metrics["tflite_ops"],
        "parity": report.to_dict(),
        "melody_parity": melodies.to_dict() if melodies else None,
    }
    if args.json:
        print(json.dumps(info))
    else:
        print(f"wrote {bundle.tflite_path} ({bundle.size_bytes / 1000:.1f} KB) and manifest.json")
        print(f"ops: {' '.join(info['ops'])}")
        line = f"int8 agrees with float on {report.agreement:.2%} of {report.n_windows} windows"
        if report.int8_accuracy is not None:
            line += f"; accuracy float {report.float_accuracy:.2%}, int8 {report.int8_accuracy:.2%}"
        print(line)
        if melodies:
            print(
                f"same pairing melody from both on {melodies.same_melody:.0%} of "
                f"{melodies.recordings} evaluation recordings "
                f"(same notes {melodies.same_notes:.0%}; "
                f"melody recovered: float {melodies.float_paired:.0%}, "
                f"int8 {melodies.int8_paired:.0%})"
            )
    return 0
