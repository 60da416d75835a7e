"""The "anneal" learning-rate schedule: a constant rate, then one cosine anneal to near zero.

The anneal takes the last `anneal_epochs` of `max_epochs`, or starts earlier when the time
budget would not fit the remaining epochs, so a training cut short by its budget still ends
annealed. Pure functions and a small planner here; `host/train.py` wraps them in a Keras
callback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def cosine_rate(peak: float, epoch_in_anneal: int, anneal_epochs: int) -> float:
    """The rate for one epoch of an anneal of `anneal_epochs` epochs: the half-cosine from `peak`
    to 0 read at the epoch's middle (the first epoch just under `peak`, the last near 0)."""
    if anneal_epochs < 1 or not 0 <= epoch_in_anneal < anneal_epochs:
        raise ValueError("need 0 <= epoch_in_anneal < anneal_epochs")
    fraction = (epoch_in_anneal + 0.5) / anneal_epochs
    return peak * 0.5 * (1.0 + math.cos(math.pi * fraction))


@dataclass(frozen=True)
class AnnealPlan:
    """When the constant phase ends and how long the anneal lasts."""

    max_epochs: int
    anneal_epochs: int

    def __post_init__(self) -> None:
        if self.max_epochs < 1 or self.anneal_epochs < 1:
            raise ValueError("max_epochs and anneal_epochs must be positive")

    def anneal_length(
        self, epochs_done: int, seconds_left: float, seconds_per_epoch: float
    ) -> int | None:
        """After `epochs_done` epochs at the constant rate: how many epochs the anneal takes if
        it must start now (at least 1), or None to stay constant. It starts when the epochs
        left, under `max_epochs` and under the budget at `seconds_per_epoch` (0 = unknown: no
        limit), are no more than `anneal_epochs`."""
        room = self.max_epochs - epochs_done
        if seconds_per_epoch > 0 and seconds_left < room * seconds_per_epoch:
            room = math.floor(max(seconds_left, 0.0) / seconds_per_epoch)
        return max(1, room) if room <= self.anneal_epochs else None
