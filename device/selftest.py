"""`melodypair device selftest`: can this device do its job? Model, recognizer, key store, audio."""

from __future__ import annotations

import json
from pathlib import Path

from melodypair.device.config import DeviceConfig
from melodypair.shared.errors import MelodypairError

SAMPLE_DIR = Path(__file__).parent / "data"


def _check(name: str, fn) -> dict:
    try:
        return {"name": name, "ok": True, "detail": fn()}
    except MelodypairError as err:
        return {"name": name, "ok": False, "detail": str(err)}


def run_selftest(config: DeviceConfig, check_audio: bool = True) -> list[dict]:
    """Each check: {"name", "ok", "detail"}; the device works only if all are ok."""
    from melodypair.shared.decoder import load_default_bundle

    state = {}

    def model() -> str:
        state["bundle"] = bundle = load_default_bundle(config.model.dir)
        m = bundle.manifest
        size_kb = bundle.size_bytes / 1024
        return f"{bundle.path} ({m.name}, {size_kb:.0f} KB, sha256 {m.tflite_sha256[:12]})"

    def recognizer() -> str:
        from melodypair.shared.audio_io import read_wav
        from melodypair.shared.decoder import decode_audio

        if "bundle" not in state:
            raise MelodypairError("skipped: the model did not load")
        expected = json.loads((SAMPLE_DIR / "sample.json").read_text())["notes"]
        audio, rate = read_wav(SAMPLE_DIR / "sample.wav")
        out = decode_audio(audio, rate, state["bundle"])
        heard = [n.name for n in out.notes]
        recovered = [list(m.result.melody.names) for m in out.melodies]
        if recovered != [expected]:
            raise MelodypairError(
                f"the bundled sample decoded as {' '.join(heard) or 'nothing'}, which is not "
                f"its melody {' '.join(expected)}"
            )
        fixed = out.melodies[0].result.corrected
        return f"bundled sample melody recovered ({len(heard)} notes heard, {fixed} corrected)"

    def key_store() -> str:
        from melodypair.shared.keystore import KeyStore, ensure_private_dir

        ensure_private_dir(config.store.dir)
        keys = KeyStore(config.store.dir).load()
        return f"{config.store.dir}: private, {len(keys)} key(s)"

    def audio() -> str:
        from melodypair.device.audio_sources import list_inputs

        inputs = list_inputs()
        if not inputs:
            raise MelodypairError("no audio input found; plug in a microphone")
        return "; ".join(f"[{i.index}] {i.name}" for i in inputs)

    checks = [
        _check("model", model),
        _check("recognizer", recognizer),
        _check("key store", key_store),
    ]
    if check_audio:
        checks.append(_check("audio inputs", audio))
    return checks
