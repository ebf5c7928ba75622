"""GRU layer with full backpropagation through time and sparsified dz.

Gate order r, z, n and equations as in PyTorch:

    r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
    z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
    h' = (1 - z) * n + z * h

``W`` (3H, I+H) is [W_i | W_h], ``b`` (3H,) the input bias and ``b_h`` (3H,)
the hidden bias (as PyTorch's b_ih and b_hh).

The linear gate gradients are the gradients w.r.t. the three pre-activations,
``dz = [dz_r, dz_z, dz_n]``; all three are computed exactly from the step's
elementwise backward, then thresholded together (``|dz| < tau`` -> 0). The
input half of the weights sees dz; the hidden half sees
``g = [dz_r, dz_z, r * dz_n]`` because of the reset gate, and g is zero wherever
dz is, so every zero dz still makes N = I + H backward-data and N
backward-weight MACs redundant.
"""

from dataclasses import dataclass

import numpy as np

from .cell import CacheBase, RecurrentLayer, sigmoid
from .sparsify import sparsify
from .stats import BackwardStats

__all__ = ["GRU", "GRUCache"]


@dataclass
class GRUCache(CacheBase):
    """The GRU forward cache, time-major: ``x`` (T, B, I), ``h_prev`` (T, B, H),
    ``gates`` (T, B, 3H) holding r, z, n after their nonlinearity, ``hn``
    (T, B, H) holding W_hn h_{t-1} + b_hn, and ``h_last`` (B, H)."""

    x: np.ndarray
    h_prev: np.ndarray
    gates: np.ndarray
    hn: np.ndarray
    h_last: np.ndarray


class GRU(RecurrentLayer):
    """One GRU layer: ``W`` (3H, I+H), ``b`` and ``b_h`` (3H,), gate order r, z, n.

    Parameters as :class:`golden_model.LSTM`.
    """

    GATES = ("r", "z", "n")
    PARAMS = ("W", "b", "b_h")

    def forward(self, x, h0=None):
        """Run the layer over ``x`` (T, B, I); return ``h`` (T, B, H) and the cache."""
        x, h, gx, Wh, hs, h_prev = self._begin(x, h0)
        T, B, _ = x.shape
        H = self.hidden_size
        gates = np.empty((T, B, 3 * H), self.dtype)
        hn = np.empty((T, B, H), self.dtype)
        for t in range(T):
            h_prev[t] = h
            gh = h @ Wh.T + self.b_h
            act = gates[t]
            act[:, :2 * H] = sigmoid(gx[t, :, :2 * H] + gh[:, :2 * H])
            r, z = act[:, :H], act[:, H:2 * H]
            hn[t] = gh[:, 2 * H:]
            n = act[:, 2 * H:] = np.tanh(gx[t, :, 2 * H:] + r * hn[t])
            h = hs[t] = (1 - z) * n + z * h
        return hs, GRUCache(x, h_prev, gates, hn, h)

    def backward(self, dh, cache, threshold=0.0, *, record=False):
        """Backpropagate ``dh`` (T, B, H) through time; see :meth:`LSTM.backward`.

        Returns ``grads`` with ``W``, ``b``, ``b_h``, ``x`` and ``h0``, and the statistics.
        """
        dh, tau, dz_raw, dz_all, Wh = self._begin_backward(dh, cache, GRUCache, threshold)
        T, B, I = cache.x.shape
        H = self.hidden_size
        g_all = np.empty_like(dz_all)
        dh_rec = np.zeros((B, H), self.dtype)
        for t in range(T - 1, -1, -1):
            act = cache.gates[t]
            r, z, n = act[:, :H], act[:, H:2 * H], act[:, 2 * H:]
            dht = dh[t] + dh_rec
            dz = dz_raw[t]
            dz_n = dz[:, 2 * H:]
            dz_n[...] = dht * (1 - z) * (1 - n * n)
            dz[:, :H] = dz_n * cache.hn[t] * r * (1 - r)
            dz[:, H:2 * H] = dht * (cache.h_prev[t] - n) * z * (1 - z)
            dzs = dz_all[t]
            dzs[...] = dz
            sparsify(dzs, tau)
            g = g_all[t]
            g[:, :2 * H] = dzs[:, :2 * H]
            g[:, 2 * H:] = dzs[:, 2 * H:] * r
            dh_rec = dht * z + g @ Wh
        flat = dz_all.reshape(T * B, 3 * H)
        gflat = g_all.reshape(T * B, 3 * H)
        dW = np.empty_like(self.W)
        dW[:, :I] = flat.T @ cache.x.reshape(T * B, I)
        dW[:, I:] = gflat.T @ cache.h_prev.reshape(T * B, H)
        grads = {
            "W": dW,
            "b": flat.sum(axis=0),
            "b_h": gflat.sum(axis=0),
            "x": (flat @ self.W[:, :I]).reshape(T, B, I),
            "h0": dh_rec,
        }
        stats = BackwardStats.from_pass(self.GATES, self.n_inputs, dz_raw, dz_all, tau, record=record)
        return grads, stats
