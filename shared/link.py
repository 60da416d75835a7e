"""The byte link between two devices: any pyserial URL, or a TCP port that waits for one peer.

`open_link(url, timeout_s)` accepts what `serial.serial_for_url` does (`/dev/ttyUSB0`,
`/dev/rfcomm0`, `loop://`, ...) plus `tcp-listen://HOST:PORT`, which accepts exactly one
connection. `socket://HOST:PORT` (pyserial's syntax) is served by a plain TCP socket here, so
that closing is graceful. Every read has a timeout; every failure is a LinkError naming the URL.
The link is untrusted: it carries only protocol frames, never anything secret.
"""

from __future__ import annotations

import contextlib
import socket
import time
from abc import ABC, abstractmethod
from urllib.parse import urlsplit

import serial

from melodypair.shared.pairing_errors import LinkError

LISTEN_SCHEME = "tcp-listen"
DEFAULT_BAUD = 115_200
LINGER_S = 0.5
_CONNECT_RETRY_S = 0.1


class Link(ABC):
    """A bidirectional byte stream with timed reads; subclasses wrap pyserial or a socket."""

    url: str

    @abstractmethod
    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Up to `max_bytes` bytes, waiting at most `timeout_s` for the first; b"" on timeout."""

    @abstractmethod
    def write(self, data: bytes) -> None:
        """Send all of `data` (or raise LinkError)."""

    @abstractmethod
    def close(self) -> None:
        """Release the link; never raises."""

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialLink(Link):
    """A pyserial port: a tty, a Bluetooth rfcomm device, `loop://` or another pyserial URL."""

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        self._port = port
        self.url = url

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        try:
            if self._port.timeout != timeout_s:
                self._port.timeout = timeout_s
            data = self._port.read(1)
            if data and max_bytes > 1:
                data += self._port.read(min(self._port.in_waiting, max_bytes - 1))
            return data
        except serial.SerialException as err:
            raise _closed_or_failed(self.url, err) from err
        except OSError as err:
            raise LinkError(f"link {self.url} failed while reading: {err}") from err

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except serial.SerialTimeoutException as err:
            raise LinkError(
                f"link {self.url}: writing timed out (is the other side stuck?)"
            ) from err
        except (serial.SerialException, OSError) as err:
            raise _closed_or_failed(self.url, err) from err

    def close(self) -> None:
        # Closing a port that already failed must not hide the first error.
        with contextlib.suppress(Exception):
            self._port.close()


class SocketLink(Link):
    """A connected TCP socket: `socket://` or the accepted side of `tcp-listen://`."""

    def __init__(self, sock: socket.socket, url: str) -> None:
        self._sock = sock
        self.url = url

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        try:
            self._sock.settimeout(max(timeout_s, 0.0))
            data = self._sock.recv(max_bytes)
        except (TimeoutError, BlockingIOError):  # a timeout of 0 makes the socket non-blocking
            return b""
        except OSError as err:
            raise LinkError(f"link {self.url} failed while reading: {err}") from err
        if not data:
            raise LinkError(f"link {self.url} was closed by the other side")
        return data

    def write(self, data: bytes) -> None:
        try:
            self._sock.settimeout(5.0)
            self._sock.sendall(data)
        except OSError as err:
            raise LinkError(f"link {self.url} failed while writing: {err}") from err

    def close(self) -> None:
        """Graceful close: send FIN, then read and drop what the peer still sends until it
        closes too (at most LINGER_S). Closing with unread data would make the kernel send a
        reset, which can destroy our last frames (an ABORT) before the peer reads them."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_S
            while (left := deadline - time.monotonic()) > 0:
                self._sock.settimeout(left)
                if not self._sock.recv(4096):
                    break
        self._sock.close()


def parse_host_port(url: str) -> tuple[str, int]:
    """(host, port) of `scheme://HOST:PORT`; LinkError when either is missing or invalid."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None:
        raise LinkError(f"link {url}: write it as {parts.scheme}://HOST:PORT")
    return parts.hostname, port


def open_link(url: str, timeout_s: float = 15.0, baudrate: int = DEFAULT_BAUD) -> Link:
    """Open a link; `timeout_s` bounds waiting for the TCP peer (tcp-listen://, socket://)."""
    if url.startswith(f"{LISTEN_SCHEME}://"):
        return _accept_one(url, timeout_s)
    if url.startswith("socket://"):
        return _connect(url, timeout_s)
    try:
        port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.1, write_timeout=5.0)
    except (serial.SerialException, OSError, ValueError) as err:
        raise LinkError(f"cannot open link {url}: {err}") from err
    return SerialLink(port, url)


def _connect(url: str, timeout_s: float) -> SocketLink:
    """TCP ourselves rather than pyserial's socket://, for the graceful close above. The peer
    may not be listening yet: keep trying until the timeout."""
    host, port = parse_host_port(url)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=max(timeout_s, 0.1))
            break
        except OSError as err:
            if time.monotonic() + _CONNECT_RETRY_S >= deadline:
                raise LinkError(f"cannot open link {url}: {err}") from err
            time.sleep(_CONNECT_RETRY_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return SocketLink(sock, url)


def _accept_one(url: str, timeout_s: float) -> SocketLink:
    host, port = parse_host_port(url)
    try:
        listener = socket.create_server((host, port), reuse_port=False)
    except OSError as err:
        raise LinkError(f"cannot listen on {url}: {err}") from err
    with listener:
        listener.settimeout(timeout_s)
        try:
            sock, _ = listener.accept()
        except TimeoutError:
            raise LinkError(f"nobody connected to {url} within {timeout_s:g} s") from None
        except OSError as err:
            raise LinkError(f"link {url} failed while waiting for a connection: {err}") from err
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return SocketLink(sock, url)


def _closed_or_failed(url: str, err: Exception) -> LinkError:
    text = str(err)
    if "disconnected" in text:
        return LinkError(f"link {url} was closed by the other side")
    return LinkError(f"link {url} failed: {text}")
