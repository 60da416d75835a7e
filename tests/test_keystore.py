"""The key store: where it lives, what it refuses, and that SIGKILL never leaves it broken."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from melodypair.shared import kdf
from melodypair.shared.keystore import (
    STORE_FILE,
    KeyStore,
    StoredKey,
    resolve_store_dir,
)
from melodypair.shared.pairing_errors import KeyStoreError


def make_key(seed: int, peer: str = "kitchen-pi") -> StoredKey:
    key = bytes([seed % 256]) * 32
    return StoredKey(
        key=key,
        key_id=kdf.key_id(key),
        peer=peer,
        fingerprint=f"{seed:06d}"[-6:],
        created="2025-01-31T12:00:00Z",
        role="A",
    )


def test_store_dir_precedence():
    env = {
        "MELODYPAIR_HOME": "/m",
        "XDG_DATA_HOME": "/x",
        "HOME": "/h",
    }
    assert resolve_store_dir("/explicit", env) == Path("/explicit")
    assert resolve_store_dir(None, env) == Path("/m")
    assert resolve_store_dir(None, {"XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/x/melodypair")
    assert resolve_store_dir(None, {"XDG_DATA_HOME": "rel", "HOME": "/h"}) == Path(
        "/h/.local/share/melodypair"
    )
    assert resolve_store_dir(None, {"HOME": "/h"}) == Path("/h/.local/share/melodypair")


def test_add_list_forget_round_trip_with_private_modes(tmp_path):
    store = KeyStore(tmp_path / "deep" / "store")
    assert store.load() == ()
    first, second = make_key(1), make_key(2, "garage-pi")
    store.add(first)
    store.add(second)
    assert store.load() == (first, second)
    assert os.stat(store.directory).st_mode & 0o777 == 0o700
    assert os.stat(store.path).st_mode & 0o777 == 0o600
    assert store.find(second.key_id) == second
    assert store.forget(first.key_id) == first
    assert store.load() == (second,)
    with pytest.raises(KeyStoreError, match="no key"):
        store.forget(first.key_id)


def test_forgetting_in_a_store_that_does_not_exist_creates_nothing(tmp_path):
    store = KeyStore(tmp_path / "none")
    with pytest.raises(KeyStoreError, match="no key"):
        store.forget("0123456789abcdef")
    assert not store.directory.exists()


def test_adding_the_same_key_id_replaces_it(tmp_path):
    store = KeyStore(tmp_path)
    tmp_path.chmod(0o700)
    store.add(make_key(1, "old-name"))
    store.add(make_key(1, "new-name"))
    assert [k.peer for k in store.load()] == ["new-name"]


def test_file_holds_only_keys_and_their_public_details(tmp_path):
    store = KeyStore(tmp_path / "s")
    store.add(make_key(7))
    document = json.loads(store.path.read_text())
    assert set(document) == {"format", "version", "keys"}
    assert set(document["keys"][0]) == {"key", "key_id", "peer", "fingerprint", "created", "role"}
    assert make_key(7).key.hex() not in repr(make_key(7))
    assert "key" not in make_key(7).public()


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o777])
def test_loose_directory_is_refused(tmp_path, mode):
    store = KeyStore(tmp_path / "s")
    store.add(make_key(1))
    store.directory.chmod(mode)
    with pytest.raises(KeyStoreError, match="chmod 700"):
        store.load()
    with pytest.raises(KeyStoreError, match="chmod 700"):
        store.add(make_key(2))


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o666])
def test_loose_file_is_refused(tmp_path, mode):
    store = KeyStore(tmp_path / "s")
    store.add(make_key(1))
    store.path.chmod(mode)
    with pytest.raises(KeyStoreError, match=r"chmod 600 .*keys.json"):
        store.load()


def test_symlinked_store_file_is_refused(tmp_path):
    store = KeyStore(tmp_path / "s")
    store.add(make_key(1))
    real = store.directory / "elsewhere.json"
    store.path.rename(real)
    store.path.symlink_to(real)
    with pytest.raises(KeyStoreError, match="symlinks are refused"):
        store.load()


def _entry(**changes):
    entry = make_key(3).to_json()
    entry.update(changes)
    return entry


@pytest.mark.parametrize(
    "content, words",
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"{truncated", "not JSON"),
        (b"[]", "format"),
        (b'{"format": "other", "version": 1, "keys": []}', "format"),
        (b'{"format": "melodypair-keys", "version": 2, "keys": []}', "version 2"),
        (b'{"format": "melodypair-keys", "version": 1, "keys": {}}', "not a list"),
        ({"keys": [{"key": "00"}]}, "entry 0"),
        ({"keys": [_entry(key="00" * 31)]}, "32 bytes"),
        ({"keys": [_entry(key="zz" * 32)]}, "entry 0"),
        ({"keys": [_entry(key_id="0" * 16)]}, "does not match"),
        ({"keys": [_entry(fingerprint="12345")]}, "6 digits"),
        ({"keys": [_entry(created="yesterday")]}, "entry 0"),
        ({"keys": [_entry(role="C")]}, "role"),
        ({"keys": [_entry(peer="")]}, "entry 0"),
        ({"keys": [_entry(fingerprint=123456)]}, "string"),
        ({"keys": [_entry(), _entry()]}, "twice"),
    ],
)
def test_bad_content_is_refused_with_a_clear_message(tmp_path, content, words):
    store = KeyStore(tmp_path / "s")
    store.add(make_key(1))
    if isinstance(content, dict):
        content = json.dumps({"format": "melodypair-keys", "version": 1, **content}).encode()
    store.path.write_bytes(content)
    with pytest.raises(KeyStoreError, match=words) as info:
        store.load()
    assert "move it away" in str(info.value)
    with pytest.raises(KeyStoreError):
        store.add(make_key(2))  # a damaged store is never overwritten
    assert store.path.read_bytes() == content


def test_stale_temp_files_of_a_killed_writer_are_removed_on_the_next_write(tmp_path):
    store = KeyStore(tmp_path / "s")
    store.add(make_key(1))
    stale = store.directory / f".{STORE_FILE}.abc123.tmp"
    stale.write_bytes(b"half a store")
    assert store.load() == (make_key(1),)
    store.add(make_key(2))
    assert not stale.exists()


_WRITER = textwrap.dedent(
    """
    import sys
    from melodypair.shared import kdf
    from melodypair.shared.keystore import KeyStore, StoredKey

    store = KeyStore(sys.argv[1])
    i = int(sys.argv[2])
    while True:
        key = i.to_bytes(4, "big") * 8
        store.add(StoredKey(key, kdf.key_id(key), f"peer-{i}", f"{i % 10**6:06d}",
                            "2025-01-31T12:00:00Z", "B"))
        for old in store.load()[:-5]:
            store.forget(old.key_id)
        if i % 7 == 0:
            print("wrote", flush=True)
        i += 1
    """
)


@pytest.mark.slow
@pytest.mark.e2e
def test_sigkill_at_random_moments_never_leaves_an_unreadable_store(tmp_path):
    """30 writer processes killed with SIGKILL at random points of a write loop; after each kill
    the store loads cleanly and holds a plausible state."""
    store = KeyStore(tmp_path / "store")
    rng = random.Random(1234)
    counter = 0
    seen_entries = 0
    torn_writes = 0
    for _ in range(30):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(store.directory), str(counter)],
            stdout=subprocess.PIPE,
            text=True,
        )
        writer.stdout.readline()  # it has written at least once: the loop is running
        with contextlib.suppress(subprocess.TimeoutExpired):
            writer.wait(timeout=rng.uniform(0.0, 0.08))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        assert writer.returncode == -signal.SIGKILL
        torn_writes += any(store.directory.glob(f".{STORE_FILE}.*.tmp"))
        keys = store.load()  # raises if the file were torn
        assert 1 <= len(keys) <= 6
        assert all(k.key_id == kdf.key_id(k.key) for k in keys)
        seen_entries += len(keys)
        counter = 1 + max(int.from_bytes(k.key[:4], "big") for k in keys)
    assert seen_entries >= 30
    assert torn_writes >= 1, "no kill landed inside a write: the test proved nothing"
