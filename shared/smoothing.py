"""Posterior smoothing: window posteriors -> note segments, by a streaming fixed-lag Viterbi HMM.

States: one silence state, and for every note a chain of `min_note_windows` states (so a note
lasts at least that many windows), the last of which loops. A note can follow silence or another
note, but never itself without silence in between: two notes of the same pitch need a heard gap,
which is what a re-attack in a rest looks like to the model.

Streaming: each window's decision is committed `lag_windows` windows later; paths that disagree
with a committed state are pruned, so the committed sequence is always a valid path of the HMM
and the result does not depend on how the input was chunked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SmoothingParams:
    """Per-window transition probabilities and the minimum note length, tuned on training data."""

    min_note_windows: int = 3
    p_note_on: float = 0.05  # silence -> some note
    p_note_off: float = 0.15  # note -> silence
    p_note_change: float = 0.02  # note -> another note without silence
    posterior_floor: float = 1e-4
    # The silence posterior is multiplied by this before decoding. The model marks the short
    # rest between two equal notes only faintly (silence 0.3-0.6 against ~0.05 inside a note);
    # a weight above 1 lets that faint gap split the notes. Tuned with the rest. Giving each
    # note a re-attack gap state of its own, with its own weight, so that silence proper could
    # be weighted less (weak notes in rooms lose to silence): the 2500-recording model's tuning
    # recordings made 198 note errors with the tuned smoothing, 210 at best with gap states
    # (180 settings), 226 at best with silence weighted under 3.
    silence_weight: float = 1.0
    lag_windows: int = 10  # 200 ms: decisions wait this long for later evidence

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Segment:
    """A run of windows decoded as one note: class index, first and last window, confidence."""

    note: int
    first_window: int
    last_window: int
    confidence: float


class NoteSmoother:
    """Streaming HMM smoother: process(posteriors [n, n_notes + 1]) -> finished segments."""

    def __init__(self, n_notes: int, params: SmoothingParams = SmoothingParams()):
        self.n_notes = n_notes
        self.params = params
        k = params.min_note_windows
        self._k = k
        n_states = 1 + n_notes * k
        self._state_class = np.concatenate([[n_notes], np.repeat(np.arange(n_notes), k)])
        self._log_trans = self._transitions(n_notes, k, params, n_states)
        self.reset()

    @staticmethod
    def _transitions(n: int, k: int, p: SmoothingParams, n_states: int) -> np.ndarray:
        """log A[i, j] from state i to j; state 0 is silence, 1 + c*k + m is note c, step m."""
        a = np.zeros((n_states, n_states))
        first = 1 + np.arange(n) * k
        last = first + k - 1
        a[0, 0] = 1.0 - p.p_note_on
        a[0, first] = p.p_note_on / n
        for c in range(n):
            for m in range(k - 1):
                a[first[c] + m, first[c] + m + 1] = 1.0
            a[last[c], last[c]] = 1.0 - p.p_note_off - p.p_note_change
            a[last[c], 0] = p.p_note_off
            others = first[np.arange(n) != c]
            a[last[c], others] = p.p_note_change / max(n - 1, 1)
        with np.errstate(divide="ignore"):
            return np.log(a)

    def reset(self) -> None:
        n_states = self._log_trans.shape[0]
        self._delta = np.full(n_states, -np.inf)
        self._delta[0] = 0.0  # streams start in silence
        self._paths = np.zeros((n_states, 0), dtype=np.int32)  # last `lag` states of each survivor
        self._path_post = np.zeros((n_states, 0))  # the posterior of each path state's class
        self._t = 0  # windows seen
        self._committed = 0  # windows decided
        self._prev_state = 0
        self._open: list | None = None  # [note, first_window, sum_conf, n] of the running note

    @property
    def open_note(self) -> Segment | None:
        """The note whose onset is decided but whose end is not yet (last_window = decided so
        far): a melody's last note is known this early, which keeps pairing latency low."""
        if self._open is None:
            return None
        note, first, total, count = self._open
        return Segment(note, first, self._committed - 1, total / max(count, 1))

    @property
    def committed_windows(self) -> int:
        """How many windows have been decided (the rest may still change)."""
        return self._committed

    def process(self, posteriors: np.ndarray) -> list[Segment]:
        """Feed window posteriors (rows sum to 1); return the notes whose end got decided."""
        out: list[Segment] = []
        post = np.asarray(posteriors, dtype=np.float64).reshape(-1, self.n_notes + 1)
        log_b = np.log(np.maximum(post, self.params.posterior_floor))
        log_b[:, self.n_notes] += np.log(self.params.silence_weight)
        for row, lb in zip(post, log_b, strict=True):
            scores = self._delta[:, None] + self._log_trans
            best_prev = np.argmax(scores, axis=0)
            emit = lb[self._state_class]
            self._delta = scores[best_prev, np.arange(scores.shape[1])] + emit
            self._delta -= np.max(self._delta)
            self._paths = np.concatenate(
                [self._paths[best_prev], np.arange(len(best_prev), dtype=np.int32)[:, None]], 1
            )
            self._path_post = np.concatenate(
                [self._path_post[best_prev], row[self._state_class][:, None]], 1
            )
            self._t += 1
            if self._paths.shape[1] > self.params.lag_windows:
                out.extend(self._commit_oldest())
        return out

    def flush(self) -> list[Segment]:
        """End of stream: decide every pending window along the best path, close the last note."""
        out: list[Segment] = []
        while self._paths.shape[1]:
            out.extend(self._commit_oldest())
        if self._open is not None:
            out.append(self._close(self._committed - 1))
        return out

    def _commit_oldest(self) -> list[Segment]:
        best = int(np.argmax(self._delta))
        state = int(self._paths[best, 0])
        conf = float(self._path_post[best, 0])
        survivors = self._paths[:, 0] == state
        self._delta[~survivors] = -np.inf
        self._paths = self._paths[:, 1:]
        self._path_post = self._path_post[:, 1:]
        window = self._committed
        self._committed += 1
        out = []
        is_onset = state != 0 and (state - 1) % self._k == 0 and self._prev_state != state
        if (state == 0 or is_onset) and self._open is not None:
            out.append(self._close(window - 1))
        if is_onset:
            self._open = [int(self._state_class[state]), window, 0.0, 0]
        if self._open is not None:
            self._open[2] += conf
            self._open[3] += 1
        self._prev_state = state
        return out

    def _close(self, last_window: int) -> Segment:
        note, first, total, count = self._open
        self._open = None
        return Segment(note, first, last_window, total / max(count, 1))
