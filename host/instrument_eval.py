"""Instruments whose fundamental is not their loudest partial: does the decoder name the note?

Every timbre the recognizer was first trained on (sine, square, triangle, harmonic, pluck) has
its fundamental as its loudest partial, but a reed, a brass instrument, an oboe, an organ's
octave stops or a small speaker that cannot move air at 500 Hz put more power an octave or more
above it. A decoder that names the loudest partial then hears the melody an octave or a twelfth
up. Each row is one such instrument, a fixed spectrum written for this row and never played as
such in training (the spectral timbre of training draws its spectra at random, see
host/dataset.draw_partials), in a dry room or a 0.5 s room, with white noise at 20 dB so that the
row measures the timbre rather than the noise. Each trial is a pairing melody (13 notes in the
pairing rhythm); both decoders hear the same audio:
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
from melodypair.shared.synth import SPECTRAL, Timbre

SNR_DB = 20.0
SILENT_DB = -100.0  # a partial the instrument does not sound


def _db(amplitudes) -> tuple[float, ...]:
    return tuple(float(20.0 * np.log10(a)) if a > 0 else SILENT_DB for a in amplitudes)


def _reed() -> tuple[float, ...]:
    """Clarinet-like: odd harmonics (even ones 26 dB down), the 3rd and 5th over the 1st."""
    k = np.arange(1, 21)
    amps = np.where(k % 2 == 1, 1.0 / k, 0.05 / k)
    amps[2], amps[4] = 1.3, 0.9
    return _db(amps)


def _brass() -> tuple[float, ...]:
    """Trumpet-like: a broad resonance over the 3rd and 4th harmonics, the fundamental weak."""
    k = np.arange(1, 13)
    amps = np.exp(-0.5 * ((k - 3.5) / 2.0) ** 2)
    amps[0] = 0.3
    return _db(amps)


def _oboe() -> tuple[float, ...]:
    """Oboe-like: the 2nd harmonic loudest, the fundamental 8 dB under it."""
    k = np.arange(1, 21)
    amps = 1.0 / k
    amps[:3] = (0.4, 1.0, 0.8)
    return _db(amps)


INSTRUMENTS: dict[str, Timbre] = {
    "reed": Timbre(SPECTRAL, partial_gains_db=_reed()),
    "brass": Timbre(SPECTRAL, partial_gains_db=_brass()),
    "oboe": Timbre(SPECTRAL, partial_gains_db=_oboe()),
    # an organ's octave stops (8', 4', 2', 1'), the 4' loudest: harmonics 1, 2, 4 and 8 only
    "organ": Timbre(SPECTRAL, partial_gains_db=_db((0.8, 1.0, 0, 0.7, 0, 0, 0, 0.4))),
    # the harmonic timbre through a small speaker: its fundamental 15 dB down
    "small speaker": Timbre(SPECTRAL, partial_gains_db=_db((0.18, 0.5, 1 / 3, 0.25, 0.2, 0.15))),
}


@dataclass(frozen=True)
class InstrumentCase:
    """One row: a name, the instrument and the room's RT60 (0 = dry)."""

    name: str
    instrument: str
    rt60_s: float


DEFAULT_CASES = tuple(
    InstrumentCase(f"{name}, {room}", name, rt60)
    for name in INSTRUMENTS
    for room, rt60 in (("dry", 0.0), ("room RT60 0.5 s", 0.5))
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
        condition = dataset.Condition(
            timbre=SPECTRAL,
            rate_hz=int(rng.choice(cfg.rates_hz)),
            noise="white",
            snr_db=SNR_DB,
            rt60_s=case.rt60_s,
            level_dbfs=float(rng.uniform(-30.0, -6.0)),
        )
        ex = dataset.make_example(
            rng, cfg, symbols=notes, condition=condition, timbre=INSTRUMENTS[case.instrument]
        )
        for decoder in case_rows.DECODERS:
            _, found = hear(decoder, ex.audio, bundle, code)
            out.append(
                {
                    "decoder": decoder,
                    "case": case.name,
                    "melody_exact": melody_heard_exactly(found, notes),
                    "paired": pairing_verdict(found, melody.secret)[0],
                }
            )
    return out


def run(
    trials_per_case: int = 50,
    seed: int = 20261203,
    cases: tuple[InstrumentCase, ...] = DEFAULT_CASES,
    model_dir: str | None = None,
    workers: int = 2,
    progress: bool = True,
) -> list[dict]:
    """Rows (one per case and decoder) of the figures above."""
    trials = case_rows.run_cases(
        _trials, cases, trials_per_case, seed, model_dir, workers, progress, "instrument cases"
    )
    return summarize(trials, [c.name for c in cases])


def summarize(trials: list[dict], case_order: list[str]) -> list[dict]:
    """Per case and decoder: the trials' counts turned into rates."""
    return case_rows.rate_rows(trials, case_order, ("melody_exact", "paired"))


def markdown_table(rows: list[dict]) -> str:
    """Learned beside STFT, one line per case."""
    return case_rows.side_by_side(
        rows, (("melody exact", "melody_exact"), ("paired", "paired")), "instrument"
    )
