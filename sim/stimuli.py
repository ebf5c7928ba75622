"""Engine inputs made to stress the arithmetic, shared by the co-simulation tests and bench/regress.py."""

import numpy as np

from golden_model.engine_model import EngineInputs

__all__ = ["hot_inputs"]


def hot_inputs(cfg, T, B, rng, zero=0.3, o=(0.25, 0.75), tanh_c=0.5):
    """Inputs that drive every sum of one sign (positive W, a, c_prev, dh; i near 1 and g near 0, so that
    dz_g is about dc): narrow accumulators overflow, dc and dh saturate; about ``zero`` of the dh are 0 (and
    the threshold drops more), so that skip mode still skips. ``o`` (the gate's range) and ``tanh_c`` (its
    maximum) set how hot: o near 1 and tanh(c) near 0 make dc about dh, and dz_f, dz_g saturate too."""
    H, N = cfg.hidden_size, cfg.n_inputs
    one = 1 << cfg.act.frac

    def act(lo, hi):
        return rng.integers(int(lo * one), int(hi * one) + 1, (T, B, H))

    def big(fmt, shape):
        return rng.integers(fmt.max_int // 2, fmt.max_int + 1, shape)

    gates = np.concatenate([act(0.75, 1), act(0.25, 0.75), act(0, 0.25), act(*o)], axis=2)
    return EngineInputs(gates=gates, tanh_c=act(0, tanh_c), c_prev=big(cfg.state, (T, B, H)),
                        a=big(cfg.inp, (T, B, N)), dh=np.where(rng.random((T, B, H)) < zero, 0, big(cfg.grad, (T, B, H))),
                        W=big(cfg.weight, (4 * H, N)), tau=int(rng.integers(0, 1 << 12)))
