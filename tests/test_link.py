"""Links over real transports: loop://, a socat pty pair, loopback TCP both ways."""

from __future__ import annotations

import threading
import time

import pytest

from melodypair.shared.link import open_link
from melodypair.shared.pairing_errors import LinkError

pytest_plugins = ["pairing_fixtures"]

ALL_BYTES = bytes(range(256))


def read_exactly(link, n: int, timeout_s: float = 5.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        out += link.read(n - len(out), 0.1)
    return out


def test_loop_url_gives_back_what_was_written():
    with open_link("loop://", 1) as link:
        link.write(ALL_BYTES)
        assert read_exactly(link, 256) == ALL_BYTES


def test_read_times_out_with_nothing_instead_of_blocking():
    with open_link("loop://", 1) as link:
        t0 = time.monotonic()
        assert link.read(10, 0.2) == b""
        assert 0.15 <= time.monotonic() - t0 < 2.0


@pytest.mark.parametrize("scheme", ["loop", "tcp"])
def test_a_zero_timeout_polls(free_port, scheme):
    if scheme == "loop":
        link = open_link("loop://", 1)
    else:
        thread, box = _in_thread(lambda: open_link(f"tcp-listen://127.0.0.1:{free_port}", 5))
        peer = open_link(f"socket://127.0.0.1:{free_port}", 5)
        thread.join(5)
        link = box["value"]
    with link:
        assert link.read(10, 0) == b""
    if scheme == "tcp":
        peer.close()


def test_read_returns_at_most_max_bytes():
    with open_link("loop://", 1) as link:
        link.write(b"abcdef")
        time.sleep(0.05)
        assert link.read(4, 1) == b"abcd"
        assert link.read(4, 1) == b"ef"


def test_pty_pair_carries_every_byte_value_both_ways(socat_pty_pair):
    path_a, path_b = socat_pty_pair
    with open_link(path_a, 2) as a, open_link(path_b, 2) as b:
        a.write(ALL_BYTES)
        assert read_exactly(b, 256) == ALL_BYTES
        b.write(ALL_BYTES[::-1])
        assert read_exactly(a, 256) == ALL_BYTES[::-1]


def _in_thread(fn):
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except Exception as err:
            box["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, box


def test_tcp_listen_accepts_one_socket_url_peer(free_port):
    thread, box = _in_thread(lambda: open_link(f"tcp-listen://127.0.0.1:{free_port}", 5))
    with open_link(f"socket://127.0.0.1:{free_port}", 5) as client:
        thread.join(5)
        with box["value"] as server:
            client.write(ALL_BYTES)
            assert read_exactly(server, 256) == ALL_BYTES
            server.write(b"pong")
            assert read_exactly(client, 4) == b"pong"


def test_socket_url_waits_for_a_listener_that_starts_later(free_port):
    thread, box = _in_thread(lambda: open_link(f"socket://127.0.0.1:{free_port}", 5))
    time.sleep(0.4)
    with open_link(f"tcp-listen://127.0.0.1:{free_port}", 5) as server:
        thread.join(5)
        with box["value"] as client:
            client.write(b"late")
            assert read_exactly(server, 4) == b"late"


@pytest.mark.parametrize("side", ["listener", "connector"])
def test_peer_closing_is_a_link_error(free_port, side):
    thread, box = _in_thread(lambda: open_link(f"tcp-listen://127.0.0.1:{free_port}", 5))
    client = open_link(f"socket://127.0.0.1:{free_port}", 5)
    thread.join(5)
    server = box["value"]
    closing, reading = (server, client) if side == "listener" else (client, server)
    closing.close()
    with pytest.raises(LinkError, match="closed by the other side"):
        for _ in range(20):
            reading.read(10, 0.1)
    reading.close()


def test_nobody_connecting_is_a_link_error_naming_the_url(free_port):
    url = f"tcp-listen://127.0.0.1:{free_port}"
    t0 = time.monotonic()
    with pytest.raises(LinkError, match=f"nobody connected to {url} within 0.3 s"):
        open_link(url, 0.3)
    assert time.monotonic() - t0 < 3


def test_nobody_listening_is_a_link_error_naming_the_url(free_port):
    url = f"socket://127.0.0.1:{free_port}"
    t0 = time.monotonic()
    with pytest.raises(LinkError, match=f"cannot open link {url}"):
        open_link(url, 0.3)
    assert time.monotonic() - t0 < 3


@pytest.mark.parametrize(
    "url, words",
    [
        ("/dev/ttyDOES-NOT-EXIST", "cannot open link /dev/ttyDOES-NOT-EXIST"),
        ("tcp-listen://127.0.0.1", "tcp-listen://HOST:PORT"),
        ("tcp-listen://:7300", "tcp-listen://HOST:PORT"),
        ("tcp-listen://127.0.0.1:notaport", "tcp-listen://HOST:PORT"),
        ("nosuchscheme://x", "cannot open link nosuchscheme://x"),
    ],
)
def test_bad_urls_are_link_errors(url, words):
    with pytest.raises(LinkError, match=words):
        open_link(url, 0.2)


def test_port_in_use_is_a_link_error(free_port):
    thread, box = _in_thread(lambda: open_link(f"tcp-listen://127.0.0.1:{free_port}", 2))
    time.sleep(0.2)
    with pytest.raises(LinkError, match="cannot listen on"):
        open_link(f"tcp-listen://127.0.0.1:{free_port}", 0.2)
    with open_link(f"socket://127.0.0.1:{free_port}", 2):
        thread.join(3)
    box["value"].close()
