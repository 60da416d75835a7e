"""The acoustic channel between one player and each listening device, for the evaluation.

A transmission (a melody, or a modem's waveform) is played once into a room. Every device hears
it through its *own* channel: its own position in the room (impulse response), its own segment
of the room's noise at the condition's SNR, its own microphone colouring, its own clock (a
sample-rate drift of up to +-200 ppm) and its own capture rate, then a 16-bit converter. One
device draws one channel per trial and applies it to whatever is played in that trial, so a
melody and a ggwave message go through the same room, noise, microphone and clock.

SNR follows the project's one definition (host/augment.py): the transmission's power over its
active samples against the noise's power over the same samples, full band, measured at the
microphone (after the room, before the microphone's colouring).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import fft as sp_fft

from melodypair.host import augment
from melodypair.shared.alphabet import DEFAULT_ALPHABET, Alphabet
from melodypair.shared.melody_code import Melody
from melodypair.shared.resample import resample
from melodypair.shared.synth import Envelope, SynthParams, Timbre, render_notes, render_tones

AIR_RATE_HZ = 48000  # the player renders, and the room is simulated, at this rate
MAX_DRIFT_PPM = 200.0
CAPTURE_RATES_HZ: tuple[int, ...] = (16000, 44100, 48000)
MUSIC = "music"
CHANNEL_NOISES: tuple[str, ...] = (*augment.NOISES, MUSIC)
SNR_DEFINITION = (
    "SNR = 10 log10(P_signal / P_noise), both mean powers taken over the transmission's active "
    "samples (notes sounding; a modem's whole message) at the microphone, full band, before "
    "the microphone's colouring; the same definition for every decoder and signalling scheme "
    "(host/augment.py)"
)


# ---------------------------------------------------------------- what is played


@dataclass(frozen=True, eq=False)
class Transmission:
    """What the player sends into the room: audio at `rate_hz` and where it is active."""

    audio: np.ndarray  # float64, peak 1
    active: np.ndarray  # bool, same length: samples that count as signal for the SNR
    rate_hz: int

    @property
    def on_air_s(self) -> float:
        """From the first active sample to the last one."""
        idx = np.flatnonzero(self.active)
        return float((idx[-1] - idx[0] + 1) / self.rate_hz) if idx.size else 0.0


def pad(audio: np.ndarray, active: np.ndarray, lead: int, tail: int, rate_hz: int) -> Transmission:
    """A transmission with `lead` and `tail` samples of silence around it, peak-normalized."""
    x = np.concatenate([np.zeros(lead), np.asarray(audio, np.float64), np.zeros(tail)])
    a = np.concatenate([np.zeros(lead, bool), np.asarray(active, bool), np.zeros(tail, bool)])
    peak = float(np.max(np.abs(x)))
    return Transmission(x / peak if peak > 0 else x, a, rate_hz)


def random_timbre(name: str, rng: np.random.Generator) -> Timbre:
    """A timbre of the given kind with its knobs drawn as the training data draws them."""
    return Timbre(
        name,
        vibrato_rate_hz=float(rng.uniform(4.0, 7.0)),
        vibrato_depth_cents=float(rng.uniform(10.0, 35.0)),
        pluck_decay_ms=float(rng.uniform(80.0, 900.0)),
    )


def melody_transmission(
    melody: Melody,
    timbre: Timbre,
    rng: np.random.Generator,
    lead_ms: tuple[float, float] = (300.0, 1000.0),
    tail_ms: tuple[float, float] = (300.0, 1000.0),
) -> Transmission:
    """A pairing melody as the player plays it: the project's rhythm, one timbre, AIR_RATE_HZ."""
    rendering = render_notes(
        list(melody.notes),
        alphabet=melody.alphabet,
        params=SynthParams(timbre=timbre, sample_rate_hz=AIR_RATE_HZ, amplitude=1.0),
    )
    active = np.zeros(rendering.audio.size, bool)
    for e in rendering.events:
        active[e.start_sample : e.end_sample] = True
    lead = int(rng.uniform(*lead_ms) * AIR_RATE_HZ / 1000)
    tail = int(rng.uniform(*tail_ms) * AIR_RATE_HZ / 1000)
    return pad(rendering.audio, active, lead, tail, AIR_RATE_HZ)


def waveform_transmission(
    waveform: np.ndarray,
    rate_hz: int,
    rng: np.random.Generator,
    lead_ms: tuple[float, float] = (300.0, 1000.0),
    tail_ms: tuple[float, float] = (300.0, 1000.0),
) -> Transmission:
    """A modem's waveform; its active region is its whole message (first to last sample)."""
    nonzero = np.flatnonzero(np.abs(waveform) > 0)
    active = np.zeros(waveform.size, bool)
    if nonzero.size:
        active[nonzero[0] : nonzero[-1] + 1] = True
    lead = int(rng.uniform(*lead_ms) * rate_hz / 1000)
    tail = int(rng.uniform(*tail_ms) * rate_hz / 1000)
    return pad(waveform, active, lead, tail, rate_hz)


# ---------------------------------------------------------------- one device's channel


@dataclass(frozen=True)
class Condition:
    """The acoustic condition of a trial, shared by every device in it."""

    noise: str  # one of CHANNEL_NOISES, or "none" for a quiet room
    snr_db: float  # ignored when noise is "none"
    rt60_s: float  # 0 = dry (no room)

    def __post_init__(self) -> None:
        if self.noise != "none" and self.noise not in CHANNEL_NOISES:
            raise ValueError(f"unknown noise '{self.noise}'; choose from {CHANNEL_NOISES}")
        if self.rt60_s < 0:
            raise ValueError("rt60_s must not be negative")


@dataclass(frozen=True, eq=False)
class DeviceChannel:
    """One device's own way of hearing the room (drawn by `draw_device`)."""

    condition: Condition
    ir_seed: int  # its position in the room: the impulse response drawn from this seed
    noise_seed: int  # its segment of the room's noise
    colouring: augment.Colouring
    drift_ppm: float  # its clock runs this many ppm fast (negative: slow)
    level_dbfs: float  # how loud the transmission's peak arrives
    capture_rate_hz: int


def draw_device(
    condition: Condition,
    rng: np.random.Generator,
    capture_rates_hz: tuple[int, ...] = CAPTURE_RATES_HZ,
    max_drift_ppm: float = MAX_DRIFT_PPM,
) -> DeviceChannel:
    """A random device in the room: position, noise segment, microphone, clock and rate."""
    return DeviceChannel(
        condition=condition,
        ir_seed=int(rng.integers(2**63)),
        noise_seed=int(rng.integers(2**63)),
        colouring=augment.random_colouring(rng, min(capture_rates_hz)),
        drift_ppm=float(rng.uniform(-max_drift_ppm, max_drift_ppm)),
        level_dbfs=float(rng.uniform(-30.0, -6.0)),
        capture_rate_hz=int(rng.choice(capture_rates_hz)),
    )


@dataclass(frozen=True, eq=False)
class Heard:
    """What one device recorded: 16-bit-quantized float32 audio at its capture rate."""

    audio: np.ndarray
    rate_hz: int
    snr_db: float  # measured at the microphone by the project's definition (inf when quiet)


def hear(tx: Transmission, device: DeviceChannel, capture_rate_hz: int | None = None) -> Heard:
    """The transmission as `device` records it (room, noise, microphone, clock, converter).

    `capture_rate_hz` overrides the device's own rate (a modem listens at its own rate).
    """
    rate = tx.rate_hz
    cond = device.condition
    x = tx.audio
    if cond.rt60_s > 0:
        ir = augment.room_impulse_response(cond.rt60_s, rate, np.random.default_rng(device.ir_seed))
        x = augment.reverberate(x, ir)
    x = x / (np.max(np.abs(x)) + augment.EPS) * 10 ** (device.level_dbfs / 20.0)
    snr = float("inf")
    if cond.noise != "none":
        noise = channel_noise(cond.noise, x.size, rate, np.random.default_rng(device.noise_seed))
        mixed = augment.mix_at_snr(x, noise, cond.snr_db, tx.active)
        snr = augment.measured_snr_db(x, mixed - x, tx.active)
        x = mixed
    x = augment.apply_colouring(x, device.colouring, rate)
    x = drift(x, device.drift_ppm)
    out_rate = capture_rate_hz or device.capture_rate_hz
    if out_rate != rate:
        x = resample(x, rate, out_rate).astype(np.float64)
    return Heard(quantize_16bit(x), out_rate, snr)


_DRIFT_TAPS = 32  # windowed-sinc interpolator: taps per output sample ...
_DRIFT_PHASES = 4096  # ... and tabulated fractional positions (timing error < 1/8192 sample)
_DRIFT_CUTOFF = 0.9  # of Nyquist: the synthesizer keeps every partial below 0.45 x the rate
_DRIFT_CHUNK = 16384  # outputs computed at once (bounds the temporaries)


def drift(x: np.ndarray, ppm: float) -> np.ndarray:
    """What a converter whose clock runs `ppm` fast records of `x`: the same sound sampled
    round(len(x) * (1 + ppm/1e6)) times, by band-limited (Kaiser-windowed sinc) interpolation."""
    x = np.asarray(x, np.float64)
    if ppm == 0 or x.size < 2:
        return x.copy()
    factor = 1.0 + ppm * 1e-6
    half = _DRIFT_TAPS // 2
    padded = np.concatenate([np.zeros(half), x, np.zeros(half + 1)])
    offsets = np.arange(-half + 1, half + 1)
    table = _sinc_table()
    out = np.empty(round(x.size * factor))
    for start in range(0, out.size, _DRIFT_CHUNK):
        pos = np.arange(start, min(out.size, start + _DRIFT_CHUNK)) / factor
        base = np.floor(pos).astype(np.int64)
        phase = np.rint((pos - base) * _DRIFT_PHASES).astype(np.int64)
        base += phase // _DRIFT_PHASES
        phase %= _DRIFT_PHASES
        taps = padded[base[:, None] + offsets[None, :] + half]
        out[start : start + pos.size] = np.einsum("kj,kj->k", taps, table[phase])
    return out


@lru_cache(maxsize=1)
def _sinc_table() -> np.ndarray:
    """[phase, tap] weights: tap j of an output at fractional position phase/_DRIFT_PHASES."""
    half = _DRIFT_TAPS // 2
    frac = np.arange(_DRIFT_PHASES) / _DRIFT_PHASES
    t = frac[:, None] - np.arange(-half + 1, half + 1)[None, :]
    window = np.kaiser(2 * _DRIFT_PHASES * half + 1, 8.6)
    w = np.interp(t, np.linspace(-half, half, window.size), window, left=0.0, right=0.0)
    table = _DRIFT_CUTOFF * np.sinc(_DRIFT_CUTOFF * t) * w
    return table / table.sum(axis=1, keepdims=True)


def quantize_16bit(x: np.ndarray) -> np.ndarray:
    """A 16-bit converter behind a gain stage that never clips: scale into range, round."""
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    scaled = x / peak * 0.98 if peak > 0.98 else x
    return (np.round(scaled * 32767.0) / 32767.0).astype(np.float32)


# ---------------------------------------------------------------- noise, including music


def channel_noise(kind: str, n: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of a noise family (augment's, or music), unit standard deviation."""
    if kind == MUSIC:
        return music_noise(n, rate_hz, rng)
    # A 5-smooth length keeps the FFT-shaped noises fast; the extra samples are cut off.
    return augment.make_noise(kind, sp_fft.next_fast_len(n, real=True), rate_hz, rng)[:n]


MUSIC_PIECES = 4
MUSIC_PIECE_S = 30.0


def music_noise(n: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of a music recording: a random segment of one of the pieces of `music_bank`
    (looped if needed), unit standard deviation. Never used in training."""
    bank = music_bank(rate_hz)
    piece = bank[int(rng.integers(len(bank)))]
    start = int(rng.integers(piece.size))
    out = np.resize(np.roll(piece, -start), n)
    return out / (np.std(out) + augment.EPS)


@lru_cache(maxsize=2)
def music_bank(rate_hz: int) -> tuple[np.ndarray, ...]:
    """MUSIC_PIECES fixed pieces of MUSIC_PIECE_S seconds (rendered once per process, like the
    babble's speech bank): rendering music for every device would cost more than the rest of a
    trial together."""
    return tuple(
        compose_music(int(MUSIC_PIECE_S * rate_hz), rate_hz, np.random.default_rng([0x3A51C, i]))
        for i in range(MUSIC_PIECES)
    )


def compose_music(
    n: int, rate_hz: int, rng: np.random.Generator, alphabet: Alphabet = DEFAULT_ALPHABET
) -> np.ndarray:
    """Music-like sound from the synthesizer: a chord progression (three or four voices,
    equal-tempered, C3-C6) and a melody line (C4-C6) that may touch the alphabet's lower notes."""
    out = np.zeros(n)
    seconds = n / rate_hz
    timbre = Timbre(str(rng.choice(("harmonic", "pluck"))))
    env = Envelope(attack_ms=15.0, decay_ms=80.0, release_ms=60.0, sustain=0.6)
    params = SynthParams(timbre=timbre, sample_rate_hz=rate_hz, amplitude=1.0, envelope=env)
    chord_ms, roots = _random_line(rng, seconds, (300.0, 1200.0), (48, 72))
    shapes = ((0, 4, 7), (0, 3, 7), (0, 4, 7, 10), (0, 3, 7, 10), (0, 4, 7, 11))
    chords = [shapes[int(rng.integers(len(shapes)))] for _ in roots]
    for voice in range(4):
        midis = [
            r + c[voice % len(c)] + (12 if voice == 3 and len(c) == 3 else 0)
            for r, c in zip(roots, chords, strict=True)
        ]
        out += 0.5 * _voice(midis, chord_ms, params, n, alphabet)
    lead_ms, lead_midis = _random_line(rng, seconds, (120.0, 450.0), (60, 85))
    out += _voice(lead_midis, lead_ms, params, n, alphabet)
    return out / (np.std(out) + augment.EPS)


def _random_line(
    rng: np.random.Generator, seconds: float, ms: tuple[float, float], midi: tuple[int, int]
) -> tuple[list[float], list[int]]:
    """Random note lengths (ms) and MIDI pitches until they fill `seconds`."""
    lengths_ms: list[float] = []
    pitches: list[int] = []
    total_ms = 0.0
    while total_ms < seconds * 1000:
        lengths_ms.append(float(rng.uniform(*ms)))
        pitches.append(int(rng.integers(*midi)))
        total_ms += lengths_ms[-1]
    return lengths_ms, pitches


def _voice(midis, durations_ms, params: SynthParams, n: int, alphabet: Alphabet) -> np.ndarray:
    freqs = [alphabet.a4_hz * 2.0 ** ((m - 69) / 12.0) for m in midis]
    tones = [0.85 * d for d in durations_ms]
    rests = [0.15 * d for d in durations_ms]
    audio = render_tones(freqs, tone_ms=tones, rest_ms=rests, params=params).audio
    out = np.zeros(n)
    out[: min(n, audio.size)] = audio[:n]
    return out
