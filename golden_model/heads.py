"""Output heads on top of the recurrent layer: a linear layer and its loss.

``classify`` uses softmax cross-entropy, ``regress`` mean squared error; with
``per_step`` the head reads every h_t, otherwise only the last one. The loss
is a mean over the predicted positions (and output dimensions for
regression), so gradient magnitudes, and hence a static tau, do not depend on
the batch size.
"""

import numpy as np

from .checks import check_size
from .errors import ConfigError

__all__ = ["Head"]


class Head:
    """Linear read-out ``y = V h + c`` with a loss.

    Parameters
    ----------
    hidden_size, n_outputs : int
    kind : "classify" or "regress"
    per_step : bool
        Read every step (sequence labelling, language models) or only the last.
    seed : int
    dtype : numpy float dtype
    """

    PARAMS = ("V", "c")

    def __init__(self, hidden_size, n_outputs, kind="classify", per_step=False, seed=0, dtype=np.float64):
        if kind not in ("classify", "regress"):
            raise ConfigError(f"head kind must be 'classify' or 'regress', not {kind!r}")
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.n_outputs = check_size("n_outputs", n_outputs)
        self.kind, self.per_step, self.dtype = kind, bool(per_step), np.dtype(dtype)
        k = 1.0 / np.sqrt(hidden_size)
        rng = np.random.default_rng([seed, 1])
        self.V = rng.uniform(-k, k, (n_outputs, hidden_size)).astype(self.dtype)
        self.c = rng.uniform(-k, k, (n_outputs,)).astype(self.dtype)

    @property
    def params(self):
        return {"V": self.V, "c": self.c}

    def _read(self, h):
        return h if self.per_step else h[-1:]

    def macs(self, h_shape):
        """MACs of one forward and backward pass (forward, dV, dh) over ``h_shape`` (T, B, H)."""
        T, B, H = h_shape
        return 3 * (T if self.per_step else 1) * B * H * self.n_outputs

    def evaluate(self, h, y):
        """Return (loss_sum, correct, count) for ``h`` (T, B, H); ``correct`` is 0 for regression."""
        loss_sum, correct, count, _ = self._loss(h, y, need_grad=False)
        return loss_sum, correct, count

    def loss_and_grad(self, h, y):
        """Mean loss, the gradients of V and c, dL/dh (T, B, H), and (loss_sum, correct, count)."""
        loss_sum, correct, count, (dlogits, hr) = self._loss(h, y, need_grad=True)
        dflat = dlogits.reshape(-1, self.n_outputs)
        hflat = hr.reshape(-1, self.hidden_size)
        grads = {"V": dflat.T @ hflat, "c": dflat.sum(axis=0)}
        dh = np.zeros_like(h)
        dh_read = (dflat @ self.V).reshape(hr.shape)
        if self.per_step:
            dh[...] = dh_read
        else:
            dh[-1] = dh_read[0]
        return loss_sum / count, grads, dh, (loss_sum, correct, count)

    def _loss(self, h, y, need_grad):
        hr = self._read(h)                                        # (T', B, H)
        logits = hr @ self.V.T + self.c                           # (T', B, C)
        if self.kind == "classify":
            labels = np.asarray(y).reshape(logits.shape[:2])
            m = logits.max(axis=-1, keepdims=True)
            e = np.exp(logits - m)
            s = e.sum(axis=-1, keepdims=True)
            logp_true = np.take_along_axis(logits - m, labels[..., None], -1)[..., 0] - np.log(s[..., 0])
            count = labels.size
            loss_sum = float(-logp_true.sum())
            correct = int((logits.argmax(-1) == labels).sum())
            if not need_grad:
                return loss_sum, correct, count, None
            d = e / s
            np.put_along_axis(d, labels[..., None], np.take_along_axis(d, labels[..., None], -1) - 1, -1)
            return loss_sum, correct, count, (d / count, hr)
        target = np.asarray(y, dtype=self.dtype).reshape(logits.shape)
        diff = logits - target
        count = diff.size
        loss_sum = float((diff * diff).sum())
        if not need_grad:
            return loss_sum, 0, count, None
        return loss_sum, 0, count, (2 * diff / count, hr)
