"""Rows of cases heard by both decoders, learned beside STFT: running a row's cases, grouping
their trials and the side-by-side table (the re-attack and the quiet-note rows share these)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from melodypair.host.recognizer_eval import run_pooled

DECODERS = ("learned", "stft")


def run_cases(
    trials_fn: Callable,
    cases: tuple,
    trials_per_case: int,
    seed: int,
    model_dir: str | None,
    workers: int,
    progress: bool,
    desc: str,
) -> list[dict]:
    """Every trial of every case, in case order: case i runs `trials_fn((seed + i, case,
    trials_per_case, model_dir))`, so each case hears the same recordings every run."""
    tasks = [(seed + i, case, trials_per_case, model_dir) for i, case in enumerate(cases)]
    return run_pooled(trials_fn, tasks, desc, workers, progress)


def case_groups(trials: list[dict], case_order: list[str]) -> Iterator[tuple[str, str, list]]:
    """(case, decoder, its trials) per case in `case_order`, learned then STFT; a case and
    decoder with no trials is left out."""
    for case in case_order:
        for decoder in DECODERS:
            group = [t for t in trials if (t["case"], t["decoder"]) == (case, decoder)]
            if group:
                yield case, decoder, group


def rate_rows(trials: list[dict], case_order: list[str], keys: tuple[str, ...]) -> list[dict]:
    """Per case and decoder (see case_groups): its number of trials and, for each of `keys`,
    the share of its trials where that key is true."""
    return [
        {"case": case, "decoder": decoder, "trials": len(group)}
        | {key: sum(t[key] for t in group) / len(group) for key in keys}
        for case, decoder, group in case_groups(trials, case_order)
    ]


def side_by_side(
    rows: list[dict],
    figures: tuple[tuple[str, str], ...],
    case_heading: str,
    counts: tuple[tuple[str, str], ...] = (),
) -> str:
    """A markdown table, one line per case that both decoders heard: the case, its `counts`
    (heading, key; the learned row's value), then each of `figures` (heading, key; as a
    percentage) for the learned decoder and then for STFT."""
    by_key = {(r["case"], r["decoder"]): r for r in rows}
    cases = list(dict.fromkeys(r["case"] for r in rows))
    headings = [case_heading] + [h for h, _ in counts]
    headings += [f"{who}: {h}" for who in ("learned", "STFT") for h, _ in figures]
    lines = [
        "| " + " | ".join(headings) + " |",
        "|---|" + "---:|" * (len(counts) + 2 * len(figures)),
    ]
    for case in cases:
        learned, stft = by_key.get((case, "learned")), by_key.get((case, "stft"))
        if learned and stft:
            cells = [case] + [str(learned[k]) for _, k in counts]
            cells += [f"{r[k]:.0%}" for r in (learned, stft) for _, k in figures]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
