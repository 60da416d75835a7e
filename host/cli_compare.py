"""`melodypair compare MODEL_A MODEL_B`: two models on the same recordings, with a sign test."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from melodypair.shared.cli_types import whole_number
from melodypair.shared.errors import UsageError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "compare",
        help="tell whether one model hears more pairing melodies than another, or chance did",
        description=(
            "Play the same pairing melodies to two model bundles under every condition of the "
            "recognizer evaluation (white, pink and babble noise at 20 to -5 dB SNR, dry and "
            "in a 0.5 s room), from another seed than the README's table, and count per figure "
            "(melody heard exactly, paired) the trials only one model got right. A two-sided "
            "sign test on those says how often chance alone would split them as unevenly: a "
            "large p means the melodies drawn, not the models, may have made the difference. "
            "A small p is about these two models, not their recipes: a retraining with another "
            "seed can differ as much. "
            "100 trials a condition take about 5 minutes on 2 cores."
        ),
    )
    p.add_argument("model_a", metavar="MODEL_A", help="model folder, e.g. models/default")
    p.add_argument("model_b", metavar="MODEL_B", help="model folder to compare with it")
    p.add_argument(
        "--trials", type=whole_number(1), default=100, help="melodies per condition (default 100)"
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the melodies (default 40261122)")
    p.add_argument(
        "--rooms",
        default="dry,reverb",
        help="rooms to compare in, comma separated: dry, reverb (default both)",
    )
    p.add_argument(
        "--workers", type=whole_number(1), default=2, help="worker processes (default 2)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    from melodypair.host import compare_models, recognizer_eval
    from melodypair.shared.decoder import load_default_bundle

    known = dict(recognizer_eval.DEFAULT_ROOMS)
    names = [r.strip() for r in args.rooms.split(",") if r.strip()]
    unknown = [r for r in names if r not in known]
    if not names or unknown:
        raise UsageError(f"--rooms takes some of {', '.join(known)} (not {args.rooms!r})")
    for folder in (args.model_a, args.model_b):
        if not Path(folder).is_dir():
            raise UsageError(f"{folder} is not a model folder (model.tflite + manifest.json)")
        load_default_bundle(folder)  # a bad bundle fails here, with its own message
    trials = compare_models.run(
        args.model_a,
        args.model_b,
        trials_per_condition=args.trials,
        seed=compare_models.DEFAULT_SEED if args.seed is None else args.seed,
        rooms=[(r, known[r]) for r in names],
        workers=args.workers,
        progress=not args.no_progress,
    )
    result = compare_models.summary(trials)
    if args.json:
        print(json.dumps({"model_a": args.model_a, "model_b": args.model_b, **result}))
    else:
        print("\n".join(compare_models.report_lines(result, args.model_a, args.model_b)))
    return 0
