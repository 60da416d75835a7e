"""`melodypair pair` and `melodypair keys`: pair over a link, list and forget pairing keys."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time

from melodypair.shared.errors import MelodypairError

_LINK_HELP = (
    "the byte link to the other device: a serial device (/dev/ttyUSB0, /dev/rfcomm0; "
    "115200 baud), socket://HOST:PORT to connect over TCP, tcp-listen://HOST:PORT to wait for "
    "one TCP connection, or any other pyserial URL"
)
_STORE_HELP = (
    "key store directory (default: $MELODYPAIR_HOME, else $XDG_DATA_HOME/melodypair, "
    "else ~/.local/share/melodypair)"
)


def _timeout_s(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("the timeout must be more than 0 and at most 600 s")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    pair = subparsers.add_parser(
        "pair",
        help="pair with the device at the other end of a link",
        description=(
            "Pair with whatever device is at the other end of the link, using the melody both "
            "heard as the password of a SPAKE2 key exchange. Both devices run this command; "
            "neither needs to start first. On success both store the same 256-bit key and show "
            "the same 6-digit fingerprint: compare them. The key itself is never printed. "
            "Exit 0 when paired, 1 when not (the reason is printed), 2 on a usage error."
        ),
    )
    pair.add_argument("--link", required=True, metavar="URL", help=_LINK_HELP)
    source = pair.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--melody",
        metavar="NOTES",
        help='the melody as note names, all of them, check notes included: "C5 E5 G5 ..."; '
        "one wrong note is corrected",
    )
    source.add_argument("--wav", metavar="FILE", help="transcribe the melody from a WAV recording")
    source.add_argument(
        "--listen", action="store_true", help="listen for the melody on the microphone"
    )
    pair.add_argument("--store", metavar="DIR", help=_STORE_HELP)
    pair.add_argument(
        "--name",
        metavar="ID",
        help="this device's name as the other device will record it (default: the host name)",
    )
    pair.add_argument(
        "--timeout-s",
        type=_timeout_s,
        default=15.0,
        metavar="S",
        help="give up after this many seconds without a completed exchange, and wait this long "
        "for a TCP peer to connect (default: 15)",
    )
    pair.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object as the last line: status, fingerprint, key_id, peer, "
        "reason (on failure), elapsed_ms (of the exchange, from the moment the link was open)",
    )
    pair.add_argument(
        "--model", metavar="DIR", help="recognizer model for --wav/--listen (default: shipped)"
    )
    pair.add_argument(
        "--listen-s",
        type=float,
        default=60.0,
        metavar="S",
        help="with --listen: give up when no melody was heard in this many seconds (default 60)",
    )
    pair.set_defaults(func=_pair)

    keys = subparsers.add_parser(
        "keys",
        help="list or forget pairing keys",
        description="Show or remove the pairing keys in the key store (never the keys' bytes).",
    )
    sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    show = sub.add_parser(
        "list",
        help="list the stored pairings",
        description="List each stored pairing: key id, peer, fingerprint, creation time (UTC).",
    )
    show.add_argument("--store", metavar="DIR", help=_STORE_HELP)
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=_keys_list)
    forget = sub.add_parser(
        "forget",
        help="remove a stored pairing",
        description="Remove one pairing key from the store, by its key id (see `keys list`).",
    )
    forget.add_argument("key_id", metavar="KEY_ID", help="the key id shown by `keys list`")
    forget.add_argument("--store", metavar="DIR", help=_STORE_HELP)
    forget.set_defaults(func=_keys_forget)


def _default_name() -> str:
    from melodypair.shared.framing import MAX_IDENTITY_BYTES

    name = socket.gethostname().strip()
    if name and name.isprintable() and len(name.encode()) <= MAX_IDENTITY_BYTES:
        return name
    return "melodypair"


def _pair(args: argparse.Namespace) -> int:
    from melodypair.shared.errors import UsageError
    from melodypair.shared.framing import check_identity
    from melodypair.shared.keystore import KeyStore, resolve_store_dir
    from melodypair.shared.link import open_link
    from melodypair.shared.pairing import (
        Password,
        melody_from_wav,
        pair,
        preflight,
    )
    from melodypair.shared.pairing_errors import reason_of

    started = time.monotonic()
    try:
        name = args.name if args.name is not None else _default_name()
        try:
            check_identity(name)
        except ValueError as err:
            raise UsageError(f"--name: {err}") from None
        if args.melody is not None:
            password = Password.from_notes(args.melody, int(time.monotonic() * 1000))
            if password.corrected:
                print(f"corrected {password.corrected} wrong note(s) in the melody")
        elif args.wav is not None:
            password = melody_from_wav(args.wav, args.model)
        else:
            from melodypair.device.audio_sources import MicrophoneSource
            from melodypair.device.service import listen_for_melody
            from melodypair.shared.decoder import load_default_bundle

            bundle = load_default_bundle(args.model)
            with MicrophoneSource("default", 48000) as source:
                print(f"listening for the melody on {source.name} ...", file=sys.stderr, flush=True)
                password = listen_for_melody(source, bundle, args.listen_s)
        store = KeyStore(resolve_store_dir(args.store))
        preflight(store)
        with open_link(args.link, args.timeout_s) as link:
            started = time.monotonic()  # the exchange starts; waiting for a TCP peer is not in it
            result = pair(link, password, store, name, deadline_ms=int(args.timeout_s * 1000))
    except MelodypairError as err:
        if args.json:
            elapsed_ms = int((time.monotonic() - started) * 1000)
            print(json.dumps(_outcome("failed", reason=reason_of(err), elapsed_ms=elapsed_ms)))
        raise
    if args.json:
        print(
            json.dumps(
                _outcome(
                    "paired",
                    fingerprint=result.fingerprint,
                    key_id=result.key_id,
                    peer=result.peer,
                    elapsed_ms=result.elapsed_ms,
                )
            )
        )
    else:
        digits = result.fingerprint
        print(f"paired with {result.peer}")
        print(f"fingerprint: {digits[:3]} {digits[3:]}  (the other device must show the same)")
        print(f"key id: {result.key_id}")
    return 0


def _outcome(status: str, **fields: object) -> dict:
    base = {"status": status, "fingerprint": None, "key_id": None, "peer": None}
    return {**base, **fields}


def _keys_list(args: argparse.Namespace) -> int:
    from melodypair.shared.keystore import KeyStore, resolve_store_dir

    store = KeyStore(resolve_store_dir(args.store))
    keys = store.load()
    if args.json:
        print(json.dumps({"store": str(store.path), "keys": [k.public() for k in keys]}))
        return 0
    if not keys:
        print(f"no pairings in {store.path}")
        return 0
    print(f"{'KEY ID':<16}  {'FINGERPRINT':<11}  {'CREATED (UTC)':<20}  PEER")
    for k in keys:
        print(f"{k.key_id:<16}  {k.fingerprint:<11}  {k.created:<20}  {k.peer}")
    return 0


def _keys_forget(args: argparse.Namespace) -> int:
    from melodypair.shared.keystore import KeyStore, resolve_store_dir

    store = KeyStore(resolve_store_dir(args.store))
    gone = store.forget(args.key_id)
    print(f"forgot key {gone.key_id} (paired with {gone.peer} on {gone.created})")
    return 0
