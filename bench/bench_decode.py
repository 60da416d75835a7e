"""Decode speed and footprint of the whole pipeline on the shipped model.

Real-time factor = CPU seconds of one thread / seconds of audio, for resample (44.1 kHz input) +
features + int8 inference + smoothing + melody finding, measured in one run. Peak RSS is taken in
a fresh process that only decodes (and must never import TensorFlow).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

from melodypair.shared.decoder import decode_audio, default_model_dir, load_default_bundle
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, Timbre, render_notes

_RSS_PROBE = """
import resource, sys, json, numpy as np
from melodypair.shared.decoder import decode_audio, load_default_bundle
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import render_notes, SynthParams
m = MelodyCode().new()
audio = np.tile(render_notes(list(m.notes), params=SynthParams(sample_rate_hz=44100)).audio, 20)
out = decode_audio(audio, 44100, load_default_bundle())
print(json.dumps({"rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "tensorflow": "tensorflow" in sys.modules, "notes": len(out.notes)}))
"""


def run() -> list[dict]:
    if not (default_model_dir() / "model.tflite").exists():
        return [
            {"name": "decode (no shipped model)", "value": float("nan"), "unit": "", "ok": False}
        ]
    bundle = load_default_bundle()
    rng = np.random.default_rng(0)
    pieces = []
    for _ in range(10):
        melody = MelodyCode().new()
        r = render_notes(
            list(melody.notes), params=SynthParams(timbre=Timbre("harmonic"), sample_rate_hz=44100)
        )
        pieces += [r.audio, np.zeros(44100, np.float32)]
    audio = np.concatenate(pieces)
    audio = audio + 0.01 * rng.standard_normal(audio.size).astype(np.float32)
    seconds = audio.size / 44100
    decode_audio(audio[:44100], 44100, bundle)  # warm-up: interpreters, caches
    started = time.process_time()
    out = decode_audio(audio, 44100, bundle)
    rtf = (time.process_time() - started) / seconds
    probe = json.loads(
        subprocess.run(
            [sys.executable, "-c", _RSS_PROBE], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    size_kb = (default_model_dir() / "model.tflite").stat().st_size / 1000
    return [
        {
            "name": "decode real-time factor (1 thread, 44.1 kHz in)",
            "value": rtf,
            "unit": "x",
            "target": "<= 0.02",
            "ok": rtf <= 0.02,
        },
        {
            "name": "decode melodies found / played",
            "value": len(out.melodies) / 10,
            "unit": "",
            "target": "1.0",
            "ok": len(out.melodies) == 10,
        },
        {
            "name": "model.tflite size",
            "value": size_kb,
            "unit": "KB",
            "target": "<= 100",
            "ok": size_kb <= 100,
        },
        {
            "name": "decode process peak RSS",
            "value": probe["rss_mb"],
            "unit": "MB",
            "target": "< 150",
            "ok": probe["rss_mb"] < 150,
        },
        {
            "name": "decode process imported tensorflow",
            "value": float(probe["tensorflow"]),
            "unit": "bool",
            "target": "0",
            "ok": not probe["tensorflow"],
        },
    ]
