"""Two models on the same recordings, trial by trial: does one hear more pairing melodies than
the other, or did the melodies drawn decide it?

Every condition of the recognizer evaluation (noise x SNR x room), `trials` pairing melodies
each, drawn from another seed than the README's table (`DEFAULT_SEED`), so a change chosen on
that table is checked on melodies it was not chosen on. Both models hear each recording. Per
figure (melody exact, paired), the trials only one of them got right are counted both ways, and
a two-sided sign test on those (McNemar's exact test) says how often chance alone would split
them as unevenly: trials both got right or both got wrong say nothing about which is better.
A small p says that these two models differ, not that their recipes do: training has chance of
its own, which the test does not see. The shipped recipe retrained with seed 2 heard fewer
reverberant melodies exactly than the shipped model (seed 1), 1378 -> 1356 of 1500, p = 0.03.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from melodypair.host import recognizer_eval
from melodypair.shared.melody_code import MelodyCode

DEFAULT_SEED = 40261122  # not recognizer_eval's 20261122: other melodies than the README table
FIGURES = ("melody_exact", "paired")


@dataclass(frozen=True)
class PairedTrial:
    """One recording heard by both models."""

    noise: str
    snr_db: float
    room: str
    a_exact: bool
    a_paired: bool
    b_exact: bool
    b_paired: bool


@dataclass(frozen=True)
class Split:
    """One figure over a set of trials: how many each model got, and the trials only one got."""

    trials: int
    a: int
    b: int
    a_only: int
    b_only: int
    p_value: float  # two-sided sign test on a_only against b_only


def sign_test_p(a_only: int, b_only: int) -> float:
    """Two-sided exact sign test: the chance that `a_only + b_only` fair coin flips split at
    least as unevenly as this (1.0 when there is nothing to split)."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(a_only, b_only) + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


def split(trials: list[PairedTrial], figure: str) -> Split:
    """`figure` ("melody_exact" or "paired") over `trials`."""
    field = {"melody_exact": "exact", "paired": "paired"}[figure]
    a = [getattr(t, f"a_{field}") for t in trials]
    b = [getattr(t, f"b_{field}") for t in trials]
    a_only = sum(x and not y for x, y in zip(a, b, strict=True))
    b_only = sum(y and not x for x, y in zip(a, b, strict=True))
    return Split(len(trials), sum(a), sum(b), a_only, b_only, sign_test_p(a_only, b_only))


def _trials(args) -> list[PairedTrial]:
    seed, noise, snr_db, room, rt60_s, count, model_a, model_b = args
    from melodypair.shared.decoder import load_default_bundle

    bundles = (load_default_bundle(model_a), load_default_bundle(model_b))
    rng = np.random.default_rng(seed)
    cfg = recognizer_eval.pairing_config()
    code = MelodyCode()
    out = []
    for _ in range(count):
        melody, ex = recognizer_eval.pairing_recording(rng, cfg, code, noise, snr_db, rt60_s)
        verdicts = []
        for bundle in bundles:
            _, found = recognizer_eval.hear("learned", ex.audio, bundle, code)
            verdicts.append(
                (
                    recognizer_eval.melody_heard_exactly(found, list(melody.notes)),
                    recognizer_eval.pairing_verdict(found, melody.secret)[0],
                )
            )
        (a_exact, a_paired), (b_exact, b_paired) = verdicts
        out.append(PairedTrial(noise, snr_db, room, a_exact, a_paired, b_exact, b_paired))
    return out


def run(
    model_a: str,
    model_b: str,
    trials_per_condition: int = 100,
    seed: int = DEFAULT_SEED,
    noises=recognizer_eval.DEFAULT_NOISES,
    snrs_db=recognizer_eval.DEFAULT_SNRS_DB,
    rooms=recognizer_eval.DEFAULT_ROOMS,
    workers: int = 2,
    progress: bool = True,
) -> list[PairedTrial]:
    """Every trial, both models' verdicts on the same recording. The i-th condition (over
    `noises` x `snrs_db` x both rooms, as the evaluation orders them) draws from `seed + i`, so
    leaving a room out does not change what the other one hears."""
    chosen = tuple(rooms)
    tasks = []
    i = 0
    for noise in noises:
        for snr in snrs_db:
            for room, rt60 in recognizer_eval.DEFAULT_ROOMS:
                if (room, rt60) in chosen:
                    tasks.append(
                        (seed + i, noise, snr, room, rt60, trials_per_condition, model_a, model_b)
                    )
                i += 1
    return recognizer_eval.run_pooled(_trials, tasks, "conditions", workers, progress)


def summary(trials: list[PairedTrial]) -> dict:
    """Per room and over all trials: each figure's `Split`, and per condition both counts."""
    groups = {
        room: [t for t in trials if t.room == room]
        for room in dict.fromkeys(t.room for t in trials)
    }
    groups["all"] = trials
    conditions = {}
    for t in trials:
        conditions.setdefault(f"{t.noise}/{t.room}/{t.snr_db:g}dB", []).append(t)
    return {
        "splits": {
            name: {figure: asdict(split(group, figure)) for figure in FIGURES}
            for name, group in groups.items()
        },
        "conditions": {
            key: {figure: [s.a, s.b] for figure in FIGURES for s in [split(group, figure)]}
            for key, group in conditions.items()
        },
    }


def report_lines(result: dict, model_a: str, model_b: str) -> list[str]:
    """The summary for a person: a line per room and figure, then per condition."""
    lines = [f"A = {model_a}", f"B = {model_b}"]
    for name, figures in result["splits"].items():
        for figure, s in figures.items():
            lines.append(
                f"{name:6} {figure:12} A {s['a']:5} B {s['b']:5} of {s['trials']:5}   "
                f"only A {s['a_only']:4}  only B {s['b_only']:4}  p = {s['p_value']:.3f}"
            )
    lines.append("per condition (melody exact A / B, paired A / B):")
    for key, figures in result["conditions"].items():
        (ea, eb), (pa, pb) = figures["melody_exact"], figures["paired"]
        lines.append(f"  {key:22} {ea:4} / {eb:<4} {pa:4} / {pb:<4}")
    return lines
