"""Listening cost of the device service, memory over a soak, and melody-to-exchange latency.

- CPU share while listening = CPU seconds / seconds of audio for the whole listening chain
  (48 kHz capture rate -> resample -> features -> int8 LSTM -> smoothing -> melody finder), fed
  30 minutes of audio with a pairing melody every 20 s, in a fresh process (no TensorFlow).
  Fed faster than real time, the ratio is what live listening costs a core.
- RSS over 30 minutes of audio in one process (the highest, sampled after every 20 s from
  minute 5, warmed up), and its growth: the least-squares trend of those samples, per 5 minutes.
  A leak shows as a steady rise. RSS also swings between about 58 and 65 MB in a cycle of 5-7
  minutes (allocator steps, seen both ways, with no trend over 30 minutes); a fit over minutes
  5-10 alone read one upward step as 4.3 MB of growth, so the fit spans 25 minutes.
- Latency: from the end of the last note (in the audio) to the moment the streaming decoder,
  fed 20 ms chunks, reports the melody = audio still needed after the note + compute time.
"""

from __future__ import annotations

import json
import subprocess
import sys

_SOAK = r"""
import gc, json, sys, time
import numpy as np
from melodypair.shared.decoder import Decoder, load_default_bundle
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, Timbre, render_notes

RATE = 48000
CHUNK = RATE // 50  # 20 ms, as the microphone delivers it
bundle = load_default_bundle()
decoder = Decoder(bundle, RATE)
rng = np.random.default_rng(0)
code = MelodyCode()

def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

def twenty_seconds():
    m = code.new()
    params = SynthParams(timbre=Timbre("harmonic"), sample_rate_hz=RATE)
    r = render_notes(list(m.notes), params=params)
    block = rng.standard_normal(20 * RATE, dtype=np.float32) * np.float32(0.003)
    start = 2 * RATE
    block[start:start + r.audio.size] += 0.3 * r.audio
    return block, m.secret, start + r.events[-1].end_sample

found, played, latencies_ms, trend = 0, 0, [], []
cpu0 = time.process_time()
audio_s = 0.0
for minute_block in range(90):  # 90 x 20 s = 30 minutes
    block, secret, last_end = twenty_seconds()
    played += 1
    for i in range(0, block.size, CHUNK):
        t0 = time.perf_counter()
        out = decoder.process(block[i:i + CHUNK])
        spent = time.perf_counter() - t0
        for mel in out.melodies:
            found += mel.result.melody.secret == secret
            latencies_ms.append(1000 * (i + CHUNK - last_end) / RATE + 1000 * spent)
    audio_s += block.size / RATE
    if minute_block >= 14:  # after warm-up (one step of ~3 MB happens in minutes 2-4)
        gc.collect()
        trend.append(rss_mb())
cpu = time.process_time() - cpu0
minutes = np.arange(len(trend)) / 3.0
slope_mb_per_min = float(np.polyfit(minutes, trend, 1)[0])
print(json.dumps({"cpu_share": cpu / audio_s, "found": found, "played": played,
                  "latency_ms_max": max(latencies_ms) if latencies_ms else None,
                  "latency_ms_median": float(np.median(latencies_ms)) if latencies_ms else None,
                  "rss_max_mb": max(trend),
                  "rss_trend_mb_per_5min": 5 * slope_mb_per_min,
                  "tensorflow": "tensorflow" in sys.modules}))
"""


def run() -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", _SOAK], capture_output=True, text=True)
    if proc.returncode:
        return [
            {
                "name": f"soak failed: {proc.stderr.strip()[-200:]}",
                "value": float("nan"),
                "unit": "",
                "ok": False,
            }
        ]
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = r["rss_trend_mb_per_5min"]
    latency = r["latency_ms_max"] if r["latency_ms_max"] is not None else float("nan")
    return [
        {
            "name": "listening CPU share of one core",
            "value": 100 * r["cpu_share"],
            "unit": "%",
            "target": "<= 5",
            "ok": r["cpu_share"] <= 0.05,
        },
        {
            "name": "melodies recognized in the soak",
            "value": r["found"] / r["played"],
            "unit": "of all",
            "target": "1.0",
            "ok": r["found"] == r["played"],
        },
        {
            "name": "listening RSS, highest in minutes 5-30",
            "value": r["rss_max_mb"],
            "unit": "MB",
            "target": "< 120",
            "ok": r["rss_max_mb"] < 120,
        },
        {
            "name": "RSS trend from minute 5 to 30 (fit, per 5 min)",
            "value": growth,
            "unit": "MB",
            "target": "< 2",
            "ok": growth < 2,
        },
        {
            "name": "last note end -> melody known (median)",
            "value": r["latency_ms_median"],
            "unit": "ms",
        },
        {
            "name": "last note end -> melody known (max)",
            "value": latency,
            "unit": "ms",
            "target": "< 300",
            "ok": latency < 300,
        },
    ]
