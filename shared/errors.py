"""Errors meant for a person: each message says what went wrong and, where it can, what to do."""


class MelodypairError(Exception):
    """Base of every error the CLI reports as one line (exit code 1) instead of a traceback."""

    exit_code = 1


class UsageError(MelodypairError):
    """The command line or a config value is wrong (exit code 2)."""

    exit_code = 2


class AlphabetError(MelodypairError):
    """A note name is not in the alphabet, or an alphabet definition is invalid."""


class AudioFileError(MelodypairError):
    """An audio file cannot be read: missing, not a WAV, truncated, empty, NaN/inf, too long."""


class AudioDeviceError(MelodypairError):
    """No usable audio input or output device."""
