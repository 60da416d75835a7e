"""Argument types shared by the commands: argparse calls them on the text the user typed."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(least: int) -> Callable[[str], int]:
    """An argparse type for a whole number >= `least`, with a one-line error otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least:
            bound = "must not be negative" if least == 0 else f"must be at least {least}"
            raise argparse.ArgumentTypeError(bound)
        return value

    return parse
