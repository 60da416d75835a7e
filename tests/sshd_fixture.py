"""A real OpenSSH server on 127.0.0.1 at a free port with throwaway keys, for deploy tests.

`running_sshd(dir)` writes a host key, a client key, a private sshd_config and a known_hosts file
that pins the host key (so clients check it strictly), starts `sshd -D` as our child and kills
it at the end. Logging in works as the user running the tests (root in CI), by key only.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
_START_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class SshServer:
    """How to reach the server: `ssh_args` are the client options that make `ssh` work."""

    host: str
    port: int
    user: str
    client_key: Path
    known_hosts: Path
    log: Path

    @property
    def destination(self) -> str:
        """user@host:port, as `make deploy DEVICE=` takes it."""
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def ssh_options(self) -> list[str]:
        return [
            "-o",
            f"UserKnownHostsFile={self.known_hosts}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
        ]

    def ssh(self, *command: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
        """Run a command on the server over ssh."""
        return subprocess.run(
            [
                *("ssh", "-i", str(self.client_key), "-p", str(self.port), *self.ssh_options),
                *(f"{self.user}@{self.host}", "--", *command),
            ],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "melodypair-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".pub").read_text().strip()


@contextlib.contextmanager
def running_sshd(directory: Path) -> Iterator[SshServer]:
    """Start sshd on 127.0.0.1 at a free port; stop it on exit, whatever happens."""
    if not os.path.exists(SSHD) or shutil.which("ssh") is None:
        raise RuntimeError("openssh-server is not installed: run `make setup` (it installs it)")
    directory.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    host_key = directory / "host_key"
    host_public = _keygen(host_key)
    client_key = directory / "client_key"
    authorized = directory / "authorized_keys"
    authorized.write_text(_keygen(client_key) + "\n")
    port = _free_port()
    known_hosts = directory / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{port} {host_public}\n")
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                f"PidFile {directory / 'sshd.pid'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
                "Subsystem sftp internal-sftp",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    log = directory / "sshd.log"
    process = subprocess.Popen(
        [SSHD, "-D", "-f", str(config), "-E", str(log)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = SshServer("127.0.0.1", port, getpass.getuser(), client_key, known_hosts, log)
    try:
        _wait_until_listening(process, port, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_until_listening(process: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = log.read_text() if log.exists() else ""
            raise RuntimeError(f"sshd exited with {process.returncode}: {text}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory) -> Iterator[SshServer]:
    """An sshd on 127.0.0.1 for the tests of one module."""
    with running_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server
