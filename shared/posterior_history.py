"""The model's recent window posteriors, so the melody finder can ask what was heard on a beat.

The smoother turns posteriors into notes and drops what it is unsure of. When the melody finder
finds a beat of the pairing rhythm with no note on it, the posteriors of that beat still say which
note was most likely played: a better guess than nothing (an erasure), which the melody code then
checks. Memory is bounded: only the last `capacity_windows` windows are kept.
"""

from __future__ import annotations

import numpy as np

MIN_MEAN_POSTERIOR = 0.05  # below this, the beat holds no note worth guessing


class PosteriorHistory:
    """Ring of the last window posteriors; window w is centred on first_centre + w * step."""

    def __init__(
        self,
        n_notes: int,
        capacity_windows: int,
        first_centre_sample: int,
        step_samples: int,
    ):
        self.n_notes = n_notes
        self.capacity_windows = capacity_windows
        self.first_centre_sample = first_centre_sample
        self.step_samples = step_samples
        self.reset()

    def reset(self) -> None:
        self._ring = np.zeros((self.capacity_windows, self.n_notes + 1), dtype=np.float32)
        self._seen = 0  # windows received; window w sits in row w % capacity while kept

    def process(self, posteriors: np.ndarray) -> None:
        """Store posteriors of the next windows over the oldest (no allocation per call)."""
        rows = np.asarray(posteriors, np.float32)[-self.capacity_windows :]
        skipped = len(posteriors) - len(rows)
        at = (self._seen + skipped + np.arange(len(rows))) % self.capacity_windows
        self._ring[at] = rows
        self._seen += len(posteriors)

    def reading(self, start_sample: float, end_sample: float) -> tuple[int | None, float]:
        """The note with the most posterior over windows centred in [start, end), and how sure
        the model is of it (its mean posterior minus the runner-up's). (None, 0) when no note
        reaches a mean posterior of MIN_MEAN_POSTERIOR there, or those windows are not (or no
        longer) known."""
        rows = self._rows(start_sample, end_sample)
        if not len(rows):
            return None, 0.0
        mass = rows[:, : self.n_notes].mean(axis=0)
        runner_up, best = np.argsort(mass)[-2:]
        if mass[best] < MIN_MEAN_POSTERIOR:
            return None, 0.0
        return int(best), float(mass[best] - mass[runner_up])

    def heard(self, note: int, start_sample: float, end_sample: float) -> float | None:
        """The model's mean posterior of `note` over windows centred in [start, end) if it
        named that note (its top class, silence included) in at least one of them, else None:
        a note the smoother dropped, but which the model itself heard there."""
        rows = self._rows(start_sample, end_sample)
        if not len(rows) or not np.any(rows.argmax(axis=1) == note):
            return None
        return float(rows[:, note].mean())

    def _rows(self, start_sample: float, end_sample: float) -> np.ndarray:
        """The kept posteriors of the windows centred in [start, end) (possibly none)."""
        lo = int(np.ceil((start_sample - self.first_centre_sample) / self.step_samples))
        hi = int(np.ceil((end_sample - self.first_centre_sample) / self.step_samples))
        lo, hi = max(lo, self._seen - self.capacity_windows, 0), min(hi, self._seen)
        if hi <= lo:
            return self._ring[:0]
        return self._ring[np.arange(lo, hi) % self.capacity_windows]
