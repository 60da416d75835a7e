"""How well the recognizer hears pairing melodies, per condition, beside the rule-based peer.

Each trial: a fresh pairing melody in the pairing rhythm, through a room, a microphone and noise
at a given SNR (the project's one SNR definition, see host/augment.py), drawn from the evaluation
distribution (another seed, and timbres/noises never used in training). Both decoders hear the
same audio, and both go through the same melody finder (the learned decoder's finder may also
ask the model's posteriors what a beat with no note held; the STFT decoder has no posteriors):
  melody_exact     the melody the finder found was heard note for note as played: no note
                   corrected, and every beat's note heard, by the smoother or by the model
                   naming it on its beat; a repeat carried over from one long note does not
                   count (notes heard outside the melody, e.g. from speech before or after it,
                   do not count against it)
  notes_exact      every note heard in the whole recording was a melody note, as played (the
                   stricter figure: one stray note anywhere fails it)
  pairing_success  the melody finder recovered the played secret (after correction)
  wrong_melody     the finder accepted a melody with another secret (pairing would then fail)
  note_error_rate  edit distance between heard and played notes / notes played
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from melodypair.host import dataset
from melodypair.host.baselines import stft_peaks
from melodypair.host.pool_worker import init_pool_worker
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.melody_finder import best_melody, find_melodies

DEFAULT_NOISES = ("white", "pink", "babble")
DEFAULT_SNRS_DB = (20.0, 10.0, 5.0, 0.0, -5.0)
DEFAULT_ROOMS = (("dry", 0.0), ("reverb", 0.5))


@dataclass(frozen=True)
class TrialResult:
    decoder: str
    noise: str
    snr_db: float
    room: str
    timbre: str
    melody_exact: bool
    notes_exact: bool
    paired: bool
    wrong_melody: bool
    note_errors: int
    notes_played: int
    corrected: int
    decode_seconds: float
    audio_seconds: float


def pairing_verdict(found, secret: int) -> tuple[bool, bool, int]:
    """(paired, wrong melody, notes corrected) from the melodies a decoder's finder reported."""
    best = best_melody(found)
    if best is None:
        return False, False, 0
    ok = best.result.melody.secret == secret
    return ok, not ok, best.result.corrected


def melody_heard_exactly(found, played: list[int]) -> bool:
    """Whether the best melody the finder reported is `played`, every note as the decoder heard
    it: nothing corrected by the code, and its notes (one per beat, each heard: see
    MelodyFinder._heard_notes) are exactly `played`."""
    best = best_melody(found)
    return (
        best is not None and best.result.corrected == 0 and [h.symbol for h in best.notes] == played
    )


def pairing_config() -> dataset.DataConfig:
    """The evaluation distribution narrowed to what pairing plays: one melody in the pairing
    rhythm, with silence around it (the room, microphone and noise come from the trial)."""
    return dataset.pairing_like(dataset.eval_config(), MelodyCode().params.total_notes)


def seeded_melody(rng: np.random.Generator, code: MelodyCode):
    """A pairing melody from the seeded `rng`, not the CSPRNG pairing uses, so that an
    evaluation hears the same melodies every run (its secret: the top secret_bits bits of whole
    random bytes)."""
    n_bytes = (code.secret_bits + 7) // 8
    return code.encode(int.from_bytes(rng.bytes(n_bytes)) >> (8 * n_bytes - code.secret_bits))


def hear(decoder: str, audio: np.ndarray, bundle, code: MelodyCode) -> tuple[list, list]:
    """(notes heard, melodies found) in 16 kHz audio by the "learned" decoder (with `bundle`)
    or the "stft" peer; both through the same melody finder."""
    if decoder == "learned":
        from melodypair.shared.decoder import decode_audio

        decoded = decode_audio(audio, 16000, bundle)
        return decoded.notes, decoded.melodies
    heard = stft_peaks.decode(audio)
    return heard, find_melodies(heard, code)


def run_pooled(trials_fn, tasks: list, desc: str, workers: int, progress: bool) -> list:
    """Every task's list of trials, run on `workers` processes, concatenated in task order."""
    from tqdm import tqdm

    results: list = []
    with ProcessPoolExecutor(workers, initializer=init_pool_worker) as pool:
        for batch in tqdm(
            pool.map(trials_fn, tasks), total=len(tasks), desc=desc, disable=not progress
        ):
            results.extend(batch)
    return results


def pairing_recording(
    rng: np.random.Generator,
    cfg: dataset.DataConfig,
    code: MelodyCode,
    noise: str,
    snr_db: float,
    rt60_s: float,
):
    """(melody, example) for one trial: a pairing melody, and a timbre, rate and level, all drawn
    from `rng`, with this noise and room.

    The melody comes from `seeded_melody`, so an evaluation or a parity check hears the same
    recordings every run.
    """
    melody = seeded_melody(rng, code)
    condition = dataset.Condition(
        timbre=str(rng.choice(cfg.timbres)),
        rate_hz=int(rng.choice(cfg.rates_hz)),
        noise=noise,
        snr_db=snr_db,
        rt60_s=rt60_s if rt60_s == 0 else float(rng.uniform(0.8, 1.2) * rt60_s),
        level_dbfs=float(rng.uniform(-30.0, -6.0)),
    )
    return melody, dataset.make_example(rng, cfg, symbols=list(melody.notes), condition=condition)


def _trials(args) -> list[TrialResult]:
    seed, noise, snr_db, room, rt60_s, count, model_dir = args
    from melodypair.shared.decoder import load_default_bundle

    bundle = load_default_bundle(model_dir)
    rng = np.random.default_rng(seed)
    cfg = pairing_config()
    code = MelodyCode()
    out = []
    for _ in range(count):
        melody, ex = pairing_recording(rng, cfg, code, noise, snr_db, rt60_s)
        seconds = ex.audio.size / 16000
        for name in ("learned", "stft"):
            started = time.process_time()
            heard, found = hear(name, ex.audio, bundle, code)
            spent = time.process_time() - started
            symbols = [h.symbol for h in heard]
            paired, wrong, corrected = pairing_verdict(found, melody.secret)
            out.append(
                TrialResult(
                    decoder=name,
                    noise=noise,
                    snr_db=snr_db,
                    room=room,
                    timbre=ex.condition.timbre,
                    melody_exact=melody_heard_exactly(found, list(melody.notes)),
                    notes_exact=symbols == list(melody.notes),
                    paired=paired,
                    wrong_melody=wrong,
                    note_errors=stft_peaks.note_sequence_errors(symbols, list(melody.notes)),
                    notes_played=len(melody.notes),
                    corrected=corrected,
                    decode_seconds=spent,
                    audio_seconds=seconds,
                )
            )
    return out


def run(
    trials_per_condition: int = 20,
    seed: int = 20261122,
    noises=DEFAULT_NOISES,
    snrs_db=DEFAULT_SNRS_DB,
    rooms=DEFAULT_ROOMS,
    model_dir: str | None = None,
    workers: int = 2,
    progress: bool = True,
) -> list[dict]:
    """Rows of per-condition figures for both decoders."""
    tasks = []
    for i, (noise, snr, (room, rt60)) in enumerate(
        (n, s, r) for n in noises for s in snrs_db for r in rooms
    ):
        tasks.append((seed + i, noise, snr, room, rt60, trials_per_condition, model_dir))
    return summarize(run_pooled(_trials, tasks, "conditions", workers, progress))


def summarize(results: list[TrialResult]) -> list[dict]:
    rows = []
    keys = sorted(
        {(r.decoder, r.noise, r.snr_db, r.room) for r in results},
        key=lambda k: (k[0], k[1], -k[2], k[3]),
    )
    for decoder, noise, snr, room in keys:
        group = [
            r
            for r in results
            if (r.decoder, r.noise, r.snr_db, r.room) == (decoder, noise, snr, room)
        ]
        n = len(group)
        rows.append(
            {
                "decoder": decoder,
                "noise": noise,
                "snr_db": snr,
                "room": room,
                "trials": n,
                "melody_exact": sum(r.melody_exact for r in group) / n,
                "notes_exact": sum(r.notes_exact for r in group) / n,
                "pairing_success": sum(r.paired for r in group) / n,
                "wrong_melody": sum(r.wrong_melody for r in group) / n,
                "note_error_rate": sum(r.note_errors for r in group)
                / sum(r.notes_played for r in group),
                "rtf": sum(r.decode_seconds for r in group) / sum(r.audio_seconds for r in group),
            }
        )
    return rows


def markdown_table(rows: list[dict]) -> str:
    """Learned vs rule-based, side by side, one line per condition."""
    by_key = {(r["decoder"], r["noise"], r["snr_db"], r["room"]): r for r in rows}
    conditions = sorted(
        {(r["noise"], r["snr_db"], r["room"]) for r in rows}, key=lambda k: (k[0], k[2], -k[1])
    )
    lines = [
        "| noise | room | SNR dB | learned melody exact | learned all notes exact | learned paired "
        "| STFT melody exact | STFT all notes exact | STFT paired |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    figures = ("melody_exact", "notes_exact", "pairing_success")
    for noise, snr, room in conditions:
        a = by_key.get(("learned", noise, snr, room))
        b = by_key.get(("stft", noise, snr, room))
        if a and b:
            cells = [f"{row[k]:.0%}" for row in (a, b) for k in figures]
            lines.append(f"| {noise} | {room} | {snr:g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def as_dicts(results: list[TrialResult]) -> list[dict]:
    return [asdict(r) for r in results]
