"""A private PulseAudio server with a null sink "air": a real audio path without a sound card.

What one process plays to the default output lands in the sink; what another records from the
default input is the sink's monitor (PortAudio -> ALSA `pulse` plugin -> PulseAudio). The server
lives in its own runtime folder under the test's tmp, so runs cannot clash, and it is killed by
its pid at the end. Use the `pulse_server` fixture (it also sets the variables in this process,
for in-process PyAudio) or `running_pulseaudio(dir)`, and give children `server.env`.
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

import pytest

SINK = "air"
_START_TIMEOUT_S = 20.0
_STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class PulseServer:
    """A running server: its pid, socket, and the environment that points clients at it."""

    pid: int
    socket: Path
    env: dict[str, str]  # os.environ plus the variables below: pass it to child processes
    variables: dict[str, str]

    def stop(self) -> None:
        """Kill the server (SIGTERM, then SIGKILL) and wait until it is gone."""
        _kill_and_wait(self.pid)


@contextlib.contextmanager
def running_pulseaudio(directory: Path) -> Iterator[PulseServer]:
    """Start `pulseaudio` with a null sink in `directory`; stop it on exit, whatever happens."""
    if shutil.which("pulseaudio") is None:
        raise RuntimeError("pulseaudio is not installed: run `make setup` (it installs it)")
    runtime = directory / "pulse-runtime"
    home = directory / "pulse-home"
    for folder in (runtime, home):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    socket = runtime / "pulse" / "native"
    variables = {
        "XDG_RUNTIME_DIR": str(runtime),
        "PULSE_RUNTIME_PATH": str(runtime / "pulse"),
        "PULSE_SERVER": f"unix:{socket}",
        "PULSE_SINK": SINK,
        "PULSE_SOURCE": f"{SINK}.monitor",
        "HOME": str(home),  # the client cookie lives in $HOME/.config/pulse
    }
    env = {**os.environ, **variables}
    subprocess.run(
        [
            "pulseaudio",
            "--daemonize=yes",
            "--exit-idle-time=-1",
            "-n",
            f"--load=module-null-sink sink_name={SINK}",
            "--load=module-native-protocol-unix",
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=_START_TIMEOUT_S,
    )
    pid = int((runtime / "pulse" / "pid").read_text().strip())
    server = PulseServer(pid=pid, socket=socket, env=env, variables=variables)
    try:
        _wait_for(socket.exists, f"pulseaudio did not create {socket}")
        yield server
    finally:
        server.stop()


@pytest.fixture
def pulse_server(tmp_path, monkeypatch) -> Iterator[PulseServer]:
    """A running PulseAudio with a null sink; this process's environment points at it too."""
    with running_pulseaudio(tmp_path) as server:
        for name, value in server.variables.items():
            monkeypatch.setenv(name, value)
        yield server


def _wait_for(condition, message: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(message)
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
