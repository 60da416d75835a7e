"""The key store: pairing keys in one JSON file in a private directory, written atomically.

Directory: `--store DIR`, else $MELODYPAIR_HOME, else $XDG_DATA_HOME/melodypair, else
~/.local/share/melodypair (the device service sets MELODYPAIR_HOME=/var/lib/melodypair).
The directory must be 0700 and the file 0600, both owned by us; anything looser or malformed is
refused, not repaired. Writes go to a temporary file in the same directory, are fsynced, renamed
over the old file and the directory is fsynced, so a crash leaves the old store or the new one.
Only pairing keys and their public details are stored: never a melody or an intermediate secret.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from melodypair.shared import kdf
from melodypair.shared.framing import check_identity
from melodypair.shared.pairing_errors import KeyStoreError

STORE_FILE = "keys.json"
WRITE_LOCK_FILE = ".keys.lock"
STORE_FORMAT = "melodypair-keys"
STORE_VERSION = 1
_TEMP_SUFFIX = ".tmp"
_ENTRY_FIELDS = {"key", "key_id", "peer", "fingerprint", "created", "role"}


def resolve_store_dir(
    explicit: str | os.PathLike | None = None, env: Mapping | None = None
) -> Path:
    """The store directory by precedence: explicit, $MELODYPAIR_HOME, $XDG_DATA_HOME, ~/.local."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit).expanduser()
    if env.get("MELODYPAIR_HOME"):
        return Path(env["MELODYPAIR_HOME"]).expanduser()
    xdg = env.get("XDG_DATA_HOME", "")
    if xdg and os.path.isabs(xdg):  # the XDG spec says to ignore a relative path
        return Path(xdg) / "melodypair"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "share" / "melodypair"


def iso_utc(epoch_ms: int) -> str:
    """An epoch time in milliseconds as ISO 8601 UTC to the second ("2025-01-31T12:00:00Z")."""
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class StoredKey:
    """One pairing: the 256-bit key (secret) and what a person needs to recognise it."""

    key: bytes = field(repr=False)
    key_id: str
    peer: str
    fingerprint: str
    created: str
    role: str

    def public(self) -> dict:
        """Everything but the key: what `keys list` shows."""
        return {
            "key_id": self.key_id,
            "peer": self.peer,
            "fingerprint": self.fingerprint,
            "created": self.created,
            "role": self.role,
        }

    def to_json(self) -> dict:
        return {"key": self.key.hex(), **self.public()}

    @classmethod
    def from_json(cls, entry: object) -> StoredKey:
        """Validate one stored entry; ValueError says what is wrong."""
        if not isinstance(entry, dict) or set(entry) != _ENTRY_FIELDS:
            raise ValueError(f"an entry has exactly the fields {', '.join(sorted(_ENTRY_FIELDS))}")
        if not all(isinstance(v, str) for v in entry.values()):
            raise ValueError("every field of an entry is a string")
        key = bytes.fromhex(entry["key"])
        if len(key) != kdf.KEY_BYTES:
            raise ValueError(f"a key is {kdf.KEY_BYTES} bytes")
        if entry["key_id"] != kdf.key_id(key):
            raise ValueError(f"key id {entry['key_id']} does not match its key")
        check_identity(entry["peer"])
        fp = entry["fingerprint"]
        if len(fp) != kdf.FINGERPRINT_DIGITS or not fp.isdigit():
            raise ValueError(f"fingerprint {fp!r} is not {kdf.FINGERPRINT_DIGITS} digits")
        datetime.strptime(entry["created"], "%Y-%m-%dT%H:%M:%SZ")
        if entry["role"] not in ("A", "B"):
            raise ValueError("role is A or B")
        return cls(key=key, **{k: v for k, v in entry.items() if k != "key"})


def check_private(path: Path, want_dir: bool) -> os.stat_result:
    """Refuse a path that is a symlink, of the wrong kind, not ours, or open to group/others."""
    try:
        info = os.lstat(path)
    except OSError as err:
        raise KeyStoreError(f"cannot read key store {path}: {err.strerror}") from err
    kind_ok = stat.S_ISDIR(info.st_mode) if want_dir else stat.S_ISREG(info.st_mode)
    if not kind_ok:
        kind = "directory" if want_dir else "regular file"
        raise KeyStoreError(f"key store {path} is not a {kind} (symlinks are refused)")
    if info.st_uid != os.geteuid():
        raise KeyStoreError(f"key store {path} belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o077:
        wanted = "700" if want_dir else "600"
        raise KeyStoreError(
            f"key store {path} is readable or writable by others "
            f"(mode {stat.S_IMODE(info.st_mode):o}); fix it with `chmod {wanted} {path}`"
        )
    return info


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data` (mode 0600): temp file in the same directory, fsync, rename,
    fsync the directory. A crash at any moment leaves the old content or the new."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    fsync_dir(path.parent)


def ensure_private_dir(directory: Path) -> Path:
    """Create the directory (0700, parents as needed) or check an existing one."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise KeyStoreError(f"cannot create key store directory {directory}: {err}") from err
    check_private(directory, want_dir=True)
    return directory


@contextlib.contextmanager
def exclusive_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """flock a lock file; yields False (without waiting) when not blocking and it is held."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            held = True
        except BlockingIOError:
            held = False
        yield held
    finally:
        os.close(fd)


class KeyStore:
    """The pairing keys of one device."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    @property
    def path(self) -> Path:
        return self.directory / STORE_FILE

    def load(self) -> tuple[StoredKey, ...]:
        """All stored keys (none when the store does not exist yet); refuses unsafe stores."""
        if not self.directory.exists():
            return ()
        check_private(self.directory, want_dir=True)
        if not os.path.lexists(self.path):
            return ()
        check_private(self.path, want_dir=False)
        try:
            raw = self.path.read_bytes()
        except OSError as err:
            raise KeyStoreError(f"cannot read key store {self.path}: {err.strerror}") from err
        return _parse_store(raw, self.path)

    def find(self, key_id: str) -> StoredKey:
        for entry in self.load():
            if entry.key_id == key_id:
                return entry
        raise KeyStoreError(
            f"no key {key_id} in {self.path}; `melodypair keys list` shows the stored keys"
        )

    def add(self, entry: StoredKey) -> None:
        """Store a new key (replacing one with the same id)."""
        with self._locked():
            keys = [k for k in self.load() if k.key_id != entry.key_id]
            self._write([*keys, entry])

    def forget(self, key_id: str) -> StoredKey:
        """Remove a key by its id; returns what was removed."""
        self.find(key_id)  # an unknown id (or no store at all) fails without creating anything
        with self._locked():
            keys = self.load()
            gone = [k for k in keys if k.key_id == key_id]
            if not gone:
                raise KeyStoreError(
                    f"no key {key_id} in {self.path}; `melodypair keys list` shows the stored keys"
                )
            self._write([k for k in keys if k.key_id != key_id])
            return gone[0]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        ensure_private_dir(self.directory)
        with exclusive_lock(self.directory / WRITE_LOCK_FILE):
            self._remove_stale_temps()
            yield

    def _remove_stale_temps(self) -> None:
        """Temp files left by a writer that was killed; safe to remove while we hold the lock."""
        for stale in self.directory.glob(f".{STORE_FILE}.*{_TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                stale.unlink()

    def _write(self, keys: list[StoredKey]) -> None:
        document = {
            "format": STORE_FORMAT,
            "version": STORE_VERSION,
            "keys": [k.to_json() for k in keys],
        }
        data = (json.dumps(document, indent=2) + "\n").encode()
        try:
            atomic_write_bytes(self.path, data)
        except OSError as err:
            raise KeyStoreError(f"cannot write key store {self.path}: {err}") from err


def _parse_store(raw: bytes, path: Path) -> tuple[StoredKey, ...]:
    def bad(why: str) -> KeyStoreError:
        return KeyStoreError(
            f"key store {path} is damaged or not a melodypair key store ({why}); "
            "move it away to start a new one"
        )

    try:
        document = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise bad(f"not JSON: {err}") from None
    if not isinstance(document, dict) or document.get("format") != STORE_FORMAT:
        raise bad(f'no "format": "{STORE_FORMAT}"')
    if document.get("version") != STORE_VERSION:
        raise bad(f"version {document.get('version')!r}, this program reads {STORE_VERSION}")
    if not isinstance(document.get("keys"), list):
        raise bad('"keys" is not a list')
    keys = []
    for i, entry in enumerate(document["keys"]):
        try:
            keys.append(StoredKey.from_json(entry))
        except ValueError as err:
            raise bad(f"entry {i}: {err}") from None
    if len({k.key_id for k in keys}) != len(keys):
        raise bad("a key id appears twice")
    return tuple(keys)
