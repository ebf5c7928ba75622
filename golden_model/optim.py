"""Optimisers and gradient clipping for the golden model's training loop."""

import math

import numpy as np

from .errors import ConfigError

__all__ = ["OPTIMIZERS", "make_optimizer", "clip_grad_norm", "SGD", "Adam"]


def clip_grad_norm(grads, max_norm):
    """Scale all ``grads`` in place so that their global L2 norm is at most ``max_norm``.

    Returns the norm before clipping. ``max_norm`` of 0 or None disables clipping.
    """
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
    if max_norm and norm > max_norm:
        scale = max_norm / norm
        for g in grads.values():
            g *= scale
    return norm


class SGD:
    """Stochastic gradient descent, with optional (heavy-ball) momentum."""

    def __init__(self, lr, momentum=0.0):
        self.lr, self.momentum = lr, momentum
        self._v = {}

    def step(self, params, grads):
        for name, p in params.items():
            g = grads[name]
            if self.momentum:
                v = self._v.get(name)
                v = self._v[name] = g.copy() if v is None else self.momentum * v + g
                g = v
            p -= self.lr * g


class Adam:
    """Adam (Kingma and Ba, 2015) with bias correction."""

    def __init__(self, lr, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self._m, self._v, self._t = {}, {}, 0

    def step(self, params, grads):
        self._t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1 ** self._t, 1 - b2 ** self._t
        for name, p in params.items():
            g = grads[name]
            m = self._m[name] = b1 * self._m.get(name, 0) + (1 - b1) * g
            v = self._v[name] = b2 * self._v.get(name, 0) + (1 - b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


#: Optimiser name -> default learning rate.
OPTIMIZERS = {"sgd": 1.0, "momentum": 0.1, "adam": 2e-3}


def make_optimizer(name, lr=None, momentum=0.9):
    """Build the optimiser ``name`` (sgd, momentum, adam); ``lr`` None picks its default."""
    if name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")
    lr = OPTIMIZERS[name] if lr is None else lr
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ConfigError(f"learning rate must be a positive number, not {lr!r}")
    if name == "sgd":
        return SGD(lr)
    if name == "momentum":
        if not (0 <= momentum < 1):
            raise ConfigError(f"momentum must be in [0, 1), not {momentum!r}")
        return SGD(lr, momentum)
    return Adam(lr)
