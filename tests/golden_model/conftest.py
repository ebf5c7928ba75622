"""What the golden-model tests share, as fixtures that return functions:

- ``rel_error(a, b)``: a relative error that tiny entries cannot blow up;
- ``numeric_grad(f, arr)``: d f / d arr by central differences;
- ``reference_element(cfg, i, f, g, o, tanh_c, c_prev, dh, dh_rec, dc_next, tau)``: one element of the
  gate-gradient unit restated on scalars.
"""

import numpy as np
import pytest

from golden_model.fixedpoint import fit, mul

EPS = 1e-6


def _rel_error(a, b):
    """||a - b|| / max(||a|| + ||b||, tiny): a relative error that tiny entries cannot blow up."""
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


def _numeric_grad(f, arr):
    """d f / d arr by central differences, perturbing ``arr`` in place."""
    g = np.zeros_like(arr)
    for idx in np.ndindex(arr.shape):
        old = arr[idx]
        arr[idx] = old + EPS
        fp = f()
        arr[idx] = old - EPS
        fm = f()
        arr[idx] = old
        g[idx] = (fp - fm) / (2 * EPS)
    return g


def _reference_element(cfg, i, f, gg, o, tc, cp, dh_out, dh_rec, dc_next, tau):
    """One element of the gate-gradient unit, restated on scalars (see engine_model's docstring):
    (dz_raw, dz) as lists i, f, g, o, dc_prev, and whether any operation overflowed."""
    g, act = cfg.grad, cfg.act
    A, S, G = act.frac, cfg.state.frac, g.frac
    one = 1 << act.frac
    R, O = cfg.rounding, cfg.overflow
    over = False

    def m_(x, fx, y, fy, out=g):
        nonlocal over
        v, o_ = mul(np.array([x]), fx, np.array([y]), fy, out, R, O)
        over |= o_
        return int(v[0])

    def f_(v, fmt=g):
        nonlocal over
        r, o_ = fit(np.array([v], dtype=object), fmt, O)
        over |= o_
        return int(r[0])

    dh = f_(dh_out + dh_rec)
    do = m_(dh, G, tc, A)
    omt = f_(one - m_(tc, A, tc, A, act), act)
    dc = f_(m_(m_(dh, G, o, A), G, omt, A) + dc_next)
    di, dg, df = m_(dc, G, gg, A), m_(dc, G, i, A), m_(dc, G, cp, S)
    dc_prev = m_(dc, G, f, A)
    s = [m_(i, A, f_(one - i, act), A, act), m_(f, A, f_(one - f, act), A, act),
         f_(one - m_(gg, A, gg, A, act), act), m_(o, A, f_(one - o, act), A, act)]
    raw = [m_(d, G, s[q], A) for q, d in enumerate((di, df, dg, do))]
    return raw, [0 if abs(v) < tau else v for v in raw], dc_prev, over


@pytest.fixture(scope="session")
def rel_error():
    """The function rel_error(a, b) -> ||a - b|| / max(||a|| + ||b||, tiny)."""
    return _rel_error


@pytest.fixture(scope="session")
def numeric_grad():
    """The function numeric_grad(f, arr): d f / d arr by central differences (step 1e-6), ``arr`` perturbed
    in place."""
    return _numeric_grad


@pytest.fixture(scope="session")
def reference_element():
    """The function reference_element(cfg, i, f, g, o, tanh_c, c_prev, dh, dh_rec, dc_next, tau) ->
    (dz_raw, dz, dc_prev, over) of one element, on scalars."""
    return _reference_element
