"""Helpers of the pairing tests: CLI peers in their own processes, a hand-driven raw peer,
fresh melodies, and a look inside key stores."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from melodypair.shared.melody_code import MelodyCode

REPO = Path(__file__).resolve().parent.parent


def pick_free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_melody_notes(code: MelodyCode | None = None) -> list[str]:
    """A fresh random melody as note names (check notes included)."""
    return list((code or MelodyCode()).new().names)


def with_wrong_note(notes: list[str], position: int) -> list[str]:
    """The melody with the note at `position` replaced by a different note of the alphabet."""
    names = MelodyCode().alphabet.names
    wrong = list(notes)
    wrong[position] = names[(names.index(notes[position]) + 1) % len(names)]
    return wrong


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MELODYPAIR_HOME", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_pair(
    link: str,
    notes: list[str] | str,
    store: Path,
    name: str,
    timeout_s: float = 10.0,
    extra: tuple[str, ...] = (),
) -> subprocess.Popen:
    """`melodypair pair ... --json` in its own process."""
    melody = notes if isinstance(notes, str) else " ".join(notes)
    args = [
        sys.executable,
        "-m",
        "melodypair",
        "pair",
        "--link",
        link,
        "--melody",
        melody,
        "--store",
        str(store),
        "--name",
        name,
        "--timeout-s",
        str(timeout_s),
        "--json",
        *extra,
    ]
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=cli_env(),
    )


def finish(proc: subprocess.Popen, timeout_s: float = 30.0) -> tuple[int, dict, str]:
    """(exit code, the JSON object of the last stdout line, stderr) of a finished CLI run."""
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"melodypair pair did not finish: {out}\n{err}")
    lines = out.strip().splitlines()
    assert lines, f"no output; stderr: {err}"
    return proc.returncode, json.loads(lines[-1]), err


def stored_keys(store: Path) -> list[dict]:
    """The raw entries of a key store file ([] when there is none)."""
    path = store / "keys.json"
    if not path.exists():
        return []
    return json.loads(path.read_text())["keys"]


class RawPeer:
    """A hand-driven peer on a TCP connection: the test decides every byte it sends."""

    def __init__(self, port: int, timeout_s: float = 5.0) -> None:
        from melodypair.shared.framing import FrameDecoder

        deadline = time.monotonic() + timeout_s
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.decoder = FrameDecoder()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def frames(self, count: int, timeout_s: float = 5.0) -> list:
        """The next `count` frames from the other side (fewer if it stops sending)."""
        got: list = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count and time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                data = self.sock.recv(4096)
            except (TimeoutError, ConnectionError):
                break
            if not data:
                break
            got += self.decoder.process(data)
        return got

    def close(self) -> None:
        self.sock.close()
