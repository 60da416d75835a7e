"""Acoustic augmentation: noise families, rooms, microphone colouring and mixing at a given SNR.

Everything here is a pure function of its inputs and a `numpy.random.Generator`, so a seed fixes a
training or evaluation set. Audio is float mono; rates are explicit arguments.

SNR is defined once for the whole project (training, evaluation, every decoder and signalling
scheme): the signal's mean power over its *active* samples against the noise's mean power over
the *same* samples, full band.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import signal as sps

from melodypair.shared.alphabet import DEFAULT_ALPHABET, Alphabet

EPS = 1e-12


# ---------------------------------------------------------------- SNR and mixing


def active_power(x: np.ndarray, active: np.ndarray) -> float:
    """Mean power of `x` over the samples where `active` is true (all samples if none is)."""
    sel = x[active] if active.any() else x
    return float(np.mean(np.square(sel, dtype=np.float64))) if sel.size else 0.0


def mix_at_snr(
    signal: np.ndarray, noise: np.ndarray, snr_db: float, active: np.ndarray
) -> np.ndarray:
    """signal + noise scaled so that power(signal)/power(noise) over `active` samples = snr_db."""
    if noise.size < signal.size:
        raise ValueError("noise must be at least as long as the signal")
    noise = noise[: signal.size]
    p_signal = active_power(signal, active)
    p_noise = active_power(noise, active)
    if p_noise < EPS or p_signal < EPS:
        return signal.copy()
    gain = np.sqrt(p_signal / (p_noise * 10.0 ** (snr_db / 10.0)))
    return signal + gain * noise


def measured_snr_db(signal: np.ndarray, noise: np.ndarray, active: np.ndarray) -> float:
    """The SNR of `signal` against `noise` by the project's definition (for tests and reports)."""
    return 10.0 * np.log10(active_power(signal, active) / max(active_power(noise, active), EPS))


# ---------------------------------------------------------------- noise families


def white_noise(n: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal(n)


def _coloured(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Gaussian noise with power spectral density proportional to 1/f^exponent."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1] if n > 1 else 1.0
    shaped = np.fft.irfft(spectrum / f ** (exponent / 2.0), n)
    return shaped / (np.std(shaped) + EPS)


def pink_noise(n: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    return _coloured(n, rng, 1.0)


def brown_noise(n: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    return _coloured(n, rng, 2.0)


def _off_alphabet_hz(
    rng: np.random.Generator,
    alphabet: Alphabet,
    min_cents: float = 45.0,
    range_hz: tuple[float, float] = (300.0, 4000.0),
):
    """A frequency in `range_hz` (log-uniform), at least `min_cents` from every alphabet note."""
    notes = np.array(alphabet.frequencies_hz)
    while True:
        f = float(np.exp(rng.uniform(np.log(range_hz[0]), np.log(range_hz[1]))))
        if np.min(np.abs(1200.0 * np.log2(f / notes))) >= min_cents:
            return f


def _segments(
    n: int,
    rate_hz: int,
    rng: np.random.Generator,
    length_s: tuple[float, float],
    gap_s: tuple[float, float],
) -> Iterator[slice]:
    """The sounding segments of an `n`-sample track of separate sounds: each `length_s` long
    (the last cut at the end), then a gap of `gap_s`. A generator: the caller draws each
    segment's sound between the draws of its length and of the gap after it."""
    pos = 0
    while pos < n:
        length = int(rng.uniform(*length_s) * rate_hz)
        yield slice(pos, min(n, pos + length))
        pos += length + int(rng.uniform(*gap_s) * rate_hz)


def tonal_noise(
    n: int, rate_hz: int, rng: np.random.Generator, alphabet: Alphabet = DEFAULT_ALPHABET
) -> np.ndarray:
    """Beeps, chords and whistles at frequencies that are not alphabet notes, over a little hiss."""
    out = 0.05 * rng.standard_normal(n)
    t = np.arange(n) / rate_hz
    for seg in _segments(n, rate_hz, rng, (0.08, 0.9), (0.0, 0.5)):
        kind = rng.integers(3)
        if kind == 0:  # beep
            freqs = [_off_alphabet_hz(rng, alphabet)]
        elif kind == 1:  # chord of off-alphabet partials
            freqs = [_off_alphabet_hz(rng, alphabet) for _ in range(rng.integers(2, 4))]
        else:  # whistle: a slow glide
            freqs = []
            f0, f1 = _off_alphabet_hz(rng, alphabet), _off_alphabet_hz(rng, alphabet)
            glide = np.geomspace(f0, f1, seg.stop - seg.start)
            phase = 2 * np.pi * np.cumsum(glide) / rate_hz
            out[seg] += np.sin(phase) * _fade(seg.stop - seg.start, rate_hz)
        for f in freqs:
            out[seg] += np.sin(2 * np.pi * f * t[seg] + rng.uniform(0, 2 * np.pi)) * _fade(
                seg.stop - seg.start, rate_hz
            )
    return out / (np.std(out) + EPS)


def harmonic_noise(
    n: int, rate_hz: int, rng: np.random.Generator, alphabet: Alphabet = DEFAULT_ALPHABET
) -> np.ndarray:
    """Instruments playing off the alphabet: one to three voices at a time, each a harmonic tone
    (3-10 partials, a random tilt, the fundamental up to 10 dB weak, sustained or plucked) whose
    fundamental is no alphabet note, over a little hiss. Many sit below the alphabet with a
    partial on an alphabet note (F4's second harmonic is F5), which a melody note never does."""
    out = 0.05 * rng.standard_normal(n)
    for seg in _segments(n, rate_hz, rng, (0.1, 0.9), (0.0, 0.3)):
        length = seg.stop - seg.start
        env = _fade(length, rate_hz)
        if rng.random() < 0.3:  # plucked: decays
            env = env * np.exp(-np.arange(length) / rate_hz / rng.uniform(0.08, 0.6))
        for _ in range(int(rng.integers(1, 4))):
            f0_hz = _off_alphabet_hz(rng, alphabet, range_hz=(120.0, 1500.0))
            tone = harmonic_voice(f0_hz, length, rate_hz, rng)
            out[seg] += tone * env * rng.uniform(0.5, 1.0)
    return out / (np.std(out) + EPS)


def harmonic_voice(f0_hz: float, n: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of a steady tone at `f0_hz`: 3-10 harmonics (those under 0.45 of the rate)
    falling by 3-12 dB an octave, +-3 dB jitter, the fundamental weakened by 0-10 dB."""
    t = np.arange(n) / rate_hz
    ks = np.arange(1, int(rng.integers(3, 11)) + 1)
    ks = ks[ks * f0_hz < 0.45 * rate_hz]
    gains_db = rng.uniform(-12.0, -3.0) * np.log2(ks) + rng.normal(0.0, 3.0, ks.size)
    gains_db[0] -= rng.uniform(0.0, 10.0)
    phases = rng.uniform(0.0, 2 * np.pi, ks.size)
    tone = np.zeros(n)
    for k, g, ph in zip(ks, gains_db, phases, strict=True):
        tone += 10 ** (g / 20.0) * np.sin(2 * np.pi * k * f0_hz * t + ph)
    return tone


def transient_noise(n: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Clicks, knocks and door-slam-like bursts (decaying filtered noise) over a quiet floor."""
    out = 0.02 * rng.standard_normal(n)
    count = max(1, int(rng.poisson(3.0 * n / rate_hz)))
    for _ in range(count):
        start = int(rng.integers(0, n))
        length = int(rng.uniform(0.002, 0.35) * rate_hz)
        length = min(length, n - start)
        if length < 2:
            continue
        decay = np.exp(-np.arange(length) / (length / rng.uniform(3.0, 8.0)))
        burst = rng.standard_normal(length) * decay * rng.uniform(0.3, 3.0)
        if rng.random() < 0.6:  # low thump
            b, a = sps.butter(2, rng.uniform(150, 1500) / (rate_hz / 2))
            burst = sps.lfilter(b, a, burst) * 3.0
        out[start : start + length] += burst
    return out / (np.std(out) + EPS)


_BABBLE_TEXTS = (
    "the meeting has been moved to thursday afternoon if that works for everyone",
    "could you pass me the salt and the pepper please",
    "i think the train leaves at seven fifteen from platform four",
    "we should paint the kitchen a lighter colour before winter",
    "did you hear what happened at the concert last night",
    "the report is almost finished but the figures still need checking",
    "turn left at the bakery and then keep going until the bridge",
    "my sister is visiting next week with her two children",
    "nobody expected the weather to change so quickly this morning",
    "please remember to water the plants while i am away",
)
_BABBLE_VOICES = ("en+m3", "en+f3", "en-us+m1", "en-us+f2", "de+m2", "fr+f1", "es+m4", "it+f4")


@lru_cache(maxsize=4)
def speech_bank(rate_hz: int) -> tuple[np.ndarray, ...]:
    """Speech clips spoken by espeak-ng in several voices, resampled to `rate_hz` (cached)."""
    from melodypair.shared.resample import resample

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (make setup installs it)")
    clips = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (voice, text) in enumerate(zip(_BABBLE_VOICES * 2, _BABBLE_TEXTS * 2, strict=False)):
            path = Path(tmp) / f"{i}.wav"
            speed = 140 + 15 * (i % 5)
            subprocess.run(
                [
                    exe,
                    "-v",
                    voice,
                    "-s",
                    str(speed),
                    "-p",
                    str(30 + 7 * i % 50),
                    "-w",
                    str(path),
                    text,
                ],
                check=True,
                capture_output=True,
            )
            audio, rate = _read_pcm16(path)
            clips.append(resample(audio, rate, rate_hz).astype(np.float64))
    return tuple(clips)


def _read_pcm16(path: Path) -> tuple[np.ndarray, int]:
    import wave

    with wave.open(str(path)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768.0
        return data, w.getframerate()


def babble_noise(n: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """Several voices talking at once (espeak-ng speech, random clips, offsets and levels)."""
    bank = speech_bank(rate_hz)
    out = np.zeros(n)
    for _ in range(int(rng.integers(3, 7))):
        track = np.zeros(n)
        pos = -int(rng.integers(0, rate_hz))
        while pos < n:
            clip = bank[int(rng.integers(len(bank)))]
            lo, hi = max(pos, 0), min(pos + clip.size, n)
            if hi > lo:
                track[lo:hi] += clip[lo - pos : hi - pos]
            pos += clip.size + int(rng.uniform(0.05, 0.4) * rate_hz)
        out += track * rng.uniform(0.5, 1.0)
    return out / (np.std(out) + EPS)


NoiseFn = Callable[[int, int, np.random.Generator], np.ndarray]

NOISES: dict[str, NoiseFn] = {
    "white": white_noise,
    "pink": pink_noise,
    "brown": brown_noise,
    "babble": babble_noise,
    "tonal": tonal_noise,
    "harmonic": harmonic_noise,
    "transient": transient_noise,
}


def make_noise(kind: str, n: int, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """`n` samples of a noise family, unit standard deviation."""
    if kind not in NOISES:
        raise ValueError(f"unknown noise '{kind}'; choose from {', '.join(NOISES)}")
    return NOISES[kind](n, rate_hz, rng)


# ---------------------------------------------------------------- rooms


def room_impulse_response(rt60_s: float, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: direct path, a few early reflections and an exponentially decaying,
    slightly low-passed diffuse tail reaching -60 dB after `rt60_s`."""
    if rt60_s <= 0:
        return np.array([1.0])
    n = int(rate_hz * min(1.5 * rt60_s, 2.0)) + 1
    t = np.arange(n) / rate_hz
    ir = np.zeros(n)
    ir[0] = 1.0
    for _ in range(int(rng.integers(3, 8))):
        delay = int(rng.uniform(0.002, 0.03) * rate_hz)
        if delay < n:
            ir[delay] += rng.uniform(-0.6, 0.6)
    onset = int(0.005 * rate_hz)
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)
    tail[:onset] = 0.0
    b, a = sps.butter(1, min(0.99, rng.uniform(3000, 7000) / (rate_hz / 2)))
    tail = sps.lfilter(b, a, tail)
    direct_to_reverb = 10 ** (rng.uniform(-6, 6) / 20.0)
    tail *= np.sqrt(np.sum(ir**2) / (np.sum(tail**2) + EPS)) / direct_to_reverb
    return ir + tail


def reverberate(x: np.ndarray, ir: np.ndarray) -> np.ndarray:
    """x convolved with a room response, same length as x (the tail past the end is dropped)."""
    return sps.fftconvolve(x, ir)[: x.size]


# ---------------------------------------------------------------- microphone / speaker colouring


@dataclass(frozen=True)
class Colouring:
    """What a cheap speaker and microphone do to a signal; `random_colouring` draws one."""

    highpass_hz: float = 0.0
    lowpass_hz: float = 0.0
    eq_bands: tuple[tuple[float, float, float], ...] = ()  # (centre_hz, gain_db, q)
    drive: float = 0.0  # 0 = linear; larger = softer clipping
    dc_offset: float = 0.0


def random_colouring(rng: np.random.Generator, rate_hz: int) -> Colouring:
    nyquist = rate_hz / 2
    return Colouring(
        highpass_hz=float(rng.uniform(50, 500)) if rng.random() < 0.7 else 0.0,
        lowpass_hz=float(min(rng.uniform(3000, 8000), 0.95 * nyquist))
        if rng.random() < 0.5
        else 0.0,
        eq_bands=tuple(
            (
                float(rng.uniform(300, min(6000, 0.9 * nyquist))),
                float(rng.uniform(-9, 9)),
                float(rng.uniform(0.5, 3.0)),
            )
            for _ in range(int(rng.integers(0, 4)))
        ),
        drive=float(rng.uniform(1.0, 4.0)) if rng.random() < 0.25 else 0.0,
        dc_offset=float(rng.uniform(-0.05, 0.05)) if rng.random() < 0.3 else 0.0,
    )


def _peaking(centre_hz: float, gain_db: float, q: float, rate_hz: int):
    """RBJ cookbook peaking-EQ biquad."""
    a_gain = 10 ** (gain_db / 40.0)
    w0 = 2 * np.pi * centre_hz / rate_hz
    alpha = np.sin(w0) / (2 * q)
    b = np.array([1 + alpha * a_gain, -2 * np.cos(w0), 1 - alpha * a_gain])
    a = np.array([1 + alpha / a_gain, -2 * np.cos(w0), 1 - alpha / a_gain])
    return b / a[0], a / a[0]


def apply_colouring(x: np.ndarray, c: Colouring, rate_hz: int) -> np.ndarray:
    y = x
    if c.highpass_hz > 0:
        y = sps.sosfilt(sps.butter(2, c.highpass_hz, "highpass", fs=rate_hz, output="sos"), y)
    if c.lowpass_hz > 0:
        y = sps.sosfilt(sps.butter(4, c.lowpass_hz, "lowpass", fs=rate_hz, output="sos"), y)
    for centre, gain, q in c.eq_bands:
        b, a = _peaking(centre, gain, q, rate_hz)
        y = sps.lfilter(b, a, y)
    if c.drive > 0:
        peak = np.max(np.abs(y)) + EPS
        y = np.tanh(c.drive * y / peak) * peak / np.tanh(c.drive)
    return y + c.dc_offset * (np.max(np.abs(y)) + EPS)


def _fade(n: int, rate_hz: int, fade_ms: float = 10.0) -> np.ndarray:
    """Raised-cosine fade in and out so interferers do not click."""
    k = max(1, min(n // 2, int(rate_hz * fade_ms / 1000)))
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(k) / k)
    env = np.ones(n)
    env[:k] = ramp
    env[n - k :] = ramp[::-1]
    return env
