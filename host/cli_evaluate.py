"""`melodypair evaluate`: pairing success under noise, the learned recognizer beside its peers."""

from __future__ import annotations

import argparse
import json
import sys

from melodypair.shared.cli_types import whole_number
from melodypair.shared.errors import MelodypairError, UsageError


class EvaluationCheckFailed(MelodypairError):
    """--check: a quiet dry room paired < 99%, or a false accept happened."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="measure pairing success under noise beside the peers, with a report and plots",
        description=(
            "Simulate pairings: a fresh melody played once, two devices each hearing it through "
            "their own room position, noise, microphone, clock drift and capture rate, each "
            "decoding it, then both running the real pairing protocol in memory. Sweeps noise "
            "types, SNR (-10 to +20 dB) and rooms for the learned recognizer and its peers "
            "(the rule-based STFT decoder, librosa's pYIN, and ggwave sending the same 40 bits), "
            "counts false accepts between different melodies, and writes report.json, "
            "report.csv, report.md and PNG plots to --out. The full sweep takes up to 30 "
            "minutes on 2 cores; --quick is a sanity sweep of a few minutes."
        ),
    )
    p.add_argument("--quick", action="store_true", help="the small sanity sweep (< 3 min)")
    p.add_argument(
        "--out", metavar="DIR", help="report folder (default out/eval or out/eval-quick)"
    )
    p.add_argument("--seed", type=int, default=None, help="seed of every trial (default 20261122)")
    p.add_argument(
        "--workers", type=whole_number(1), default=2, help="worker processes (default 2)"
    )
    p.add_argument("--model", metavar="DIR", help="model folder (default: the shipped model)")
    p.add_argument("--trials", type=whole_number(1), help="trials per noisy condition")
    p.add_argument("--clean-trials", type=whole_number(1), help="trials per quiet room")
    p.add_argument(
        "--false-accept-trials",
        type=whole_number(1),
        help="pairings between different melodies, per decoder (default 1200 full, 300 quick)",
    )
    p.add_argument(
        "--decoders",
        default="learned,stft,pyin",
        help="melody decoders, comma separated (default learned,stft,pyin)",
    )
    p.add_argument(
        "--ggwave",
        default="MT_FASTEST,MT_NORMAL,AUDIBLE_FAST",
        help="ggwave protocols to compare, comma separated, or 'none'",
    )
    p.add_argument(
        "--check",
        action="store_true",
        help=(
            "exit 1 unless a quiet dry room pairs >= 99%% and no melody decoder paired two "
            "devices that heard different melodies (ggwave's false accepts are only reported)"
        ),
    )
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=_evaluate)


def _names(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    return () if names == ("none",) else names


def _evaluate(args: argparse.Namespace) -> int:
    from melodypair.host import evaluate, report

    sizes = {
        k: v
        for k, v in (
            ("trials", args.trials),
            ("clean_trials", args.clean_trials),
            ("false_accepts", args.false_accept_trials),
        )
        if v is not None
    }
    sweep = evaluate.quick_sweep(**sizes) if args.quick else evaluate.full_sweep(**sizes)
    options = evaluate.RunOptions(
        seed=evaluate.DEFAULT_SEED if args.seed is None else args.seed,
        workers=args.workers,
        model_dir=args.model,
        decoders=_names(args.decoders),
        ggwave_protocols=_names(args.ggwave),
        progress=not args.no_progress,
    )
    if not options.decoders and not options.ggwave_protocols:
        raise UsageError("nothing to evaluate: give --decoders or --ggwave")
    out_dir = args.out or ("out/eval-quick" if args.quick else "out/eval")
    result = evaluate.run(sweep, options)
    data = report.build_report(result)
    written = report.write_report(data, out_dir)
    checks = data["checks"]
    if args.json:
        print(
            json.dumps(
                {
                    "out": out_dir,
                    "files": [str(p) for p in written],
                    "trials": data["trials"],
                    "elapsed_s": data["elapsed_s"],
                    "model_sha256": data["model_sha256"],
                    "skipped": data["skipped"],
                    "headline": data["headline"],
                    "quiet_success": data["quiet_success"],
                    "false_accept_trials": data["false_accept_trials"],
                    "false_accepts": data["false_accepts"],
                    "false_accepts_by_decoder": data["false_accepts_by_decoder"],
                    "checks": checks,
                }
            )
        )
    else:
        for why in data["skipped"].values():
            print(why, file=sys.stderr)
        print(report.headline_table(data))
        print()
        print(report.modem_table(data))
        print(
            f"\nfalse accepts (melody decoders): {data['false_accepts']} of "
            f"{data['false_accept_trials']}; "
            f"{data['trials']} trials in {data['elapsed_s']:.0f} s; report in {out_dir}/"
        )
    if args.check and not (checks["clean_ok"] and checks["false_accepts_ok"]):
        raise EvaluationCheckFailed(
            f"evaluation check failed: the quiet dry room paired "
            f"{report.percent(checks['clean_pairing_learned'])} (need >= 99%), "
            f"melody decoders' false accepts {data['false_accepts']} (need 0); "
            f"see {out_dir}/report.md"
        )
    return 0
