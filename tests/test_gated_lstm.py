"""The hand-unrolled GatedLSTM computes exactly what keras.layers.LSTM computes."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from melodypair.host.model import _gated_lstm_class  # noqa: E402


def test_same_outputs_as_keras_lstm_with_the_same_weights():
    units, steps, width = 6, 5, 7
    x = np.random.default_rng(0).standard_normal((4, steps, width)).astype(np.float32)
    reference = keras.layers.LSTM(units)
    expected = reference(x)
    kernel, recurrent, bias = reference.get_weights()  # gate order in Keras: i, f, c, o
    gated = _gated_lstm_class()(units)
    gated(x)
    for k, gate in enumerate(gated.gates):
        cols = slice(k * units, (k + 1) * units)
        gate.set_weights([np.concatenate([kernel[:, cols], recurrent[:, cols]]), bias[cols]])
    np.testing.assert_allclose(gated(x), expected, rtol=1e-5, atol=1e-6)


def test_config_round_trip():
    cls = _gated_lstm_class()
    layer = cls(8, l2=1e-3, name="lstm")
    clone = cls.from_config(layer.get_config())
    assert (clone.units, clone.l2, clone.name) == (8, 1e-3, "lstm")
