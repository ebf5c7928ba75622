"""The public API names the argument and the shapes when it is given bad input."""

import numpy as np
import pytest

from golden_model import GRU, LSTM, ConfigError, ShapeError, ZskipError
from golden_model.heads import Head
from golden_model.optim import make_optimizer
from golden_model.train import TrainConfig


@pytest.mark.parametrize("kwargs, words", [
    (dict(input_size=0, hidden_size=4), "input_size must be an integer >= 1, not 0"),
    (dict(input_size=3, hidden_size=-2), "hidden_size must be an integer >= 1, not -2"),
    (dict(input_size=3.5, hidden_size=4), "input_size must be an integer"),
    (dict(input_size=True, hidden_size=4), "input_size must be an integer"),
    (dict(input_size=3, hidden_size=4, dtype=np.int32), "dtype must be float32 or float64"),
    (dict(input_size=3, hidden_size=4, dtype="float16"), "dtype must be float32 or float64"),
])
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_invalid_sizes(cls, kwargs, words):
    with pytest.raises(ConfigError) as e:
        cls(**kwargs)
    assert words in str(e.value)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_forward_shape_errors(cls):
    m = cls(3, 4)
    with pytest.raises(ShapeError, match=r"x must have shape \(\?, \?, 3\), got \(5, 2\)"):
        m.forward(np.zeros((5, 2)))
    with pytest.raises(ShapeError, match=r"x must have shape \(\?, \?, 3\), got \(5, 2, 4\)"):
        m.forward(np.zeros((5, 2, 4)))
    with pytest.raises(ShapeError, match=r"h0 must have shape \(2, 4\), got \(3, 4\)"):
        m.forward(np.zeros((5, 2, 3)), h0=np.zeros((3, 4)))
    with pytest.raises(ShapeError, match="at least one step"):
        m.forward(np.zeros((0, 2, 3)))
    with pytest.raises(ShapeError, match="x must hold real numbers, not dtype <U1"):
        m.forward(np.full((5, 2, 3), "a"))


def test_lstm_c0_shape_error():
    with pytest.raises(ShapeError, match=r"c0 must have shape \(2, 4\), got \(2, 5\)"):
        LSTM(3, 4).forward(np.zeros((5, 2, 3)), c0=np.zeros((2, 5)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_non_finite_inputs(cls, bad):
    m = cls(3, 4)
    x = np.zeros((5, 2, 3))
    x[2, 1, 0] = bad
    with pytest.raises(ShapeError, match=r"x holds a non-finite value .* at index \(2, 1, 0\)"):
        m.forward(x)
    h, cache = m.forward(np.zeros((5, 2, 3)))
    dh = np.zeros_like(h)
    dh[4, 0, 3] = bad
    with pytest.raises(ShapeError, match=r"dh holds a non-finite value .* at index \(4, 0, 3\)"):
        m.backward(dh, cache)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_backward_argument_errors(cls):
    m = cls(3, 4)
    h, cache = m.forward(np.zeros((5, 2, 3)))
    with pytest.raises(ShapeError, match=r"dh must have shape \(5, 2, 4\), got \(5, 4\)"):
        m.backward(np.zeros((5, 4)), cache)
    with pytest.raises(ConfigError, match="threshold must be >= 0.0, not -0.1"):
        m.backward(h, cache, threshold=-0.1)
    with pytest.raises(ConfigError, match="threshold must be finite"):
        m.backward(h, cache, threshold=float("nan"))
    with pytest.raises(ConfigError, match="threshold must be a real number"):
        m.backward(h, cache, threshold="1e-3")
    with pytest.raises(TypeError, match="cache must be the .*Cache that .*forward returned, not dict"):
        m.backward(h, {})
    other = (GRU if cls is LSTM else LSTM)(3, 4)
    with pytest.raises(TypeError, match="cache must be"):
        m.backward(h, other.forward(np.zeros((5, 2, 3)))[1])


def test_errors_are_zskip_errors_and_value_errors():
    with pytest.raises(ValueError):
        LSTM(0, 1)
    with pytest.raises(ZskipError):
        LSTM(1, 1).forward(np.zeros((1, 1, 2)))


@pytest.mark.parametrize("changes, words", [
    (dict(cell="rnn"), "unknown cell 'rnn'"), (dict(hidden=0), "hidden must be an integer >= 1, not 0"),
    (dict(epochs=-1), "epochs must be"), (dict(batch_size=0), "batch_size must be"),
    (dict(threshold="static:-1"), ">= 0"), (dict(optimizer="rmsprop"), "unknown optimizer"),
    (dict(lr=-1.0), "learning rate must be a positive number"), (dict(lr=float("nan")), "learning rate"),
    (dict(clip=-1.0), "clip must be"), (dict(limit=0), "limit must be"), (dict(seed=-3), "seed must be"),
    (dict(dtype="float16"), "dtype must be"), (dict(momentum=1.5, optimizer="momentum"), "momentum must be"),
])
def test_invalid_training_config(changes, words):
    with pytest.raises(ConfigError) as e:
        TrainConfig(**changes).validate()
    assert words in str(e.value)


def test_unknown_training_option():
    with pytest.raises(ConfigError, match="unknown training option"):
        TrainConfig.from_dict({"hiden": 3})


def test_head_and_optimizer_errors():
    with pytest.raises(ConfigError, match="head kind"):
        Head(4, 2, kind="softmax")
    with pytest.raises(ConfigError, match="n_outputs must be"):
        Head(4, 0)
    with pytest.raises(ConfigError, match="unknown optimizer"):
        make_optimizer("lbfgs")
