"""Whole-number argument types: the value, or a one-line reason argparse shows the user."""

import argparse

import pytest

from melodypair.shared.cli_types import whole_number


def test_accepts_numbers_at_or_above_the_bound():
    assert whole_number(0)("0") == 0
    assert whole_number(1)("12") == 12


@pytest.mark.parametrize(
    ("least", "text", "reason"),
    [
        (0, "-1", "must not be negative"),
        (1, "0", "must be at least 1"),
        (1, "two", "'two' is not a whole number"),
        (0, "1.5", "'1.5' is not a whole number"),
    ],
)
def test_refuses_with_a_reason(least, text, reason):
    with pytest.raises(argparse.ArgumentTypeError, match=reason):
        whole_number(least)(text)
