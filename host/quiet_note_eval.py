"""A note quieter than its neighbours: does the decoder still hear it?

A cheap speaker's or a room's uneven response plays some notes of a melody several dB under the
others, but the training data played every note of a melody at one level, and its tonal
interferers (which are labelled silence) always sound 5-25 dB under the melody. Each trial is a
pairing melody (13 notes in the pairing rhythm) from the evaluation distribution (held-out
timbres included) in which one note, neither the first nor the last, is played `quiet_db` under
the rest, with white noise at 30 dB so that the row measures the level step, not the noise.
Both decoders hear the same audio:
  quiet_heard    the quiet note was heard: a heard note of its pitch overlaps it in time
  others_heard   the same for the other notes
  melody_exact   the melody the finder found is the one played, note for note
  paired         the finder recovered the secret (after Reed-Solomon correction)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from melodypair.host import case_rows, dataset
from melodypair.host.recognizer_eval import (
    hear,
    melody_heard_exactly,
    pairing_config,
    pairing_verdict,
    seeded_melody,
)
from melodypair.shared.melody_code import MelodyCode

SNR_DB = 30.0


@dataclass(frozen=True)
class QuietCase:
    """One row: a name, the room's RT60 (0 = dry) and how far under the rest one note plays."""

    name: str
    rt60_s: float
    quiet_db: float


DEFAULT_CASES = tuple(
    QuietCase(f"{room}, one note {db:.0f} dB under", rt60, db)
    for room, rt60 in (("dry", 0.0), ("room RT60 0.5 s", 0.5))
    for db in (6.0, 10.0, 15.0)
)


def heard_at(heard, symbol: int, start_sample: int, end_sample: int) -> bool:
    """Whether a heard note of `symbol` overlaps [start_sample, end_sample)."""
    return any(
        h.symbol == symbol and h.start_sample < end_sample and h.end_sample > start_sample
        for h in heard
    )


def _trials(args) -> list[dict]:
    seed, case, count, model_dir = args
    from melodypair.shared.decoder import load_default_bundle

    bundle = load_default_bundle(model_dir)
    rng = np.random.default_rng(seed)
    cfg = pairing_config()
    code = MelodyCode()
    out = []
    for _ in range(count):
        melody = seeded_melody(rng, code)
        notes = list(melody.notes)
        quiet = int(rng.integers(1, len(notes) - 1))
        gains = [0.0] * len(notes)
        gains[quiet] = -case.quiet_db
        condition = dataset.Condition(
            timbre=str(rng.choice(cfg.timbres)),
            rate_hz=int(rng.choice(cfg.rates_hz)),
            noise="white",
            snr_db=SNR_DB,
            rt60_s=case.rt60_s,
            level_dbfs=float(rng.uniform(-30.0, -6.0)),
        )
        ex = dataset.make_example(rng, cfg, symbols=notes, condition=condition, gain_db=gains)
        for decoder in case_rows.DECODERS:
            heard, found = hear(decoder, ex.audio, bundle, code)
            spans_heard = [heard_at(heard, *span) for span in ex.note_spans]
            out.append(
                {
                    "decoder": decoder,
                    "case": case.name,
                    "quiet_heard": spans_heard[quiet],
                    "others_heard": sum(spans_heard) - spans_heard[quiet],
                    "others": len(notes) - 1,
                    "melody_exact": melody_heard_exactly(found, notes),
                    "paired": pairing_verdict(found, melody.secret)[0],
                }
            )
    return out


def run(
    trials_per_case: int = 50,
    seed: int = 20261202,
    cases: tuple[QuietCase, ...] = DEFAULT_CASES,
    model_dir: str | None = None,
    workers: int = 2,
    progress: bool = True,
) -> list[dict]:
    """Rows (one per case and decoder) of the figures above."""
    trials = case_rows.run_cases(
        _trials, cases, trials_per_case, seed, model_dir, workers, progress, "quiet-note cases"
    )
    return summarize(trials, [c.name for c in cases])


def summarize(trials: list[dict], case_order: list[str]) -> list[dict]:
    """Per case and decoder: the trials' counts turned into rates (other notes heard: of all
    the other notes the case played)."""
    rows = case_rows.rate_rows(trials, case_order, ("quiet_heard", "melody_exact", "paired"))
    for row, (_, _, group) in zip(rows, case_rows.case_groups(trials, case_order), strict=True):
        row["others_heard"] = sum(t["others_heard"] for t in group) / max(
            sum(t["others"] for t in group), 1
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    """Learned beside STFT, one line per case."""
    return case_rows.side_by_side(
        rows,
        (
            ("quiet note heard", "quiet_heard"),
            ("other notes heard", "others_heard"),
            ("melody exact", "melody_exact"),
            ("paired", "paired"),
        ),
        "case",
    )
