"""`make bench`: runs every bench/bench_*.py module's `run()` and prints one table (and --json).

Each `run()` returns a list of dicts: {"name", "value", "unit", "target" (optional text), "ok"
(optional bool)}. Figures are ratios or per-operation times measured within one run, because these
machines are noisy; targets are checked here, never in timed tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the melodypair benchmarks.")
    parser.add_argument("names", nargs="*", help="only these bench modules (e.g. pairing)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    rows, failed = [], False
    for path in sorted(Path(__file__).parent.glob("bench_*.py")):
        short = path.stem.removeprefix("bench_")
        if args.names and short not in args.names:
            continue
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for row in module.run():
            row = {"bench": short, **row}
            rows.append(row)
            failed |= row.get("ok") is False
            if not args.json:
                mark = {True: "ok", False: "MISSED", None: ""}[row.get("ok")]
                target = f"  (target {row['target']})" if row.get("target") else ""
                print(
                    f"{short:>10}  {row['name']:<44} {row['value']:>12.4g} {row['unit']:<10}"
                    f"{target} {mark}",
                    flush=True,
                )
    if args.json:
        print(json.dumps({"rows": rows, "all_targets_met": not failed}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
