"""Fixtures of the pairing tests: a real socat pty pair and a free TCP port on 127.0.0.1.

A test module loads them with `pytest_plugins = ["pairing_fixtures"]` (pytest puts tests/ on
sys.path); plain helpers live in pairing_helpers.py and are imported normally.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pairing_helpers import pick_free_port

from melodypair.rig import pty_pair


@pytest.fixture
def socat_pty_pair(tmp_path: Path):
    """Two pty paths joined by socat like a null-modem cable (see melodypair.rig.pty_pair)."""
    if shutil.which("socat") is None:
        pytest.skip("socat is not installed (apt-get install socat)")
    with pty_pair(tmp_path) as pair:
        yield pair


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return pick_free_port()
