"""`make demo`: two devices pair by listening to a melody, through a real audio path.

A private PulseAudio server with a null sink stands in for the air; two `melodypair device run`
processes record its monitor through PyAudio (PortAudio -> ALSA pulse plugin -> PulseAudio),
`melodypair play` plays a fresh random melody into it, each device decodes it with the shipped
model, and the two pair over a socat pty pair (a null-modem cable). Ends with one line per
device: `device A: paired, fingerprint 123456` or `device A: failed, <reason>`.

With --different, each device hears its own melody (two sinks): both must fail, nothing stored.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from melodypair.rig import RigError, pty_pair, running_pulseaudio
from melodypair.shared.errors import MelodypairError
from melodypair.shared.melody_code import MelodyCode

RATE_HZ = 48000
LISTEN_TIMEOUT_S = 30.0


def _config(path: Path, link: str, store: Path, name: str) -> Path:
    path.write_text(
        "[audio]\n"
        'input = "default"\n'
        f"rate_hz = {RATE_HZ}\n"
        "[link]\n"
        f'url = "{link}"\n'
        "timeout_s = 15\n"
        "[store]\n"
        f'dir = "{store}"\n'
        "[device]\n"
        f'name = "{name}"\n'
    )
    return path


class _Device:
    """One `melodypair device run --once` process and what it printed."""

    def __init__(self, label: str, config: Path, env: dict[str, str], log: Path):
        self.label = label
        self.log = log
        self.listening = threading.Event()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "melodypair", "device", "run", "--config", str(config),
             "--once", "--max-seconds", str(LISTEN_TIMEOUT_S), "--label", label, "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self._stderr = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr.start()

    def _read_stderr(self) -> None:
        with self.log.open("w") as out:
            for line in self.proc.stderr:
                out.write(line)
                out.flush()
                if "listening on" in line:
                    self.listening.set()

    def result(self) -> dict:
        try:
            stdout, _ = self.proc.communicate(timeout=LISTEN_TIMEOUT_S + 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            stdout, _ = self.proc.communicate()
        self._stderr.join(timeout=5)
        lines = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
        if lines:
            return lines[-1]
        last = self.log.read_text().strip().splitlines()[-1:] or ["no output"]
        return {"device": self.label, "ok": False, "reason": f"exited: {last[0]}"}


def _play(notes: list[str], env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "melodypair", "play", " ".join(notes), "--rate", str(RATE_HZ)],
        env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def run(
    work: Path, different: bool = False, say=print, melodies: list[str] | None = None
) -> list[dict]:
    """Run the two-device pairing in `work`; returns each device's outcome. `melodies` (note
    names, one per sink) replays given melodies instead of drawing fresh ones."""
    sinks = ("air_a", "air_b") if different else ("air",)
    code = MelodyCode()
    if melodies:
        melodies = [code.decode_names(m).melody for m in melodies]
    else:
        melodies = [code.new() for _ in sinks]
    with running_pulseaudio(work, sinks=sinks) as server, pty_pair(work) as (tty_a, tty_b):
        devices = []
        for i, (label, tty) in enumerate((("device A", tty_a), ("device B", tty_b))):
            sink = sinks[i % len(sinks)]
            slug = label[-1].lower()
            config = _config(work / f"{slug}.toml", tty, work / f"keys-{slug}", f"demo-{slug}")
            devices.append(_Device(label, config, server.env_for(sink), work / f"{slug}.log"))
        for d in devices:
            if not d.listening.wait(timeout=60):
                raise RigError(f"{d.label} did not start listening; see {d.log}")
        time.sleep(0.5)  # let both capture streams settle
        for sink, melody in zip(sinks, melodies, strict=True):
            say(f"playing into {sink}: {' '.join(melody.names)}")
            _play(list(melody.names), server.env_for(sink))
        return [d.result() for d in devices]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--different", action="store_true", help="each device hears another melody")
    parser.add_argument("--keep", metavar="DIR", help="keep logs and key stores in DIR")
    parser.add_argument(
        "--melody",
        action="append",
        metavar="NOTES",
        help="replay this melody instead of a fresh one (twice with --different)",
    )
    args = parser.parse_args(argv)
    wanted = 2 if args.different else 1
    if args.melody and len(args.melody) != wanted:
        parser.error(f"give --melody {wanted} time(s)")
    for notes in args.melody or []:
        try:
            result = MelodyCode().decode_names(notes)
        except MelodypairError as err:
            parser.error(f"--melody: {err}")
        if not result.valid:
            parser.error(f"--melody: {result.reason}")
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="melodypair-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        outcomes = run(work, different=args.different, melodies=args.melody)
    except (RigError, subprocess.CalledProcessError, OSError) as err:
        print(f"demo: error: {err}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for o in outcomes:
        if o.get("ok"):
            print(f"{o['device']}: paired, fingerprint {o['fingerprint']}")
        else:
            print(f"{o['device']}: failed, {o.get('reason', 'unknown')}")
    paired = [o for o in outcomes if o.get("ok")]
    same = len(paired) == 2 and paired[0]["fingerprint"] == paired[1]["fingerprint"]
    return 0 if (same if not args.different else not paired) else 1


if __name__ == "__main__":
    sys.exit(main())
