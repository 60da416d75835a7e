"""`melodypair evaluate`: how reliably two devices pair by melody under noise, beside the peers.

One trial: a pairing melody (its 40-bit secret drawn from the seeded generator) is played once into
a room; two devices hear it, each through its own channel (host/channel.py: room position, noise
segment, microphone, clock drift, capture rate). Each device decodes it with the decoder under
test, the melody code corrects what it can, and the two devices run the real pairing protocol in
memory: two protocol.Session objects with the bytes each sends handed to the other. The trial
succeeds when both reach Done with the same key. Every melody decoder hears exactly the same
audio and goes through the same melody finder and code; the ggwave peer sends the same 40 bits
through the same two device channels and its payload is used as the same password.

False accepts, per decoder: device A's accepted password from one trial against device B's from a
trial with another melody, both heard by that decoder, through the same protocol; none may pair.
Per decoder, because devices of one system pair with each other, and because a decoder that turns
noise into the same wrong password in two trials is exactly what the count is there to catch.

Seeds: every trial has its own generator, derived from (seed, sweep point, trial), so results do
not depend on the number of workers or on which optional peers are installed. Only the timings
and the protocol's own randomness (fresh nonces and SPAKE2 secrets from os.urandom) vary.
"""

from __future__ import annotations

import os
import time
import zlib
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace

import numpy as np

from melodypair.host import channel
from melodypair.host.pool_worker import init_pool_worker
from melodypair.shared import kdf
from melodypair.shared.errors import MelodypairError
from melodypair.shared.melody_code import Melody, MelodyCode
from melodypair.shared.melody_finder import FoundMelody, best_melody, find_melodies
from melodypair.shared.protocol import Done, Fail, Send, Session
from melodypair.shared.synth import TIMBRE_NAMES

LEARNED, STFT, PYIN = "learned", "stft", "pyin"
MELODY_DECODERS: tuple[str, ...] = (LEARNED, STFT, PYIN)
GGWAVE_PREFIX = "ggwave:"
DEFAULT_SEED = 20261122
PEER_RATE_HZ = 16000  # the rule-based peers read 16 kHz audio (the shared resampler gets it)


class EvaluationError(MelodypairError):
    """The evaluation cannot run as asked (e.g. no usable decoder)."""


# ---------------------------------------------------------------- what is swept


@dataclass(frozen=True)
class Room:
    name: str
    rt60_s: float


ROOMS: tuple[Room, ...] = (Room("dry", 0.0), Room("rt60_0.3", 0.3), Room("rt60_0.6", 0.6))
QUIET = "none"  # the noise of the quiet-room (clean) points


@dataclass(frozen=True)
class SweepPoint:
    """One condition of the sweep and how many trials it gets."""

    noise: str  # a channel noise, or QUIET
    snr_db: float | None  # None for QUIET
    room: Room
    trials: int

    def condition(self) -> channel.Condition:
        return channel.Condition(self.noise, self.snr_db or 0.0, self.room.rt60_s)


@dataclass(frozen=True)
class Sweep:
    name: str
    points: tuple[SweepPoint, ...]
    false_accept_trials: int

    @property
    def total_trials(self) -> int:
        return sum(p.trials for p in self.points)


FULL_NOISES: tuple[str, ...] = ("white", "pink", "babble", "tonal", "music", "transient")
FULL_SNRS_DB: tuple[float, ...] = (-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0)


def full_sweep(trials: int = 16, clean_trials: int = 30, false_accepts: int = 1200) -> Sweep:
    """Every noise x SNR -10..20 dB x room, plus quiet rooms (sized for < 30 min on 2 cores)."""
    points = [SweepPoint(QUIET, None, room, clean_trials) for room in ROOMS]
    points += [
        SweepPoint(noise, snr, room, trials)
        for noise in FULL_NOISES
        for snr in FULL_SNRS_DB
        for room in ROOMS
    ]
    return Sweep("full", tuple(points), false_accepts)


def quick_sweep(trials: int = 5, clean_trials: int = 100, false_accepts: int = 300) -> Sweep:
    """A sanity sweep (< 3 min on 2 cores): many trials in a quiet dry room (clean audio, the
    sanity check), a few in quiet reverberant rooms and at a few noisy points."""
    points = [SweepPoint(QUIET, None, ROOMS[0], clean_trials)]
    points += [SweepPoint(QUIET, None, room, max(1, clean_trials // 8)) for room in ROOMS[1:]]
    points += [
        SweepPoint(noise, snr, ROOMS[i % len(ROOMS)], trials)
        for i, (noise, snr) in enumerate(
            (n, s) for n in ("white", "babble", "music") for s in (10.0, 0.0)
        )
    ]
    return Sweep("quick", tuple(points), false_accepts)


@dataclass(frozen=True)
class RunOptions:
    """How to run a sweep: seed, parallelism, model and which decoders take part."""

    seed: int = DEFAULT_SEED
    workers: int = 2
    model_dir: str | None = None
    decoders: tuple[str, ...] = MELODY_DECODERS
    ggwave_protocols: tuple[str, ...] = ("MT_FASTEST", "MT_NORMAL", "AUDIBLE_FAST")
    chunk_trials: int = 3
    progress: bool = True


# ---------------------------------------------------------------- what a trial yields


@dataclass(frozen=True)
class DeviceOutcome:
    """What one device made of what it heard."""

    data: tuple[int, ...] | None  # data symbols (the password) of what it accepted, if anything
    right: bool  # it accepted the played secret
    wrong: bool  # it accepted another secret (a pairing with it fails)
    exact: bool  # it heard every note (the whole payload) exactly as sent
    note_errors: int | None  # edit distance heard vs played notes (None for a modem)
    notes_played: int | None
    corrected: int | None  # notes the code corrected in what it accepted
    decode_s: float  # CPU time to decode the recording
    audio_s: float  # length of the recording


@dataclass(frozen=True)
class TrialRecord:
    """One trial for one decoder (or ggwave protocol): both devices and the pairing."""

    decoder: str
    point: int  # index into Sweep.points
    trial: int
    timbre: str
    secret: int
    paired: bool
    devices: tuple[DeviceOutcome, DeviceOutcome]
    on_air_s: float
    exchange_s: float | None  # protocol CPU time per side; None when no exchange could start
    snr_measured_db: float  # at device A's microphone (inf in a quiet room)

    @property
    def time_to_pair_s(self) -> float | None:
        """On air + the slower device's decode + the exchange; None when it did not pair."""
        if not self.paired or self.exchange_s is None:
            return None
        return self.on_air_s + max(d.decode_s for d in self.devices) + self.exchange_s


@dataclass(frozen=True)
class FalseAcceptResult:
    """One decoder's false-accept trials: pairs of its devices that heard different melodies."""

    trials: int
    accepts: int  # both sides Done with the same key
    one_sided: int  # exactly one side Done (must be 0 too)


@dataclass(frozen=True, eq=False)
class EvalResult:
    """Everything a sweep produced; host/report.py turns it into files."""

    sweep: Sweep
    options: RunOptions
    records: list[TrialRecord]
    confusion: dict[str, np.ndarray]  # decoder -> [played, heard] counts, index 16 = none
    false_accepts: dict[str, FalseAcceptResult]  # decoder -> its false-accept trials
    skipped: dict[str, str]
    model: dict
    elapsed_s: float
    decoders: tuple[str, ...]  # melody decoders, then "ggwave:<protocol>" in the order run


# ---------------------------------------------------------------- the protocol, in memory


def pair_in_memory(password_a: bytes, password_b: bytes) -> tuple[bool, float, int]:
    """Two protocol sessions against each other, bytes handed over in memory.

    Returns (paired: both Done with the same key, CPU seconds per side, sides that reached Done).
    """
    started = time.process_time()
    sides = (Session(password_a, "device-a", 0), Session(password_b, "device-b", 0))
    inbox = [b"", b""]
    keys: list[bytes | None] = [None, None]

    def act(i: int, actions) -> None:
        for action in actions:
            if isinstance(action, Send):
                inbox[1 - i] += action.data
            elif isinstance(action, Done):
                keys[i] = action.agreed.key
            elif isinstance(action, Fail):
                keys[i] = None

    act(0, sides[0].start(0))
    act(1, sides[1].start(0))
    for _ in range(64):  # the protocol needs 3 rounds; a bound, not a timeout
        if not any(inbox) or all(s.finished for s in sides):
            break
        for i in (0, 1):
            data, inbox[i] = inbox[i], b""
            if data and not sides[i].finished:
                act(i, sides[i].receive(data, 0))
    done = sum(k is not None for k in keys)
    paired = done == 2 and keys[0] == keys[1]
    return paired, (time.process_time() - started) / 2, done


def _password(data: tuple[int, ...], alphabet_size: int) -> bytes:
    return kdf.encode_password(data, alphabet_size)


# ---------------------------------------------------------------- decoding by each decoder


def align(played: list[int], heard: list[int], none: int) -> list[tuple[int, int]]:
    """(played, heard) pairs of a minimal edit alignment; `none` stands for a missing side."""
    n, m = len(played), len(heard)
    cost = np.zeros((n + 1, m + 1), dtype=np.int64)
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(
                cost[i - 1, j] + 1,
                cost[i, j - 1] + 1,
                cost[i - 1, j - 1] + (played[i - 1] != heard[j - 1]),
            )
    pairs = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and cost[i, j] == cost[i - 1, j - 1] + (played[i - 1] != heard[j - 1]):
            pairs.append((played[i - 1], heard[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and cost[i, j] == cost[i - 1, j] + 1:
            pairs.append((played[i - 1], none))
            i -= 1
        else:
            pairs.append((none, heard[j - 1]))
            j -= 1
    return pairs[::-1]


class _Worker:
    """Per-process state: the model, the code and the decoders of this run."""

    def __init__(self, seed: int, sweep: Sweep, options: RunOptions):
        from melodypair.shared.decoder import load_default_bundle

        self.seed = seed
        self.sweep = sweep
        self.options = options
        self.bundle = (
            load_default_bundle(options.model_dir) if LEARNED in options.decoders else None
        )
        self.code = MelodyCode(self.bundle.alphabet) if self.bundle else MelodyCode()
        self.n_notes = len(self.code.alphabet)
        self.protocols = []
        if options.ggwave_protocols:
            from melodypair.host.peers import ggwave_peer

            self.protocols = [ggwave_peer.PROTOCOLS[p] for p in options.ggwave_protocols]
        self._warm_up()

    def _warm_up(self) -> None:
        """Pay one-time costs (pYIN's compiled code, noise banks) before any trial is timed."""
        noises = {p.noise for p in self.sweep.points}
        if "babble" in noises:
            from melodypair.host.augment import speech_bank

            speech_bank(channel.AIR_RATE_HZ)
        if channel.MUSIC in noises:
            channel.music_bank(channel.AIR_RATE_HZ)
        if PYIN in self.options.decoders:
            from melodypair.host.peers import pyin

            pyin.decode(np.zeros(PEER_RATE_HZ // 2, np.float32))

    def confusion_zero(self) -> np.ndarray:
        return np.zeros((self.n_notes + 1, self.n_notes + 1), dtype=np.int64)

    def notes_of(self, decoder: str, heard: channel.Heard) -> tuple[list, list[FoundMelody]]:
        """Heard notes and accepted melodies of one recording by one melody decoder."""
        if decoder == LEARNED:
            from melodypair.shared.decoder import decode_audio

            out = decode_audio(heard.audio, heard.rate_hz, self.bundle)
            return out.notes, out.melodies
        from melodypair.shared.resample import resample

        audio = resample(heard.audio, heard.rate_hz, PEER_RATE_HZ)
        if decoder == STFT:
            from melodypair.host.baselines import stft_peaks

            notes = stft_peaks.decode(audio, alphabet=self.code.alphabet)
        elif decoder == PYIN:
            from melodypair.host.peers import pyin

            notes = pyin.decode(audio, alphabet=self.code.alphabet)
        else:
            raise ValueError(f"unknown decoder {decoder}")
        return notes, find_melodies(notes, self.code)

    def melody_outcome(
        self, decoder: str, heard: channel.Heard, melody: Melody, confusion: np.ndarray
    ) -> DeviceOutcome:
        started = time.process_time()
        notes, melodies = self.notes_of(decoder, heard)
        decode_s = time.process_time() - started
        symbols = [n.symbol for n in notes]
        played = list(melody.notes)
        pairs = align(played, symbols, self.n_notes)
        for p, h in pairs:
            confusion[p, h] += 1
        best = best_melody(melodies)
        accepted = best.result.melody if best else None
        return DeviceOutcome(
            data=accepted.data if accepted else None,
            right=bool(accepted and accepted.secret == melody.secret),
            wrong=bool(accepted and accepted.secret != melody.secret),
            exact=symbols == played,
            note_errors=sum(p != h for p, h in pairs),
            notes_played=len(played),
            corrected=best.result.corrected if best else None,
            decode_s=decode_s,
            audio_s=heard.audio.size / heard.rate_hz,
        )

    def ggwave_outcome(self, protocol, heard: channel.Heard, payload: bytes) -> DeviceOutcome:
        from melodypair.host.peers import ggwave_peer

        started = time.process_time()
        got = ggwave_peer.receive(heard.audio, protocol)
        decode_s = time.process_time() - started
        return DeviceOutcome(
            data=ggwave_peer.data_symbols(got) if got else None,
            right=got == payload,
            wrong=got is not None and got != payload,
            exact=got == payload,
            note_errors=None,
            notes_played=None,
            corrected=None,
            decode_s=decode_s,
            audio_s=heard.audio.size / heard.rate_hz,
        )

    def record(
        self,
        decoder: str,
        point: int,
        trial: int,
        timbre: str,
        secret: int,
        outcomes: tuple[DeviceOutcome, DeviceOutcome],
        on_air_s: float,
        snr_db: float,
    ) -> TrialRecord:
        a, b = outcomes
        paired, exchange_s = False, None
        if a.data is not None and b.data is not None:
            paired, exchange_s, _ = pair_in_memory(
                _password(a.data, self.n_notes), _password(b.data, self.n_notes)
            )
        return TrialRecord(
            decoder, point, trial, timbre, secret, paired, outcomes, on_air_s, exchange_s, snr_db
        )

    def run_trial(
        self, point_index: int, trial: int, confusion: dict[str, np.ndarray]
    ) -> list[TrialRecord]:
        point = self.sweep.points[point_index]
        melody_seq, ggwave_seq = np.random.SeedSequence([self.seed, point_index, trial]).spawn(2)
        rng = np.random.default_rng(melody_seq)
        secret = int(rng.integers(1 << self.code.secret_bits))
        melody = self.code.encode(secret)
        timbre = TIMBRE_NAMES[trial % len(TIMBRE_NAMES)]
        tx = channel.melody_transmission(melody, channel.random_timbre(timbre, rng), rng)
        devices = [channel.draw_device(point.condition(), rng) for _ in range(2)]
        heard = [channel.hear(tx, d) for d in devices]
        records = []
        for decoder in self.options.decoders:
            outcomes = tuple(
                self.melody_outcome(decoder, h, melody, confusion[decoder]) for h in heard
            )
            records.append(
                self.record(
                    decoder,
                    point_index,
                    trial,
                    timbre,
                    secret,
                    outcomes,
                    tx.on_air_s,
                    heard[0].snr_db,
                )
            )
        if self.protocols:
            from melodypair.host.peers import ggwave_peer

            grng = np.random.default_rng(ggwave_seq)
            payload = ggwave_peer.payload_of(secret, self.code.secret_bits)
            for protocol in self.protocols:
                gtx = channel.waveform_transmission(
                    ggwave_peer.encode(payload, protocol), ggwave_peer.RATE_HZ, grng
                )
                gheard = [
                    channel.hear(gtx, d, capture_rate_hz=ggwave_peer.RATE_HZ) for d in devices
                ]
                outcomes = tuple(self.ggwave_outcome(protocol, h, payload) for h in gheard)
                records.append(
                    self.record(
                        GGWAVE_PREFIX + protocol.name,
                        point_index,
                        trial,
                        timbre,
                        secret,
                        outcomes,
                        gtx.on_air_s,
                        gheard[0].snr_db,
                    )
                )
        return records


_WORKER: _Worker | None = None


def _init_worker(seed: int, sweep: Sweep, options: RunOptions) -> None:
    global _WORKER
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _WORKER = _Worker(seed, sweep, options)


def _init_pool_worker(seed: int, sweep: Sweep, options: RunOptions) -> None:
    init_pool_worker()
    _init_worker(seed, sweep, options)


def _run_chunk(task: tuple[int, int, int]) -> tuple[list[TrialRecord], dict[str, np.ndarray]]:
    point_index, first, stop = task
    worker = _WORKER
    names = list(worker.options.decoders)
    confusion = {name: worker.confusion_zero() for name in names}
    records = []
    for trial in range(first, stop):
        records += worker.run_trial(point_index, trial, confusion)
    return records, confusion


def _run_false_accepts(pairs: list[tuple[tuple[int, ...], tuple[int, ...]]]) -> tuple[int, int]:
    n_notes = _WORKER.n_notes
    accepts = one_sided = 0
    for data_a, data_b in pairs:
        paired, _, done = pair_in_memory(_password(data_a, n_notes), _password(data_b, n_notes))
        accepts += paired
        one_sided += done == 1
    return accepts, one_sided


# ---------------------------------------------------------------- running a sweep


def available_decoders(
    wanted: Iterable[str], protocols: Iterable[str]
) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, str]]:
    """The melody decoders and ggwave protocols that can run here, and why others cannot."""
    from melodypair.host.peers import ggwave_peer, pyin

    skipped: dict[str, str] = {}
    decoders = []
    for name in wanted:
        if name not in MELODY_DECODERS:
            raise EvaluationError(
                f"unknown decoder '{name}'; choose from {', '.join(MELODY_DECODERS)}"
            )
        if name == PYIN and not pyin.available():
            skipped[PYIN] = "librosa not installed, skipped (pip install 'melodypair[eval]')"
            continue
        decoders.append(name)
    chosen = []
    for name in protocols:
        if name not in ggwave_peer.PROTOCOLS:
            raise EvaluationError(
                f"unknown ggwave protocol '{name}'; choose from {', '.join(ggwave_peer.PROTOCOLS)}"
            )
        chosen.append(name)
    if chosen and not ggwave_peer.available():
        skipped["ggwave"] = "ggwave not installed, skipped (pip install 'melodypair[eval]')"
        chosen = []
    return tuple(decoders), tuple(chosen), skipped


def model_info(model_dir: str | None) -> dict:
    """Name, path and sha256 of the model evaluated."""
    from melodypair.shared.decoder import load_default_bundle

    bundle = load_default_bundle(model_dir)
    return {
        "name": bundle.manifest.name,
        "path": str(bundle.path),
        "sha256": bundle.manifest.tflite_sha256,
        "bytes": bundle.size_bytes,
    }


def _tasks(sweep: Sweep, chunk: int) -> list[tuple[int, int, int]]:
    return [
        (i, first, min(first + chunk, point.trials))
        for i, point in enumerate(sweep.points)
        for first in range(0, point.trials, chunk)
    ]


Pairs = list[tuple[tuple[int, ...], tuple[int, ...]]]


def _false_accept_pairs(records: list[TrialRecord], count: int, seed: int) -> dict[str, Pairs]:
    """Per decoder, `count` (device A, device B) pairs of the passwords it accepted in trials
    whose melodies differ, drawn reproducibly (the draw of one decoder does not depend on which
    others ran); a decoder that accepted fewer than two melodies has none."""
    in_order = sorted(records, key=lambda r: (r.point, r.trial))
    out = {}
    for decoder in sorted({r.decoder for r in records}):
        accepted = [
            (r.secret, d.data)
            for r in in_order
            if r.decoder == decoder
            for d in r.devices
            if d.data is not None
        ]
        if len({s for s, _ in accepted}) < 2:
            continue
        rng = np.random.default_rng([seed, 0xFA, zlib.crc32(decoder.encode())])
        pairs: Pairs = []
        while len(pairs) < count:
            i, j = rng.integers(len(accepted), size=2)
            if accepted[i][0] != accepted[j][0]:
                pairs.append((accepted[i][1], accepted[j][1]))
        out[decoder] = pairs
    return out


def melody_false_accepts(false_accepts: dict[str, FalseAcceptResult]) -> FalseAcceptResult:
    """The melody decoders' false accepts together: what `--check` holds at zero. ggwave is a
    peer whose counts are reported, not checked (its noise decodes can repeat, e.g. all zeros)."""
    mine = [fa for name, fa in false_accepts.items() if not name.startswith(GGWAVE_PREFIX)]
    return FalseAcceptResult(
        sum(fa.trials for fa in mine),
        sum(fa.accepts for fa in mine),
        sum(fa.one_sided for fa in mine),
    )


def run(sweep: Sweep, options: RunOptions = RunOptions()) -> EvalResult:
    """Run every trial of `sweep` (in parallel), then the false-accept trials."""
    from tqdm import tqdm

    started = time.perf_counter()
    decoders, protocols, skipped = available_decoders(options.decoders, options.ggwave_protocols)
    if not decoders and not protocols:
        raise EvaluationError("no decoder to evaluate")
    model = model_info(options.model_dir) if LEARNED in decoders else {}
    options = replace(options, decoders=decoders, ggwave_protocols=protocols)
    names = list(decoders)
    confusion = {}
    records: list[TrialRecord] = []
    tasks = _tasks(sweep, options.chunk_trials)
    init = (options.seed, sweep, options)
    bar = tqdm(
        total=sweep.total_trials,
        desc=f"{sweep.name} sweep",
        unit="trial",
        disable=not options.progress,
    )

    def collect(result) -> None:
        chunk_records, chunk_confusion = result
        records.extend(chunk_records)
        for name in names:
            confusion[name] = confusion.get(name, 0) + chunk_confusion[name]
        bar.update(len({(r.point, r.trial) for r in chunk_records}))

    fa_pairs: dict[str, Pairs] = {}
    fa: dict[str, tuple[int, int]] = {}
    if options.workers <= 1:
        _init_worker(*init)
        for task in tasks:
            collect(_run_chunk(task))
        bar.close()
        fa_pairs = _false_accept_pairs(records, sweep.false_accept_trials, options.seed)
        fa = {name: _run_false_accepts(pairs) for name, pairs in fa_pairs.items()}
    else:
        with ProcessPoolExecutor(
            options.workers, initializer=_init_pool_worker, initargs=init
        ) as pool:
            for future in as_completed([pool.submit(_run_chunk, t) for t in tasks]):
                collect(future.result())
            bar.close()
            fa_pairs = _false_accept_pairs(records, sweep.false_accept_trials, options.seed)
            total = sum(len(p) for p in fa_pairs.values())
            step = max(1, total // (4 * options.workers))
            fa_bar = tqdm(
                total=total,
                desc="false-accept trials",
                unit="pair",
                disable=not options.progress,
            )
            chunks = [
                (name, pairs[i : i + step])
                for name, pairs in fa_pairs.items()
                for i in range(0, len(pairs), step)
            ]
            futures = {pool.submit(_run_false_accepts, c): (name, len(c)) for name, c in chunks}
            fa = {name: (0, 0) for name in fa_pairs}
            for future in as_completed(futures):
                name, size = futures[future]
                a, o = future.result()
                fa[name] = (fa[name][0] + a, fa[name][1] + o)
                fa_bar.update(size)
            fa_bar.close()
    records.sort(key=lambda r: (r.point, r.trial, r.decoder))
    return EvalResult(
        sweep=sweep,
        options=options,
        records=records,
        confusion=confusion,
        false_accepts={
            name: FalseAcceptResult(len(pairs), *fa[name]) for name, pairs in fa_pairs.items()
        },
        skipped=skipped,
        model=model,
        elapsed_s=time.perf_counter() - started,
        decoders=(*decoders, *(GGWAVE_PREFIX + p for p in protocols)),
    )
