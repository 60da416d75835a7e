"""`melodypair train`: train the note recognizer's float model (host side, needs TensorFlow)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train the note recognizer (float model + report)",
        description=(
            "Generate augmented training audio (cached between runs), train the window LSTM "
            "with early stopping (and, if quant_noise_epochs is set, fine-tune it with int8 "
            "rounding noise), and save the float model, calibration windows and a training "
            "report (loss curves, per-class accuracy, confusion matrix) into the output folder. "
            "Then run `melodypair quantize FOLDER` to make the int8 model the device runs."
        ),
    )
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="e.g. models/NAME")
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=(
            "TOML with [training], [model] and [data] tables overriding the defaults "
            "(names as in train_config.json, e.g. [data] reverb_prob = 0.8)"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--json", action="store_true", help="print the report summary as JSON")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from melodypair.host.train import load_config, train

    params, model_cfg, data_cfg = load_config(args.config)
    report = train(params, model_cfg, args.out, progress=not args.quiet, data_cfg=data_cfg)
    summary = {
        "out": str(args.out),
        "val_window_accuracy": round(report["val_window_accuracy"], 4),
        "epochs": report["epochs"],
        "quant_noise_epochs": report["quant_noise_epochs"],
        "train_seconds": report["train_seconds"],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        noisy = summary["quant_noise_epochs"]
        print(
            f"trained {args.out}: validation window accuracy "
            f"{summary['val_window_accuracy']:.2%} after {summary['epochs']} epochs"
            + (f" + {noisy} with int8 rounding noise" if noisy else "")
            + f" ({summary['train_seconds']:.0f} s); next: melodypair quantize {args.out}"
        )
    return 0
