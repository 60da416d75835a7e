"""The device's settings: a TOML file (default /etc/melodypair/device.toml) read into a frozen
`DeviceConfig`, every setting with a documented default (see deploy/device.toml.example).

Every problem with the file is one `ConfigError` (a usage error, exit 2) whose message names the
file, the key and what is wrong, e.g. "link.timeout_s: expected a number > 0, got 'abc'".
Relative paths (store.dir, model.dir) are relative to the config file's folder.
"""

from __future__ import annotations

import math
import os
import shlex
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from melodypair.shared.errors import UsageError

DEFAULT_CONFIG_PATH = Path("/etc/melodypair/device.toml")
DEFAULT_LINK_URL = "/dev/ttyUSB0"
DEFAULT_STORE_DIR = Path("/var/lib/melodypair")
LOG_LEVELS = ("debug", "info", "warning", "error")
MIN_RATE_HZ = 8000
MAX_RATE_HZ = 192000
MIN_CHUNK_MS = 1.0
MAX_CHUNK_MS = 1000.0
FALLBACK_DEVICE_NAME = "melodypair"
# pyserial's URL handlers (serial.urlhandler.protocol_*) plus the link module's tcp-listen.
LINK_SCHEMES = ("alt", "cp2110", "hwgrep", "loop", "rfc2217", "socket", "spy", "tcp-listen")
_SCHEMES_WITH_PORT = ("rfc2217", "socket", "tcp-listen")


class ConfigError(UsageError):
    """The device config file is missing, unreadable, not TOML, or has a bad or unknown key."""


def _default_device_name() -> str:
    name = socket.gethostname().strip()
    return name if _identity_problem(name) is None else FALLBACK_DEVICE_NAME


@dataclass(frozen=True)
class AudioSettings:
    """[audio]: where the microphone signal comes from and in what pieces."""

    input: str | int = "default"  # "default", a PortAudio device index, or part of its name
    rate_hz: int = 48000  # native capture rate; resampled to the model's rate
    chunk_ms: float = 20.0  # audio delivered per read

    @property
    def chunk_samples(self) -> int:
        """Samples per chunk at `rate_hz` (at least one)."""
        return max(1, round(self.rate_hz * self.chunk_ms / 1000.0))


@dataclass(frozen=True)
class LinkSettings:
    """[link]: the untrusted byte link the key exchange runs over."""

    url: str = DEFAULT_LINK_URL  # a pyserial URL or tcp-listen://HOST:PORT
    timeout_s: float = 15.0  # longest wait for the peer during one pairing attempt


@dataclass(frozen=True)
class StoreSettings:
    """[store]: the private directory holding the pairing keys."""

    dir: Path = DEFAULT_STORE_DIR


@dataclass(frozen=True)
class ModelSettings:
    """[model]: the recognizer model; None means the model shipped in the package."""

    dir: Path | None = None


@dataclass(frozen=True)
class LogSettings:
    """[log]: how much the daemon writes to stderr (the journal)."""

    level: str = "info"


@dataclass(frozen=True)
class HookSettings:
    """[hooks]: commands (argv, no shell) run after a pairing succeeds or fails, with the
    environment variables MELODYPAIR_FINGERPRINT, MELODYPAIR_KEY_ID and MELODYPAIR_REASON."""

    on_success: tuple[str, ...] | None = None
    on_failure: tuple[str, ...] | None = None


@dataclass(frozen=True)
class IdentitySettings:
    """[device]: how this device names itself to its peer (sent in HELLO)."""

    name: str = field(default_factory=_default_device_name)


@dataclass(frozen=True)
class DeviceConfig:
    """All device settings; `source` is the file they were read from (None: all defaults)."""

    audio: AudioSettings = field(default_factory=AudioSettings)
    link: LinkSettings = field(default_factory=LinkSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    log: LogSettings = field(default_factory=LogSettings)
    hooks: HookSettings = field(default_factory=HookSettings)
    device: IdentitySettings = field(default_factory=IdentitySettings)
    source: Path | None = None

    def as_dict(self) -> dict[str, dict[str, object]]:
        """The settings as plain JSON-ready values, one dict per section."""
        out: dict[str, dict[str, object]] = {}
        for section in _SECTIONS:
            values = getattr(self, section)
            out[section] = {f.name: _plain(getattr(values, f.name)) for f in fields(values)}
        return out


_SECTIONS: dict[str, type] = {
    "audio": AudioSettings,
    "link": LinkSettings,
    "store": StoreSettings,
    "model": ModelSettings,
    "log": LogSettings,
    "hooks": HookSettings,
    "device": IdentitySettings,
}
KNOWN_KEYS = tuple(f"{s}.{f.name}" for s, cls in _SECTIONS.items() for f in fields(cls))


def load_config(path: str | os.PathLike | None = None) -> DeviceConfig:
    """The config in `path`; without a path, DEFAULT_CONFIG_PATH, or all defaults if it is absent.

    A path given explicitly must exist.
    """
    if path is None and not DEFAULT_CONFIG_PATH.exists():
        return DeviceConfig()
    file = Path(DEFAULT_CONFIG_PATH if path is None else path)
    try:
        raw = file.read_bytes()
    except OSError as err:
        raise ConfigError(f"{file}: cannot read the config file: {err.strerror or err}") from err
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{file}: not valid TOML: not UTF-8 text (byte {err.start})") from err
    return parse_config(text, source=file)


def parse_config(text: str, source: str | os.PathLike | None = None) -> DeviceConfig:
    """The config in TOML `text`; `source` (its file) names it in messages and anchors relative
    paths."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source or 'config'}: not valid TOML: {err}") from err
    return config_from_mapping(data, source)


def config_from_mapping(data: Mapping, source: str | os.PathLike | None = None) -> DeviceConfig:
    """The config from already-parsed TOML tables: checks every key and value."""
    label = str(source) if source is not None else "config"
    base_dir = Path(source).absolute().parent if source is not None else Path()
    sections: dict[str, object] = {}
    for section, table in data.items():
        if section not in _SECTIONS:
            raise ConfigError(f"{label}: {_unknown(section, 'section')}")
        if not isinstance(table, Mapping):
            raise ConfigError(
                f"{label}: {section}: expected a table [{section}], got {_shown(table)}"
            )
        values = {}
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in _CHECKERS:
                raise ConfigError(f"{label}: {_unknown(key, 'key')}")
            problem, parsed = _CHECKERS[key](value, base_dir)
            if problem is not None:
                raise ConfigError(f"{label}: {key}: {problem}, got {_shown(value)}")
            values[name] = parsed
        sections[section] = _SECTIONS[section](**values)
    return DeviceConfig(**sections, source=Path(source) if source is not None else None)


def _unknown(name: str, kind: str) -> str:
    return f"unknown {kind} '{name}'; known keys: {', '.join(KNOWN_KEYS)}"


def _shown(value: object) -> str:
    """A value as the TOML file spelled it, near enough for a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _plain(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


# Each checker returns (None, parsed value) or (what was expected, None).
Checked = tuple[str | None, object]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _audio_input(value: object, _: Path) -> Checked:
    if _is_integer(value) and value >= 0:
        return None, value
    if isinstance(value, str) and value.strip():
        return None, value.strip()
    return 'expected "default", a device index >= 0 or part of a device name', None


def _rate_hz(value: object, _: Path) -> Checked:
    if _is_integer(value) and MIN_RATE_HZ <= value <= MAX_RATE_HZ:
        return None, value
    return f"expected an integer from {MIN_RATE_HZ} to {MAX_RATE_HZ}", None


def _chunk_ms(value: object, _: Path) -> Checked:
    if _is_number(value) and MIN_CHUNK_MS <= value <= MAX_CHUNK_MS:
        return None, float(value)
    return f"expected a number from {MIN_CHUNK_MS:g} to {MAX_CHUNK_MS:g}", None


def _positive_seconds(value: object, _: Path) -> Checked:
    if _is_number(value) and value > 0:
        return None, float(value)
    return "expected a number > 0", None


def _link_url(value: object, _: Path) -> Checked:
    if not isinstance(value, str) or not value.strip():
        return "expected a serial port or URL such as /dev/ttyUSB0 or socket://HOST:PORT", None
    url = value.strip()
    if "://" not in url:
        return None, url
    scheme, rest = url.split("://", 1)
    if scheme not in LINK_SCHEMES:
        return f"unknown URL scheme '{scheme}' (known: {', '.join(LINK_SCHEMES)})", None
    if scheme in _SCHEMES_WITH_PORT:
        host, _, port = rest.partition("/")[0].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            return f"expected {scheme}://HOST:PORT with a port from 1 to 65535", None
    return None, url


def _directory(value: object, base_dir: Path) -> Checked:
    if isinstance(value, str) and value.strip():
        return None, base_dir / Path(value.strip()).expanduser()
    return "expected a directory path", None


def _model_dir(value: object, base_dir: Path) -> Checked:
    if isinstance(value, str) and not value.strip():
        return None, None
    problem, parsed = _directory(value, base_dir)
    return (None, parsed) if problem is None else ('expected a directory path or ""', None)


def _log_level(value: object, _: Path) -> Checked:
    if isinstance(value, str) and value.strip().lower() in LOG_LEVELS:
        return None, value.strip().lower()
    return f"expected one of {', '.join(LOG_LEVELS)}", None


def _hook(value: object, _: Path) -> Checked:
    expected = "expected a command: a string (split like a shell would, not run by one) or a list"
    if isinstance(value, str):
        try:
            argv = shlex.split(value)
        except ValueError as err:
            return f"{expected}; it cannot be split ({err})", None
    elif isinstance(value, list) and all(isinstance(a, str) for a in value):
        argv = list(value)
    else:
        return f"{expected} of strings", None
    if argv and not argv[0]:
        return f"{expected}; the program name is empty", None
    return None, tuple(argv) or None


def _identity_problem(name: str) -> str | None:
    from melodypair.shared.framing import check_identity

    try:
        check_identity(name)
    except ValueError as err:
        return str(err)
    return None


def _device_name(value: object, _: Path) -> Checked:
    if isinstance(value, str) and value.strip() and _identity_problem(value.strip()) is None:
        return None, value.strip()
    return "expected 1 to 64 bytes of printable text", None


_CHECKERS: dict[str, Callable[[object, Path], Checked]] = {
    "audio.input": _audio_input,
    "audio.rate_hz": _rate_hz,
    "audio.chunk_ms": _chunk_ms,
    "link.url": _link_url,
    "link.timeout_s": _positive_seconds,
    "store.dir": _directory,
    "model.dir": _model_dir,
    "log.level": _log_level,
    "hooks.on_success": _hook,
    "hooks.on_failure": _hook,
    "device.name": _device_name,
}
