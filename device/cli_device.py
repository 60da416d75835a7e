"""`melodypair device run | initiate | selftest`: the commands that run on the Pi."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DEFAULT_CONFIG = "/etc/melodypair/device.toml"


def register(subparsers: argparse._SubParsersAction) -> None:
    device = subparsers.add_parser(
        "device",
        help="the pairing service that runs on a device",
        description="Run the pairing service, start a pairing by playing a melody, or self-test.",
    )
    sub = device.add_subparsers(dest="device_command", metavar="ACTION", required=True)

    run = sub.add_parser(
        "run",
        help="listen for pairing melodies and pair (the systemd service runs this)",
        description=(
            "Listen to the audio input; when a valid pairing melody is heard, pair over the "
            "configured link, store the key, log the fingerprint, and listen again. SIGTERM or "
            "Ctrl-C stops it cleanly. Logs go to stderr."
        ),
    )
    _config_arg(run)
    src = run.add_mutually_exclusive_group()
    src.add_argument("--wav", metavar="FILE", help="listen to a WAV file instead of the mic")
    src.add_argument(
        "--stdin", metavar="RATE_HZ", type=int, help="listen to raw s16le mono PCM on stdin"
    )
    run.add_argument("--once", action="store_true", help="exit after the first pairing attempt")
    run.add_argument(
        "--max-seconds", type=float, help="stop listening after this many seconds of wall time"
    )
    run.add_argument(
        "--label", default="", help="name printed in the one-line result (e.g. 'device A')"
    )
    run.add_argument("--json", action="store_true", help="print each attempt as a JSON line")
    run.set_defaults(func=_run)

    initiate = sub.add_parser(
        "initiate",
        help="play a fresh melody and pair with whoever hears it",
        description=(
            "For a device with a speaker: draw a fresh pairing melody, play it, and pair over the "
            "link with the device that decodes it (this side knows the melody without listening). "
            "Over TCP this side should wait (tcp-listen://): the listener connects once it has "
            "heard the melody."
        ),
    )
    _config_arg(initiate)
    initiate.add_argument("--json", action="store_true", help="print the outcome as JSON")
    initiate.set_defaults(func=_initiate)

    selftest = sub.add_parser(
        "selftest",
        help="check that this device can do its job",
        description=(
            "Load the model, decode the bundled sample melody, check the key store's directory "
            "and permissions, and list the audio inputs. Exit 0 only when all checks pass."
        ),
    )
    _config_arg(selftest)
    selftest.add_argument("--json", action="store_true", help="print one JSON object")
    selftest.add_argument(
        "--no-audio", action="store_true", help="skip the audio-input check (headless tests)"
    )
    selftest.set_defaults(func=_selftest)


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help=f"device config (default {DEFAULT_CONFIG} if it exists, else built-in defaults)",
    )


def _load(args: argparse.Namespace):
    from melodypair.device.config import load_config
    from melodypair.device.service import setup_logging

    path = args.config
    if path is None and Path(DEFAULT_CONFIG).exists():
        path = DEFAULT_CONFIG
    config = load_config(path)
    setup_logging(config.log.level)
    return config


def _bundle(config):
    from melodypair.shared.decoder import load_default_bundle

    return load_default_bundle(config.model.dir)


def _print_attempt(label: str, as_json: bool, attempt) -> None:
    if as_json:
        print(json.dumps({"device": label, **attempt.__dict__}), flush=True)
    elif attempt.ok:
        print(f"{label or 'device'}: paired, fingerprint {attempt.fingerprint}", flush=True)
    else:
        print(f"{label or 'device'}: failed, {attempt.reason}", flush=True)


def _run(args: argparse.Namespace) -> int:
    import logging

    from melodypair.device import audio_sources
    from melodypair.device.service import ListeningService, ServiceStop, install_signal_handlers
    from melodypair.shared.errors import AudioDeviceError

    log = logging.getLogger("melodypair.device")
    config = _load(args)
    bundle = _bundle(config)
    install_signal_handlers()
    attempts: list = []
    retry_s = 1.0
    started = time.monotonic()
    service = None
    try:
        while True:
            try:
                source = _open_source(args, config, audio_sources)
            except AudioDeviceError as err:
                if args.wav or args.stdin:
                    raise
                log.error("audio input unavailable: %s; retrying in %.0f s", err, retry_s)
                time.sleep(retry_s)
                retry_s = min(retry_s * 2, 60.0)
                continue
            if args.max_seconds:
                source = _TimeLimited(source, args.max_seconds - (time.monotonic() - started))
            service = ListeningService(
                config,
                bundle,
                source,
                on_attempt=lambda a: _print_attempt(args.label, args.json, a),
                max_attempts=1 if args.once else None,
            )
            try:
                service.run()
                break
            except AudioDeviceError as err:  # unplugged while listening: open it again
                log.error("audio input lost: %s; reopening", err)
                retry_s = 1.0
            finally:
                attempts += service.attempts
                service = None
                source.close()
    except ServiceStop as stop:  # a signal, wherever it landed (even while opening the input)
        log.info("stopping (%s)", stop)
        if service is not None:
            attempts += service.attempts
    if args.once and not attempts:
        from melodypair.device.service import Attempt

        _print_attempt(args.label, args.json, Attempt(False, reason="no pairing melody heard"))
        return 1
    return 0 if all(a.ok for a in attempts) else 1


def _open_source(args: argparse.Namespace, config, audio_sources):
    """The audio source the command line and config ask for."""
    if args.wav:
        return audio_sources.WavSource(args.wav, config.audio.chunk_samples)
    if args.stdin:
        chunk = max(1, round(args.stdin * config.audio.chunk_ms / 1000))
        return audio_sources.StdinPcmSource(sys.stdin.buffer, args.stdin, chunk)
    return audio_sources.MicrophoneSource(
        config.audio.input, config.audio.rate_hz, config.audio.chunk_ms
    )


class _TimeLimited:
    """An audio source that ends after `seconds` of wall time (for demos and tests only)."""

    def __init__(self, source, seconds: float):
        self._source = source
        self._deadline = time.monotonic() + seconds
        self.sample_rate_hz = source.sample_rate_hz

    def __getattr__(self, name):
        return getattr(self._source, name)

    def read(self):
        return None if time.monotonic() > self._deadline else self._source.read()

    def close(self) -> None:
        self._source.close()


def _initiate(args: argparse.Namespace) -> int:
    import threading

    from melodypair.device.service import attempt_pairing, report
    from melodypair.host.play import play_audio
    from melodypair.shared.melody_code import MelodyCode
    from melodypair.shared.pairing import Password
    from melodypair.shared.synth import SynthParams, Timbre, render_notes

    config = _load(args)
    code = MelodyCode()
    melody = code.new()
    rendering = render_notes(
        list(melody.notes), params=SynthParams(timbre=Timbre("pluck"), sample_rate_hz=48000)
    )
    password = Password(melody.data, len(code.alphabet), int(time.monotonic() * 1000))
    result = {}
    pairing = threading.Thread(target=lambda: result.update(a=attempt_pairing(config, password)))
    pairing.start()  # the peer answers once it has decoded the melody; start order is free
    play_audio(rendering.audio, 48000)
    pairing.join()
    attempt = result["a"]
    report(attempt, config)
    _print_attempt("initiator", args.json, attempt)
    return 0 if attempt.ok else 1


def _selftest(args: argparse.Namespace) -> int:
    from melodypair.device.selftest import run_selftest

    config = _load(args)
    checks = run_selftest(config, check_audio=not args.no_audio)
    ok = all(c["ok"] for c in checks)
    if args.json:
        print(json.dumps({"ok": ok, "checks": checks}))
    else:
        for c in checks:
            print(f"{'ok  ' if c['ok'] else 'FAIL'} {c['name']}: {c['detail']}")
    if not ok and not args.json:
        print(
            "melodypair: error: the device cannot do its job yet (see FAIL above)", file=sys.stderr
        )
    return 0 if ok else 1
