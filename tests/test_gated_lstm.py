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
    layer = cls(8, l2=1e-3, seed=4, cell_limit=3.0, name="lstm")
    clone = cls.from_config(layer.get_config())
    assert (clone.units, clone.l2, clone.seed, clone.cell_limit, clone.name) == (
        8,
        1e-3,
        4,
        3.0,
        "lstm",
    )


def test_quant_noise_is_off_at_inference_and_one_int8_step_at_most_while_training():
    from melodypair.host.model import _quant_noise_class, set_quant_noise

    x = np.linspace(-2.0, 3.0, 400, dtype=np.float32).reshape(4, 100)
    layer = _quant_noise_class()(seed=0)
    np.testing.assert_array_equal(layer(x, training=True), x)  # not switched on
    model = keras.Sequential([keras.Input((100,)), layer])
    assert set_quant_noise(model, True) == 1
    np.testing.assert_array_equal(layer(x, training=False), x)
    noisy = np.asarray(layer(x, training=True))
    half_step = (x.max() - x.min()) / 255 / 2
    assert 0 < np.abs(noisy - x).max() <= half_step * 1.0001
    assert np.abs(noisy - x).mean() > half_step / 4  # uniform noise, not a few stray values


def test_gated_lstm_noise_changes_training_outputs_only():
    from melodypair.host.model import set_quant_noise

    x = np.random.default_rng(1).standard_normal((8, 4, 6)).astype(np.float32)
    gated = _gated_lstm_class()(5, seed=0)
    clean = np.asarray(gated(x))
    model = keras.Sequential([keras.Input((4, 6)), gated])
    set_quant_noise(model, True)
    np.testing.assert_array_equal(gated(x, training=False), clean)
    noisy = np.asarray(gated(x, training=True))
    assert 0 < np.abs(noisy - clean).max() < 0.1


def test_cell_limit_adds_a_training_penalty_for_large_cell_states_only():
    x = np.random.default_rng(2).normal(0.0, 3.0, (16, 4, 6)).astype(np.float32)
    loose = _gated_lstm_class()(5, seed=0, cell_limit=0.05)
    loose(x, training=True)
    assert len(loose.losses) == 1 and float(loose.losses[0]) > 0
    loose(x, training=False)
    assert not loose.losses  # inference pays nothing
    roomy = _gated_lstm_class()(5, seed=0, cell_limit=100.0)
    roomy(x, training=True)
    assert float(roomy.losses[0]) == 0.0  # |c| <= steps, far under the limit


def test_quant_noise_limit_penalizes_values_beyond_it_in_training_only():
    from melodypair.host.model import _quant_noise_class

    x = np.array([[-7.0, -1.0, 0.0, 2.0, 9.0]], dtype=np.float32)
    layer = _quant_noise_class()(seed=0, limit=6.0)
    np.testing.assert_array_equal(layer(x, training=True), x)  # still the identity
    assert len(layer.losses) == 1
    assert float(layer.losses[0]) == pytest.approx((1.0**2 + 3.0**2) / 5)
    layer(x, training=False)
    assert not layer.losses
    clone = _quant_noise_class().from_config(layer.get_config())
    assert (clone.seed, clone.limit) == (0, 6.0)
