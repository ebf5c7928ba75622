"""What the LSTM and GRU layers share: parameters, initialisation and argument checks."""

import numpy as np

from .checks import check_array, check_dtype, check_finite_scalar, check_size
from .errors import ShapeError

__all__ = ["RecurrentLayer", "CacheBase", "sigmoid"]


def sigmoid(z):
    """Logistic function 1 / (1 + exp(-z)), without overflow and with full relative precision
    in both tails (saturated gates keep their tiny derivative instead of becoming exactly 0)."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class RecurrentLayer:
    """Base of one recurrent layer with ``len(GATES)`` gates of ``hidden_size`` rows each.

    W has shape (G*H, I+H): the columns are [input | hidden], the rows are the
    gates in ``GATES`` order. Initialisation follows PyTorch: every parameter
    uniform in [-1/sqrt(H), 1/sqrt(H)], from a seeded generator.
    """

    GATES = ()
    #: Names of the parameters (attributes), in the order they are created.
    PARAMS = ("W", "b")

    def __init__(self, input_size, hidden_size, seed=0, dtype=np.float64):
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        G, H, N = len(self.GATES), self.hidden_size, self.input_size + self.hidden_size
        k = 1.0 / np.sqrt(H)
        shapes = {"W": (G * H, N), "b": (G * H,), "b_h": (G * H,)}
        for name in self.PARAMS:
            setattr(self, name, rng.uniform(-k, k, shapes[name]).astype(self.dtype))

    @property
    def n_inputs(self):
        """N = I + H, the length of a_t = [x_t ; h_{t-1}]: the columns of W."""
        return self.W.shape[1]

    @property
    def params(self):
        """The parameters by name (the arrays themselves: updating them updates the layer)."""
        return {name: getattr(self, name) for name in self.PARAMS}

    def _check_x(self, x):
        x = check_array("x", x, (None, None, self.input_size), self.dtype).copy()  # the cache owns it
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ShapeError(f"x must have at least one step and one sequence, got shape {x.shape}")
        return x

    def _begin(self, x, h0):
        """The start of ``forward``: ``x`` checked, the initial h, the input's share of every step's
        pre-activation (T, B, G*H) and the recurrent weights; and h_t and h_{t-1} of every step, to fill."""
        x = self._check_x(x)
        T, B, I = x.shape
        h = self._check_state("h0", h0, B)
        pre = (x.reshape(T * B, I) @ self.W[:, :I].T + self.b).reshape(T, B, len(self.GATES) * self.hidden_size)
        hs, h_prev = (np.empty((T, B, self.hidden_size), self.dtype) for _ in range(2))
        return x, h, pre, self.W[:, I:], hs, h_prev

    def _check_state(self, name, s, B):
        if s is None:
            return np.zeros((B, self.hidden_size), self.dtype)
        return check_array(name, s, (B, self.hidden_size), self.dtype).copy()

    def _begin_backward(self, dh, cache, cache_type, threshold):
        """The start of ``backward``: ``dh`` and the threshold checked against the ``cache``; dz before and
        after the threshold (T, B, G*H), to fill; the recurrent weights."""
        if not isinstance(cache, cache_type):
            raise TypeError(f"cache must be the {cache_type.__name__} that {type(self).__name__}.forward "
                             f"returned, not {type(cache).__name__}")
        T, B = cache.x.shape[:2]
        dh = check_array("dh", dh, (T, B, self.hidden_size), self.dtype)
        tau = check_finite_scalar("threshold", threshold, minimum=0.0)
        dz_raw, dz = (np.empty((T, B, len(self.GATES) * self.hidden_size), self.dtype) for _ in range(2))
        return dh, self.dtype.type(tau), dz_raw, dz, self.W[:, self.input_size:]


class CacheBase:
    """What the LSTM and GRU caches share: ``x`` and ``h_prev`` give a_t."""

    @property
    def a(self):
        """a_t = [x_t ; h_{t-1}], shape (T, B, I+H)."""
        return np.concatenate([self.x, self.h_prev], axis=2)
