"""Fixtures of the pairing tests: a real socat pty pair and a free TCP port on 127.0.0.1.

A test module loads them with `pytest_plugins = ["pairing_fixtures"]` (pytest puts tests/ on
sys.path); plain helpers live in pairing_helpers.py and are imported normally.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pairing_helpers import pick_free_port


@pytest.fixture
def socat_pty_pair(tmp_path: Path):
    """Two pty paths joined by socat like a null-modem cable: bytes written to one come out of
    the other. socat is stopped (by its pid) afterwards."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (apt-get install socat)")
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    log = tmp_path / "socat.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(
            ["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 10
    while not (a.exists() and b.exists()):
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait()
            pytest.fail(
                f"socat did not create the pty pair (exit {proc.returncode}): {log.read_text()}"
            )
        time.sleep(0.02)
    try:
        yield str(a), str(b)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return pick_free_port()
