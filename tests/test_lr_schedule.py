"""The "anneal" learning-rate schedule's arithmetic (host/lr_schedule.py); the Keras callback
that runs it is tested in test_train.py."""

from __future__ import annotations

import itertools
import math

import pytest

from melodypair.host.lr_schedule import AnnealPlan, cosine_rate


def test_the_cosine_falls_from_just_under_the_peak_to_near_zero():
    rates = [cosine_rate(2e-3, e, 8) for e in range(8)]
    assert 0.98 * 2e-3 < rates[0] < 2e-3 and 0 < rates[-1] < 0.02 * 2e-3
    assert all(a > b for a, b in itertools.pairwise(rates))
    assert math.isclose(sum(rates) / 8, 1e-3, rel_tol=1e-9)  # symmetric about half the peak
    assert cosine_rate(1.0, 0, 1) == pytest.approx(0.5)


@pytest.mark.parametrize(("epoch", "length"), [(-1, 8), (8, 8), (0, 0)])
def test_the_cosine_refuses_an_epoch_outside_the_anneal(epoch, length):
    with pytest.raises(ValueError, match="epoch_in_anneal"):
        cosine_rate(1.0, epoch, length)


def test_the_anneal_takes_the_last_epochs_when_time_is_no_limit():
    plan = AnnealPlan(max_epochs=36, anneal_epochs=8)
    starts = [done for done in range(37) if plan.anneal_length(done, math.inf, 30.0) is not None]
    assert starts[0] == 28 and plan.anneal_length(28, math.inf, 30.0) == 8
    assert plan.anneal_length(0, 100.0, 0.0) is None  # no epoch timed yet: no budget estimate


def test_the_anneal_starts_early_and_shorter_when_the_budget_runs_out():
    plan = AnnealPlan(max_epochs=36, anneal_epochs=8)
    assert plan.anneal_length(10, 9 * 30.0 - 1, 30.0) == 8  # 8 epochs still fit: anneal now
    assert plan.anneal_length(10, 9 * 30.0 + 1, 30.0) is None  # 9 fit: one more constant
    assert plan.anneal_length(10, 5 * 30.0, 30.0) == 5  # a late start: the anneal shrinks ...
    assert plan.anneal_length(10, 0.0, 30.0) == 1  # ... to one epoch at the least
    assert plan.anneal_length(10, -5.0, 30.0) == 1


def test_a_training_shorter_than_the_anneal_anneals_throughout():
    assert AnnealPlan(max_epochs=3, anneal_epochs=8).anneal_length(0, math.inf, 0.0) == 3
    with pytest.raises(ValueError, match="positive"):
        AnnealPlan(max_epochs=0, anneal_epochs=8)
