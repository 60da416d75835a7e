"""A local rig of real components for the demo and the tests: a private PulseAudio server with
null sinks (a real audio path without a sound card) and a socat null-modem pty pair.

What one process plays into a null sink, another records from that sink's monitor (PortAudio ->
ALSA `pulse` plugin -> PulseAudio). Everything lives in a folder of the caller's, so runs cannot
clash, and is stopped by pid on exit, whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 5.0


class RigError(RuntimeError):
    """A rig component is missing or did not start (`make setup` installs them)."""


@dataclass(frozen=True)
class PulseServer:
    """A running server: its pid, socket, and the environment that points clients at it."""

    pid: int
    socket: Path
    env: dict[str, str]  # os.environ plus `variables`: pass it to child processes
    variables: dict[str, str]
    sinks: tuple[str, ...]

    def env_for(self, sink: str) -> dict[str, str]:
        """Environment in which the default output plays into `sink` and the default input
        records `sink`'s monitor."""
        return {**self.env, "PULSE_SINK": sink, "PULSE_SOURCE": f"{sink}.monitor"}

    def stop(self) -> None:
        """Kill the server (SIGTERM, then SIGKILL) and wait until it is gone."""
        _kill_and_wait(self.pid)


@contextlib.contextmanager
def running_pulseaudio(directory: Path, sinks: tuple[str, ...] = ("air",)) -> Iterator[PulseServer]:
    """Start `pulseaudio` with null sinks in `directory`; the first sink is the default."""
    if shutil.which("pulseaudio") is None:
        raise RigError("pulseaudio is not installed: run `make setup` (it installs it)")
    runtime = directory / "pulse-runtime"
    home = directory / "pulse-home"
    for folder in (runtime, home):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket = runtime / "pulse" / "native"
    variables = {
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
        "PULSE_SERVER": f"unix:{socket}",
        "PULSE_SINK": sinks[0],
        "PULSE_SOURCE": f"{sinks[0]}.monitor",
        "HOME": str(home),  # the client cookie lives in $HOME/.config/pulse
    }
    env = {**os.environ, **variables}
    loads = [f"--load=module-null-sink sink_name={s}" for s in sinks]
    subprocess.run(
        ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n", *loads,
         "--load=module-native-protocol-unix"],
        env=env,
        check=True,
        capture_output=True,
        timeout=_START_TIMEOUT_S,
    )  # fmt: skip
    pid = int((runtime / "pulse" / "pid").read_text().strip())
    server = PulseServer(pid=pid, socket=socket, env=env, variables=variables, sinks=sinks)
    try:
        _wait_for(socket.exists, f"pulseaudio did not create {socket}")
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def pty_pair(directory: Path) -> Iterator[tuple[str, str]]:
    """Two pty paths joined by socat like a null-modem cable; socat is stopped afterwards."""
    if shutil.which("socat") is None:
        raise RigError("socat is not installed: run `make setup` (it installs it)")
    a, b = directory / "ttyA", directory / "ttyB"
    log = directory / "socat.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 10
        while not (a.exists() and b.exists()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RigError(
                    f"socat did not create the pty pair (exit {proc.poll()}): {log.read_text()}"
                )
            time.sleep(0.02)
        yield str(a), str(b)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for(condition, message: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise RigError(message)
        time.sleep(0.02)


def _kill_and_wait(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + _STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.02)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not: the daemon is not our child, so init reaps it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
