"""LSTM layer with full backpropagation through time and sparsified dz.

Gate order i, f, g, o as in PyTorch; the math is docs/DESIGN.md "The math":
``z_t = W a_t + b`` with ``a_t = [x_t ; h_{t-1}]``. The backward pass thresholds
the linear gate gradients dz (``|dz| < tau`` -> 0) right after the elementwise
backward of each step, before dz feeds dW, db and da = W^T dz, so the
recurrence (dh_rec for step t-1) already sees the sparsified dz.
"""

from dataclasses import dataclass

import numpy as np

from .cell import CacheBase, RecurrentLayer, sigmoid
from .sparsify import sparsify
from .stats import BackwardStats

__all__ = ["LSTM", "LSTMCache"]


@dataclass
class LSTMCache(CacheBase):
    """The forward cache of docs/DESIGN.md, all arrays time-major (T, B, ...).

    ``x`` (T, B, I); ``h_prev`` (T, B, H) is h_{t-1}; ``c_prev`` (T, B, H) is c_{t-1};
    ``gates`` (T, B, 4H) holds i, f, g, o after their nonlinearity; ``tanh_c``
    (T, B, H) is tanh(c_t); ``c_last`` (B, H) is c_T.
    """

    x: np.ndarray
    h_prev: np.ndarray
    c_prev: np.ndarray
    gates: np.ndarray
    tanh_c: np.ndarray
    c_last: np.ndarray

    @property
    def h_last(self):
        """h_T, shape (B, H)."""
        H = self.h_prev.shape[2]
        return self.gates[-1, :, 3 * H:] * self.tanh_c[-1]


class LSTM(RecurrentLayer):
    """One LSTM layer: ``W`` (4H, I+H), ``b`` (4H,), rows in gate order i, f, g, o.

    Parameters
    ----------
    input_size, hidden_size : int
        I and H.
    seed : int
        Seed of the parameter initialisation.
    dtype : float64 (default) or float32
        Precision of parameters and computation.
    """

    GATES = ("i", "f", "g", "o")

    def forward(self, x, h0=None, c0=None):
        """Run the layer over ``x`` (T, B, I); return ``h`` (T, B, H) and the cache."""
        x, h, zx, Wh, hs, h_prev = self._begin(x, h0)
        T, B, _ = x.shape
        H = self.hidden_size
        c = self._check_state("c0", c0, B)
        c_prev = np.empty((T, B, H), self.dtype)
        gates = np.empty((T, B, 4 * H), self.dtype)
        tanh_c = np.empty((T, B, H), self.dtype)
        for t in range(T):
            h_prev[t], c_prev[t] = h, c
            z = zx[t] + h @ Wh.T
            act = gates[t]
            act[:, :2 * H] = sigmoid(z[:, :2 * H])
            act[:, 2 * H:3 * H] = np.tanh(z[:, 2 * H:3 * H])
            act[:, 3 * H:] = sigmoid(z[:, 3 * H:])
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            c = f * c + i * g
            tanh_c[t] = np.tanh(c)
            h = hs[t] = o * tanh_c[t]
        return hs, LSTMCache(x, h_prev, c_prev, gates, tanh_c, c)

    def backward(self, dh, cache, threshold=0.0, *, record=False, observe=None):
        """Backpropagate ``dh`` = dL/dh (T, B, H) through time.

        Uses the layer's current weights: call it before updating them.

        Parameters
        ----------
        dh : ndarray (T, B, H)
            Gradient of the loss w.r.t. every output h_t.
        cache : LSTMCache
            From :meth:`forward`.
        threshold : float
            tau: dz entries with ``|dz| < tau`` become zero (0 keeps all).
        record : bool
            Keep dz before and after thresholding in ``stats.dz_raw``/``stats.dz``.
        observe : callable, optional
            Called as ``observe(t, values)`` after each step with the step's
            intermediate gradients (``dh`` = dh_t + dh_rec, ``dc``, ``dz_raw``,
            ``dc_prev``), e.g. to measure their ranges.

        Returns
        -------
        grads : dict
            ``W``, ``b``, ``x`` (T, B, I), ``h0`` and ``c0`` (B, H).
        stats : BackwardStats
        """
        dh, tau, dz_raw, dz_all, Wh = self._begin_backward(dh, cache, LSTMCache, threshold)
        T, B, I = cache.x.shape
        H = self.hidden_size
        dh_rec = np.zeros((B, H), self.dtype)
        dc_next = np.zeros((B, H), self.dtype)
        for t in range(T - 1, -1, -1):
            act = cache.gates[t]
            i, f, g, o = act[:, :H], act[:, H:2 * H], act[:, 2 * H:3 * H], act[:, 3 * H:]
            tc = cache.tanh_c[t]
            dht = dh[t] + dh_rec
            do = dht * tc
            dc = dht * o * (1 - tc * tc) + dc_next
            dz = dz_raw[t]
            dz[:, :H] = dc * g * i * (1 - i)
            dz[:, H:2 * H] = dc * cache.c_prev[t] * f * (1 - f)
            dz[:, 2 * H:3 * H] = dc * i * (1 - g * g)
            dz[:, 3 * H:] = do * o * (1 - o)
            dc_next = dc * f
            dzs = dz_all[t]
            dzs[...] = dz
            sparsify(dzs, tau)
            dh_rec = dzs @ Wh
            if observe is not None:
                observe(t, {"dh": dht, "dc": dc, "dz_raw": dz, "dc_prev": dc_next, "dh_rec": dh_rec})
        flat = dz_all.reshape(T * B, 4 * H)
        grads = {
            "W": flat.T @ cache.a.reshape(T * B, I + H),
            "b": flat.sum(axis=0),
            "x": (flat @ self.W[:, :I]).reshape(T, B, I),
            "h0": dh_rec,
            "c0": dc_next,
        }
        stats = BackwardStats.from_pass(self.GATES, self.n_inputs, dz_raw, dz_all, tau, record=record)
        return grads, stats
