"""The pairing service: listen, recognize a pairing melody, pair over the link, store, listen again.

    audio source -> Decoder (resample, features, windows, int8 LSTM, smoothing, melody finder)
                 -> pair() over the configured link -> key store -> hook -> back to listening

Memory stays bounded however long it runs (every part of the chain keeps a fixed amount of
state). SIGTERM/SIGINT stop it within a chunk, or interrupt a pairing in progress; the key store
is only ever replaced atomically, so an interruption never leaves it half-written.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from melodypair.device.config import DeviceConfig
from melodypair.shared.errors import MelodypairError
from melodypair.shared.keystore import KeyStore
from melodypair.shared.model_bundle import ModelBundle
from melodypair.shared.pairing import PairingResult, Password, pair, password_from_melodies

log = logging.getLogger("melodypair.device")


class ServiceStop(BaseException):
    """Raised by the signal handler to end the service wherever it is (not an error)."""


@dataclass(frozen=True)
class Attempt:
    """The outcome of one pairing attempt, as logged and passed to the hooks."""

    ok: bool
    fingerprint: str = ""
    key_id: str = ""
    peer: str = ""
    reason: str = ""
    elapsed_ms: int = 0


def setup_logging(level: str) -> None:
    """Plain lines on stderr; journald adds the time and the unit."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(levelname)s %(message)s",
        force=True,
    )


def install_signal_handlers() -> None:
    def _stop(signum, _frame):
        raise ServiceStop(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def run_hook(command: tuple[str, ...] | None, attempt: Attempt) -> None:
    """Run a configured hook command (never through a shell) with the outcome in its environment."""
    if not command:
        return
    env = {
        **os.environ,
        "MELODYPAIR_STATUS": "paired" if attempt.ok else "failed",
        "MELODYPAIR_FINGERPRINT": attempt.fingerprint,
        "MELODYPAIR_KEY_ID": attempt.key_id,
        "MELODYPAIR_PEER": attempt.peer,
        "MELODYPAIR_REASON": attempt.reason,
    }
    try:
        done = subprocess.run(list(command), env=env, timeout=10, capture_output=True)
        if done.returncode:
            log.warning("hook %s exited with %d", command[0], done.returncode)
    except (OSError, subprocess.TimeoutExpired) as err:
        log.warning("hook %s could not run: %s", command[0], err)


def attempt_pairing(config: DeviceConfig, password: Password) -> Attempt:
    """One pairing attempt over the configured link; failures are outcomes, not exceptions."""
    from melodypair.shared.link import open_link
    from melodypair.shared.pairing_errors import reason_of

    store = KeyStore(config.store.dir)
    started = time.monotonic()
    try:
        with open_link(config.link.url, config.link.timeout_s) as link:
            result: PairingResult = pair(
                link,
                password,
                store,
                config.device.name,
                deadline_ms=int(config.link.timeout_s * 1000),
            )
    except MelodypairError as err:
        elapsed = int((time.monotonic() - started) * 1000)
        return Attempt(False, reason=f"{reason_of(err)}: {err}", elapsed_ms=elapsed)
    return Attempt(
        True, result.fingerprint, result.key_id, result.peer, elapsed_ms=result.elapsed_ms
    )


def report(attempt: Attempt, config: DeviceConfig) -> None:
    if attempt.ok:
        log.info(
            "paired with %s: fingerprint %s, key id %s (%d ms)",
            attempt.peer, attempt.fingerprint, attempt.key_id, attempt.elapsed_ms,
        )  # fmt: skip
        run_hook(config.hooks.on_success, attempt)
    else:
        log.warning("pairing failed: %s", attempt.reason)
        run_hook(config.hooks.on_failure, attempt)


def listen_for_melody(source, bundle: ModelBundle, timeout_s: float = 60.0) -> Password:
    """Listen to `source` until one pairing melody is heard; its password (for `pair --listen`)."""
    from melodypair.shared.decoder import Decoder
    from melodypair.shared.pairing_errors import InvalidMelody

    decoder = Decoder(bundle, source.sample_rate_hz)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        chunk = source.read()
        melodies = decoder.flush().melodies if chunk is None else decoder.process(chunk).melodies
        if melodies:
            now_ms = int(time.monotonic() * 1000)
            return password_from_melodies(melodies, len(bundle.alphabet), now_ms, source.name)
        if chunk is None:
            break
    raise InvalidMelody(f"no pairing melody heard within {timeout_s:.0f} s; play it again")


class ListeningService:
    """Runs the listening loop over one audio source until it ends, `max_attempts` are made, or
    a signal stops it. `on_attempt` sees every outcome (the CLI prints them)."""

    def __init__(
        self,
        config: DeviceConfig,
        bundle: ModelBundle,
        source,
        on_attempt: Callable[[Attempt], None] | None = None,
        max_attempts: int | None = None,
    ):
        from melodypair.shared.decoder import Decoder

        self.config = config
        self.source = source
        self.decoder = Decoder(bundle, source.sample_rate_hz)
        self.on_attempt = on_attempt
        self.max_attempts = max_attempts
        self.attempts: list[Attempt] = []
        self._alphabet_size = len(bundle.alphabet)
        self._logged_overflows = 0

    def run(self) -> list[Attempt]:
        log.info(
            "listening on %s at %d Hz; link %s",
            self.source.name,
            self.source.sample_rate_hz,
            self.config.link.url,
        )
        while not self._done():
            chunk = self.source.read()
            if chunk is None:
                self._handle(self.decoder.flush().melodies)
                break
            self._handle(self.decoder.process(chunk).melodies)
            self._note_overflows()
        return self.attempts

    def _done(self) -> bool:
        return self.max_attempts is not None and len(self.attempts) >= self.max_attempts

    def _handle(self, melodies) -> None:
        if not melodies or self._done():
            return
        now_ms = int(time.monotonic() * 1000)
        try:
            password = password_from_melodies(melodies, self._alphabet_size, now_ms, "the air")
        except MelodypairError as err:
            log.warning("heard something like a pairing melody, but: %s", err)
            return
        corrected = f" ({password.corrected} note corrected)" if password.corrected else ""
        log.info("heard a pairing melody%s; pairing over %s", corrected, self.config.link.url)
        attempt = attempt_pairing(self.config, password)
        self.attempts.append(attempt)
        report(attempt, self.config)
        if self.on_attempt:
            self.on_attempt(attempt)
        self.decoder.reset()  # what was heard during the exchange is stale
        log.info("listening again")

    def _note_overflows(self) -> None:
        overflows = getattr(self.source, "overflows", 0)
        if overflows > self._logged_overflows:
            log.warning(
                "audio input overflowed %d time(s) so far (%d samples dropped); decoding goes on",
                overflows, getattr(self.source, "dropped_samples", 0),
            )  # fmt: skip
            self._logged_overflows = overflows
