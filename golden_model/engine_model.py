"""Bit-exact model of what the engine computes (values; the cycles are in ``cycles.py``).

For a whole sequence (T steps, batch B) :func:`run_engine` computes, on
integers, exactly what the hardware will: per step the thresholded dz, the
order in which nonzeros are issued, the dW/db accumulators, dx per step, the
final dh0/dc0, and the sticky overflow flags. Everything is vectorised NumPy
over the batch and the hidden units; only the T steps are a loop.

The arithmetic (EngineConfig formats: ``act``, ``state``, ``inp``,
``weight``, ``grad``; every product is exact and then rounded to the grad
format by ``config.rounding``; every sum saturates or wraps per
``config.overflow``):

Gate-gradient unit, per element (b, j). Its source is the dataflow in
golden_model/ggu.py (``GGU_DATAFLOW``), which :func:`gate_gradients` evaluates
and the hardware schedules; written out here for reading. ONE = 1.0 in the
act format; ``G(p)`` rounds an exact product p to the grad format and
``A(p)`` to the act format (both by ``config.rounding``, then the overflow
rule); ``sat`` applies the overflow rule to an exact sum. Every rounding point
is written out::

    dh      = sat(dh_out[t] + dh_rec)                grad; dh_rec from step t+1, 0 at t = T-1
    do      = G(dh * tanh_c)
    u       = ONE - A(tanh_c * tanh_c)               the square is rounded, then subtracted
    dc      = sat(G(G(dh * o) * u) + dc_next)
    di      = G(dc * g);  dg = G(dc * i);  df = G(dc * c_prev);  dc_prev = G(dc * f)
    dz_i    = G(di * A(i * (ONE - i)))
    dz_f    = G(df * A(f * (ONE - f)))
    dz_g    = G(dg * (ONE - A(g * g)))
    dz_o    = G(do * A(o * (ONE - o)))
    dz      = 0 where |dz| < tau                     tau: a grad-format integer

MAC lanes, for every nonzero dz[k, b] = v in issue order (element by element
as the gate-gradient unit produces them -- unit j ascending, batch b ascending
within a unit -- and the gates q = i, f, g, o of an element in order, row
k = q*H + j; see ``issue_order``)::

    dW[k, :] += v * a_b            exact products, dw_acc format (accumulates over all T steps)
    da_b     += v * W[k, :]        exact products, da_acc format (cleared every step)
    db[k]    += v                  db_acc format

then ``dx_t = da[:, :I]`` and ``dh_rec = da[:, I:]`` rounded to the grad
format. After step 0: ``dh0 = dh_rec`` and ``dc0 = dc_prev``. In dense mode
every entry is issued, zeros included (the values are the same; only the
issue count, and hence the cycles, differ).

With the default accumulator widths (exact for max_batch x max_seq terms) no
accumulator can overflow and the issue order does not change any value; with
narrower accumulators the model applies saturation term by term in issue
order, as the hardware does.
"""

from dataclasses import dataclass, field

import numpy as np

from .engine_config import check_config
from .errors import ShapeError
from .fixedpoint import _SAFE_BITS, fit, product, round_shift
from .ggu import Arithmetic, evaluate

__all__ = ["EngineInputs", "EngineResult", "run_engine", "gate_gradients", "quantize_inputs", "fixed_backward",
           "issue_order", "FLAGS"]

#: Sticky overflow flags, one per place where a value can leave its format.
FLAGS = ("gate", "dw", "da", "db", "out")


@dataclass
class EngineInputs:
    """Integer inputs of one sequence, in the config's formats, time-major.

    ``gates`` (T, B, 4H) i, f, g, o and ``tanh_c`` (T, B, H) in ``act``;
    ``c_prev`` (T, B, H) in ``state``; ``a`` (T, B, N) in ``inp``; ``dh`` (T, B, H)
    in ``grad``; ``W`` (4H, N) in ``weight``; ``tau`` a grad-format integer >= 0.
    """

    gates: np.ndarray
    tanh_c: np.ndarray
    c_prev: np.ndarray
    a: np.ndarray
    dh: np.ndarray
    W: np.ndarray
    tau: int

    def check(self, config):
        T, B = self.dh.shape[:2]
        H, N = config.hidden_size, config.n_inputs
        if not 1 <= T <= config.max_seq:
            raise ShapeError(f"sequence length T = {T} must be in [1, max_seq = {config.max_seq}]")
        if not 1 <= B <= config.max_batch:
            raise ShapeError(f"batch B = {B} must be in [1, max_batch = {config.max_batch}]")
        shapes = {"gates": (T, B, 4 * H), "tanh_c": (T, B, H), "c_prev": (T, B, H), "a": (T, B, N),
                  "dh": (T, B, H), "W": (4 * H, N)}
        fmts = config.input_formats
        for name, shape in shapes.items():
            v = np.asarray(getattr(self, name))
            if v.shape != shape:
                raise ShapeError(f"engine input {name} must have shape {shape}, got {v.shape}")
            if v.dtype.kind not in "iu":
                raise ShapeError(f"engine input {name} must hold integers, not dtype {v.dtype}")
            if not fmts[name].contains(v):
                raise ShapeError(f"engine input {name} holds values outside its format {fmts[name]}")
        if not (isinstance(self.tau, (int, np.integer)) and 0 <= int(self.tau) <= config.grad.max_int):
            raise ShapeError(f"tau must be an integer in [0, {config.grad.max_int}] (grad format), not {self.tau!r}")


@dataclass
class EngineResult:
    """What the engine returns for one sequence (integers in the stated formats)."""

    dz: np.ndarray          # (T, B, 4H) thresholded dz, grad format
    dz_raw: np.ndarray      # (T, B, 4H) dz before thresholding
    dx: np.ndarray          # (T, B, I) grad format
    dh0: np.ndarray         # (B, H) grad format
    dc0: np.ndarray         # (B, H) grad format
    dW: np.ndarray          # (4H, N) dw_acc format
    db: np.ndarray          # (4H,) db_acc format
    flags: dict             # name -> bool, sticky over the sequence
    issued: list = field(repr=False, default=None)   # per step: (k, b) int arrays in issue order
    dense: bool = False
    nonzeros: int = 0
    zeros_skipped: int = 0


def issue_order(dz_t, dense=False):
    """(k, b) of the issued entries of one step's dz (B, 4H), in issue order: element (j, b) by
    element, unit j ascending and batch b within it, the element's gates i, f, g, o in order."""
    B, G = dz_t.shape
    H = G // 4
    mask = np.ones(dz_t.shape, bool) if dense else dz_t != 0
    jj, bb, qq = np.nonzero(mask.reshape(B, 4, H).transpose(2, 0, 1))  # lexicographic in (j, b, q)
    return qq * H + jj, bb


def run_engine(config, inputs, *, dense=False):
    """Run the engine model over one sequence; return an EngineResult."""
    check_config(config)
    inputs.check(config)
    c = config
    g = c.grad
    T, B, H = inputs.dh.shape
    I = c.input_size
    rnd, ovf = c.rounding, c.overflow
    flags = dict.fromkeys(FLAGS, False)
    G = g.frac
    W = np.asarray(inputs.W, dtype=np.int64)
    tau = int(inputs.tau)
    dW = np.zeros((4 * H, c.n_inputs), dtype=object if c.dw_acc.width > _SAFE_BITS else np.int64)
    db = np.zeros(4 * H, dtype=object if c.db_acc.width > _SAFE_BITS else np.int64)
    dz_all = np.zeros((T, B, 4 * H), np.int64)
    dz_raw = np.zeros((T, B, 4 * H), np.int64)
    dx = np.zeros((T, B, I), np.int64)
    dh_rec = np.zeros((B, H), np.int64)
    dc_next = np.zeros((B, H), np.int64)
    issued = []
    exact_dw = c.dw_acc_width >= c.exact_dw_width
    exact_da = c.da_acc_width >= c.exact_da_width
    exact_db = c.db_acc_width >= c.exact_db_width
    nonzeros = zeros_skipped = 0
    for t in range(T - 1, -1, -1):
        dz_raw[t], dz, dc_next, over = gate_gradients(c, inputs.gates[t], inputs.tanh_c[t], inputs.c_prev[t],
                                                      inputs.dh[t], dh_rec, dc_next, tau)
        flags["gate"] |= bool(over.any())
        dz_all[t] = dz
        kk, bb = issue_order(dz, dense)
        issued.append((kk, bb))
        nnz = int(np.count_nonzero(dz))
        nonzeros += nnz
        zeros_skipped += 0 if dense else dz.size - nnz
        a_t = np.asarray(inputs.a[t], np.int64)
        v = dz[bb, kk]
        # Wide enough accumulators never overflow, so the sums are order-free matrix products;
        # narrower ones saturate term by term in issue order, as the hardware does.
        if exact_dw:
            dW += _exact_matmul(dz.T, a_t, c.exact_dw_width)
        else:
            dW = _accumulate_in_order(dW, kk, v[:, None] * a_t[bb], c.dw_acc, ovf, flags, "dw")
        if exact_db:
            db += dz.sum(axis=0)
        else:
            db = _accumulate_in_order(db[:, None], kk, v[:, None], c.db_acc, ovf, flags, "db")[:, 0]
        if exact_da:
            da = _exact_matmul(dz, W, c.exact_da_width)
        else:
            da = np.zeros((B, c.n_inputs), dtype=object if c.da_acc.width > _SAFE_BITS else np.int64)
            da = _accumulate_in_order(da, bb, v[:, None] * W[kk], c.da_acc, ovf, flags, "da")
        out, o1 = fit(round_shift(da, c.da_acc.frac - G, rnd), g, ovf)
        flags["out"] |= o1
        dx[t] = out[:, :I]
        dh_rec = out[:, I:]
    return EngineResult(dz=dz_all, dz_raw=dz_raw, dx=dx, dh0=dh_rec, dc0=dc_next, dW=dW, db=db, flags=flags, issued=issued[::-1],
                        nonzeros=nonzeros, zeros_skipped=zeros_skipped, dense=dense)


def gate_gradients(config, gates, tanh_c, c_prev, dh_out, dh_rec, dc_next, tau):
    """The gate-gradient unit on integer arrays of shape (..., H) (``gates`` (..., 4H)).

    Returns ``dz_raw`` and ``dz`` (..., 4H) before and after the threshold,
    ``dc_prev`` (..., H), and a per-element overflow mask (..., H): whether any
    operation of that element left its format. Computed by evaluating
    golden_model.ggu's dataflow with NumPy arithmetic.
    """
    gates = np.asarray(gates, np.int64)
    inputs = dict(zip("ifgo", np.split(gates, 4, axis=-1)))
    for name, v in (("tanh_c", tanh_c), ("c_prev", c_prev), ("dh", dh_out), ("dh_rec", dh_rec),
                    ("dc_next", dc_next)):
        inputs[name] = np.asarray(v, np.int64)

    def threshold(v):
        return np.where(np.abs(v) < tau, 0, v)

    arithmetic = Arithmetic(config, product=product, round_shift=round_shift, fit=_fit_each, threshold=threshold)
    values, over = evaluate(arithmetic, inputs)
    dz_raw, dz = (np.concatenate([values[prefix + q] for q in "ifgo"], axis=-1) for prefix in ("raw_", "dz_"))
    return dz_raw, dz, values["dc_prev"], over


def _fit_each(v, fmt, overflow):
    """fixedpoint.fit, with whether each element overflowed instead of whether any did."""
    v = np.asarray(v)
    return fit(v, fmt, overflow)[0], ((v < fmt.min_int) | (v > fmt.max_int)).astype(bool)


def _exact_matmul(x, y, bits):
    """x @ y on integers, exactly: float64 BLAS when every partial sum fits in 53 bits
    (``bits``, the accumulator's worst-case width), int64 or Python ints beyond."""
    if bits <= 53:
        return (x.astype(np.float64) @ y.astype(np.float64)).astype(np.int64)
    if bits <= 62:
        return x.astype(np.int64) @ y.astype(np.int64)
    return x.astype(object) @ y.astype(object)


def _accumulate_in_order(acc, rows, terms, fmt, ovf, flags, name):
    """acc[rows[n]] += terms[n] one term at a time, in issue order, each sum put through the overflow
    rule (saturate or wrap) of ``fmt``; ``flags[name]`` is raised when any sum overflowed."""
    acc = acc.astype(object) if fmt.width > _SAFE_BITS else acc.copy()
    for r, term in zip(rows, terms):
        acc[r], o = fit(acc[r] + term, fmt, ovf)
        flags[name] |= o
    return acc


def quantize_inputs(config, layer, cache, dh, tau):
    """Engine inputs for an LSTM ``layer``'s forward ``cache`` and float ``dh`` (T, B, H), float ``tau``.

    Uses the config's rounding and saturates (the inputs are data: a value
    beyond its format is clamped and reported in the returned ``clipped`` dict).
    """
    H = config.hidden_size
    clipped = {}

    def q(name, fmt, x):
        v, over = fmt.quantize(x, config.rounding, "saturate")
        clipped[name] = over
        return v

    tc = cache.tanh_c
    inputs = EngineInputs(
        gates=q("gates", config.act, cache.gates), tanh_c=q("tanh_c", config.act, tc),
        c_prev=q("c_prev", config.state, cache.c_prev), a=q("a", config.inp, cache.a), dh=q("dh", config.grad, dh),
        W=q("W", config.weight, layer.W), tau=int(q("tau", config.grad, np.array([tau]))[0]))
    if inputs.gates.shape[2] != 4 * H:
        raise ShapeError(f"the layer's hidden size {inputs.gates.shape[2] // 4} does not match the config's {H}")
    return inputs, clipped


def gradient_scale(config, dh, headroom_bits=3):
    """The power-of-two scale 2**s the host applies to dh (and tau) before the engine.

    s puts max |dh| ``headroom_bits`` below the top of the grad format, leaving
    room for dh + dh_rec and dc to grow within a step; the engine's outputs are
    divided by 2**s again. This is dynamic loss scaling in powers of two: exact,
    and free in hardware (the host shifts).
    """
    m = float(np.max(np.abs(dh))) if np.size(dh) else 0.0
    if not np.isfinite(m):
        raise ShapeError(f"dh holds a non-finite value ({m}); the engine cannot scale it")
    if m == 0.0:
        return 0
    return int(np.floor(np.log2(config.grad.max / m))) - headroom_bits


def fixed_backward(config, layer, cache, dh, tau, *, dense=False, record=False, headroom_bits=3):
    """An LSTM layer's sparsified backward pass through the engine model, as the host sees it.

    Float in (the forward cache, dh, tau), float out: ``grads`` with ``W``,
    ``b``, ``x``, ``h0``, ``c0`` like :meth:`LSTM.backward`, the statistics of
    the engine's dz, and ``info`` (the EngineResult, the scale, which inputs
    were clipped to their formats).
    """
    from .stats import BackwardStats

    s = gradient_scale(config, dh, headroom_bits)
    k = np.ldexp(1.0, s)
    inputs, clipped = quantize_inputs(config, layer, cache, dh * k, tau * k)
    r = run_engine(config, inputs, dense=dense)
    un = np.ldexp(1.0, -s)
    grads = {"W": config.dw_acc.dequantize(r.dW) * un, "b": config.db_acc.dequantize(r.db) * un,
             "x": config.grad.dequantize(r.dx) * un, "h0": config.grad.dequantize(r.dh0) * un,
             "c0": config.grad.dequantize(r.dc0) * un}
    dz_raw = config.grad.dequantize(r.dz_raw) * un
    dz = config.grad.dequantize(r.dz) * un
    stats = BackwardStats.from_pass(("i", "f", "g", "o"), config.n_inputs, dz_raw, dz, tau, record=record)
    return grads, stats, {"result": r, "scale": s, "clipped": clipped, "tau_int": inputs.tau}
