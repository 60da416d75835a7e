"""Writes device/data/sample.wav + sample.json: the melody `melodypair device selftest` decodes.

A fixed melody in the pairing rhythm, in a small room, with pink noise at 20 dB SNR, at 16 kHz.
Re-run after changing the synthesizer: `.venv/bin/python scripts/make-selftest-sample.py`.
"""

import json
from pathlib import Path

import numpy as np

from melodypair.host import augment
from melodypair.shared.audio_io import write_wav
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.synth import SynthParams, Timbre, render_notes

RATE = 16000
out = Path(__file__).resolve().parent.parent / "device" / "data"
rng = np.random.default_rng(20261122)
melody = MelodyCode().encode(0x5EC0DE1234)
r = render_notes(
    list(melody.notes), params=SynthParams(timbre=Timbre("harmonic"), sample_rate_hz=RATE)
)
clean = np.concatenate([np.zeros(RATE // 2), r.audio, np.zeros(RATE // 2)])
active = np.zeros(clean.size, bool)
for e in r.events:
    active[RATE // 2 + e.start_sample : RATE // 2 + e.end_sample] = True
wet = augment.reverberate(clean, augment.room_impulse_response(0.3, RATE, rng))
noisy = augment.mix_at_snr(wet, augment.pink_noise(wet.size, RATE, rng), 20.0, active)
write_wav(out / "sample.wav", 0.5 * noisy / np.max(np.abs(noisy)), RATE)
(out / "sample.json").write_text(json.dumps({"notes": list(melody.names)}) + "\n")
print(" ".join(melody.names))
