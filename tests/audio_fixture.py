"""The `pulse_server` fixture: a private PulseAudio with a null sink "air" (see melodypair.rig).

It also points this process's environment at the server, for in-process PyAudio; give child
processes `server.env`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from melodypair.rig import PulseServer, running_pulseaudio

SINK = "air"


@pytest.fixture
def pulse_server(tmp_path, monkeypatch) -> Iterator[PulseServer]:
    with running_pulseaudio(tmp_path, sinks=(SINK,)) as server:
        for name, value in server.variables.items():
            monkeypatch.setenv(name, value)
        yield server
