"""The model's dynamic-range floor: everything further below a window's loudest value than the
configured range reads as one flat floor, per window, and the layer survives save and load."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from melodypair.host.model import (  # noqa: E402
    ModelConfig,
    _dynamic_range_class,
    load_float_model,
    model_from_config,
    save_float_model,
)
from melodypair.shared.errors import UsageError  # noqa: E402


def test_values_further_below_the_window_maximum_than_the_range_are_raised_to_it():
    windows = np.full((2, 3, 4), -9.0, dtype=np.float32)
    windows[0, 1, 2] = -2.0  # loudest of window 0: its floor is -2 - 2 = -4
    windows[0, 0, 0] = -3.5  # within the range: kept
    windows[1, 2, 3] = -6.0  # loudest of window 1: its floor is -8
    out = np.asarray(_dynamic_range_class()(2.0)(windows))
    expected = windows.copy()
    expected[0][expected[0] < -4.0] = -4.0
    expected[1][expected[1] < -8.0] = -8.0
    np.testing.assert_array_equal(out, expected)
    assert out[0, 0, 0] == -3.5 and out[0, 2, 2] == -4.0 and out[1, 0, 0] == -8.0


def test_the_floor_is_in_the_model_by_default_and_absent_at_zero():
    names = [layer.name for layer in model_from_config(ModelConfig(), 64, 17).layers]
    assert names[1] == "dynamic_range"
    plain = model_from_config(ModelConfig(dynamic_range_db=0.0), 64, 17)
    assert "dynamic_range" not in [layer.name for layer in plain.layers]


def test_a_saved_model_loads_with_its_range(tmp_path):
    config = ModelConfig(dynamic_range_db=15.0)
    model = model_from_config(config, 64, 17)
    save_float_model(tmp_path, model)
    loaded = load_float_model(tmp_path, config)
    assert loaded.get_layer("dynamic_range").range_log10 == 1.5
    x = np.random.default_rng(0).normal(-5.0, 2.0, (3, 32, 64)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_negative_range_is_refused():
    with pytest.raises(UsageError, match="dynamic_range_db"):
        ModelConfig(dynamic_range_db=-1.0)
