"""The hardest case on its own: a note played twice, the rest between the two filled by a room's
reverb or by a ringing (plucked, slowly decaying) note. Does the decoder hear it twice?

Each trial is a 13-note melody in the pairing rhythm with its rests cut to REST_MS (40 ms, as
pairing melodies played until their rests grew to 70 ms) in which every note repeats the
previous one with probability 1/2, from the evaluation distribution (another seed; held-out
timbres included), played through one room at a high SNR (white noise at 30 dB, so the row
measures the re-attack, not the noise). Both decoders hear the same audio:
  repeats_heard    of the notes that repeat the previous one, the fraction heard as a note of
                   their own (a run of k equal notes heard as m counts m - 1 of its k - 1
                   repeats): the re-attack was heard
  other_heard      the fraction of the other notes (each run's first) heard at all
  extra_notes      heard notes that match no played note, per note played (a decoder that
                   splits every long sound would hear repeats, and pay for it here)
  notes_exact      every note heard in the recording was the melody's, as played
  note_error_rate  edit distance between heard and played notes / notes played
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from melodypair.host import case_rows, dataset
from melodypair.host.baselines import stft_peaks
from melodypair.host.evaluate import align
from melodypair.shared.melody_code import MelodyCode

SNR_DB = 30.0
REPEAT_PROB = 0.5
REST_MS = 40.0  # the short rest that makes re-attacks hard, whatever pairing plays


@dataclass(frozen=True)
class RoomCase:
    """One row: a name, the room's RT60 (0 = dry) and the timbres played (None = all)."""

    name: str
    rt60_s: float
    timbres: tuple[str, ...] | None = None


DEFAULT_CASES = (
    RoomCase("dry room", 0.0),
    RoomCase("dry room, plucked notes ringing 80-900 ms", 0.0, ("pluck",)),
    RoomCase("room RT60 0.3 s", 0.3),
    RoomCase("room RT60 0.5 s", 0.5),
    RoomCase("room RT60 0.8 s", 0.8),
)


def matched_notes(played: list[int], heard: list[int]) -> list[bool]:
    """Per played note, whether a minimum-edit alignment pairs it with an equal heard note."""
    none = -1
    return [p == h for p, h in align(played, heard, none) if p != none]


@dataclass(frozen=True)
class RepeatCount:
    """What one recording's heard notes make of its repeats and its other notes."""

    repeats_heard: int
    repeats: int
    other_heard: int
    others: int
    extra: int  # heard notes that match no played note (inserted or wrong)


def count_repeats(played: list[int], heard: list[int]) -> RepeatCount:
    """Per run of k equal played notes of which m were heard (aligned to equal heard notes):
    its first note is an `other` note, heard if m >= 1; its k - 1 repeats were heard m - 1
    times (two notes heard where one was played twice). Counting by runs keeps a merged pair
    from also costing the note before it."""
    matched = matched_notes(played, heard)
    count = dict.fromkeys(("repeats_heard", "repeats", "other_heard", "others"), 0)
    for _, start, end in dataset.runs_of(played):
        heard_in_run = sum(matched[start:end])
        count["others"] += 1
        count["other_heard"] += heard_in_run >= 1
        count["repeats"] += end - start - 1
        count["repeats_heard"] += max(heard_in_run - 1, 0)
    return RepeatCount(**count, extra=len(heard) - sum(matched))


def _config() -> dataset.DataConfig:
    notes = MelodyCode().params.total_notes
    return dataset.pairing_like(dataset.eval_config(), notes, REPEAT_PROB, rest_ms=REST_MS)


def _trials(args) -> list[dict]:
    seed, case, count, model_dir = args
    from melodypair.shared.decoder import decode_audio, load_default_bundle

    bundle = load_default_bundle(model_dir)
    rng = np.random.default_rng(seed)
    cfg = _config()
    timbres = case.timbres or cfg.timbres
    out = []
    for _ in range(count):
        condition = dataset.Condition(
            timbre=str(rng.choice(timbres)),
            rate_hz=int(rng.choice(cfg.rates_hz)),
            noise="white",
            snr_db=SNR_DB,
            rt60_s=case.rt60_s,
            level_dbfs=float(rng.uniform(-30.0, -6.0)),
        )
        ex = dataset.make_example(rng, cfg, condition=condition)
        played = list(ex.symbols)
        for decoder in case_rows.DECODERS:
            if decoder == "learned":
                heard = [n.symbol for n in decode_audio(ex.audio, 16000, bundle).notes]
            else:
                heard = [n.symbol for n in stft_peaks.decode(ex.audio)]
            out.append(
                {
                    "decoder": decoder,
                    "case": case.name,
                    **asdict(count_repeats(played, heard)),
                    "exact": heard == played,
                    "errors": stft_peaks.note_sequence_errors(heard, played),
                    "notes": len(played),
                }
            )
    return out


def run(
    trials_per_case: int = 50,
    seed: int = 20261201,
    cases: tuple[RoomCase, ...] = DEFAULT_CASES,
    model_dir: str | None = None,
    workers: int = 2,
    progress: bool = True,
) -> list[dict]:
    """Rows (one per case and decoder) of the figures above."""
    trials = case_rows.run_cases(
        _trials, cases, trials_per_case, seed, model_dir, workers, progress, "re-attack cases"
    )
    return summarize(trials, [c.name for c in cases])


_LABELS = ("decoder", "case")  # the trial keys that are not counts


def summarize(trials: list[dict], case_order: list[str]) -> list[dict]:
    """Per case and decoder: the trials' counts turned into the rates above."""
    rows = []
    for case, decoder, group in case_rows.case_groups(trials, case_order):
        total = {key: sum(t[key] for t in group) for key in group[0] if key not in _LABELS}
        rows.append(
            {
                "case": case,
                "decoder": decoder,
                "trials": len(group),
                "repeats": total["repeats"],
                "repeats_heard": total["repeats_heard"] / max(total["repeats"], 1),
                "other_heard": total["other_heard"] / max(total["others"], 1),
                "extra_notes": total["extra"] / max(total["notes"], 1),
                "notes_exact": total["exact"] / len(group),
                "note_error_rate": total["errors"] / max(total["notes"], 1),
            }
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    """Learned beside STFT, one line per room."""
    return case_rows.side_by_side(
        rows,
        (
            ("repeats heard twice", "repeats_heard"),
            ("other notes heard", "other_heard"),
            ("extra notes", "extra_notes"),
            ("all exact", "notes_exact"),
        ),
        "room",
        counts=(("repeats played", "repeats"),),
    )
