"""Pairing speed: one full exchange over loopback TCP, two threads (median of 10).

Two figures: the protocol exchange alone (HELLO, SPAKE2, HKDF, confirmation over real sockets),
and the whole `pair()` with its guess-limit record and fsynced key-store writes. Both sides
share one interpreter, so their pure-Python SPAKE2 work is serialised by the GIL: on two
devices the exchange is faster than shown here.
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from melodypair.shared import kdf
from melodypair.shared.keystore import KeyStore
from melodypair.shared.link import Link, open_link
from melodypair.shared.melody_code import MelodyCode
from melodypair.shared.pairing import Password, pair, run_session
from melodypair.shared.protocol import Session

RUNS = 10
TARGET_MS = 1000.0


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _over_loopback(side: Callable[[Link, str], object]) -> float:
    """Milliseconds from both links open until the later of the two sides is done."""
    port = _free_port()
    ready = threading.Barrier(2)
    start_s: list[float] = []
    end_s: dict[str, float] = {}
    errors: list[BaseException] = []

    def run(name: str, url: str) -> None:
        try:
            with open_link(url, 5) as link:
                ready.wait()
                if name == "b":
                    start_s.append(time.perf_counter())
                side(link, name)
                end_s[name] = time.perf_counter()
        except BaseException as err:
            errors.append(err)
            ready.abort()

    listener = threading.Thread(target=run, args=("a", f"tcp-listen://127.0.0.1:{port}"))
    listener.start()
    run("b", f"socket://127.0.0.1:{port}")
    listener.join()
    if errors:
        raise errors[0]
    return (max(end_s.values()) - start_s[0]) * 1000


def _exchange_ms(password: bytes) -> float:
    def side(link: Link, name: str):
        now_ms = int(time.monotonic() * 1000)
        return run_session(link, Session(password, name, now_ms), time.monotonic)

    return _over_loopback(side)


def _pair_ms(notes: list[str], stores: dict[str, KeyStore]) -> float:
    def side(link: Link, name: str):
        return pair(link, Password.from_notes(notes, int(time.monotonic() * 1000)), stores[name],
                    name)  # fmt: skip

    return _over_loopback(side)


def run() -> list[dict]:
    code = MelodyCode()
    melody = code.new()
    password = kdf.encode_password(melody.data, len(code.alphabet))
    exchange = statistics.median(_exchange_ms(password) for _ in range(RUNS))
    with tempfile.TemporaryDirectory() as tmp:
        stores = {n: KeyStore(Path(tmp) / n) for n in ("a", "b")}
        full = statistics.median(_pair_ms(list(melody.names), stores) for _ in range(RUNS))
    return [
        {
            "name": f"pairing exchange, loopback TCP (median of {RUNS})",
            "value": exchange,
            "unit": "ms",
            "target": f"< {TARGET_MS:g} ms",
            "ok": exchange < TARGET_MS,
        },
        {
            "name": f"pair() with key store writes (median of {RUNS})",
            "value": full,
            "unit": "ms",
            "target": f"< {TARGET_MS:g} ms",
            "ok": full < TARGET_MS,
        },
    ]
