"""The engine's host protocol as data: what goes into each stream and how its outputs are read back.

One source for the order of every transfer (hw.engine's docstring states it),
used by the Amaranth testbenches, the cocotb testbench and the board's host
driver alike. Payloads are plain ints (a chunk is a list of P ints, an element
a dict by field name) in the formats of the EngineConfig; the layouts in
hw.layouts turn them into bits.
"""

import numpy as np

__all__ = ["weight_transfers", "element_transfers", "a_transfers", "expected_transfers", "decode_outputs",
           "Outputs", "dx_chunks", "output_counts"]


def _chunks(config, row):
    """A row of N values as C chunks of P ints (zero beyond N)."""
    P, C = config.lanes, config.cols_per_lane
    padded = np.zeros(C * P, dtype=object)
    padded[:len(row)] = [int(x) for x in row]
    return [list(padded[c * P:(c + 1) * P]) for c in range(C)]


def dx_chunks(config):
    """The chunks of a da row that hold dx columns (0 .. ceil(I / P) - 1), in the order o_dx carries
    them: the read-out's, which starts at chunk I // P (the first dh_rec columns; dx too when P does
    not divide I) and wraps around."""
    CI = -(-config.input_size // config.lanes)
    c0 = config.input_size // config.lanes
    return [c for c in list(range(c0, config.cols_per_lane)) + list(range(c0)) if c < CI]


def weight_transfers(config, W):
    """W (4H, N) as 4H x C chunks: row k, chunk c within k."""
    return [chunk for row in np.asarray(W) for chunk in _chunks(config, row)]


def element_transfers(config, inputs, t):
    """Step t's elements: unit j, batch b within j."""
    H = config.hidden_size
    g, tc, cp, dh = inputs.gates[t], inputs.tanh_c[t], inputs.c_prev[t], inputs.dh[t]
    B = dh.shape[0]
    return [{"i": int(g[b, j]), "f": int(g[b, H + j]), "g": int(g[b, 2 * H + j]), "o": int(g[b, 3 * H + j]),
             "tanh_c": int(tc[b, j]), "c_prev": int(cp[b, j]), "dh": int(dh[b, j])}
            for j in range(H) for b in range(B)]


def a_transfers(config, inputs, t):
    """Step t's a_t: batch b, chunk c within b."""
    return [chunk for row in inputs.a[t] for chunk in _chunks(config, row)]


def expected_transfers(config, result):
    """What each output stream carries for an EngineResult, in order (steps T-1 .. 0 for dx)."""
    T, B, _ = result.dx.shape
    H = config.hidden_size
    dx = [_chunks(config, result.dx[t, b])[c] for t in range(T - 1, -1, -1) for c in dx_chunks(config)
          for b in range(B)]
    state = [{"dh0": int(result.dh0[b, j]), "dc0": int(result.dc0[b, j])} for j in range(H) for b in range(B)]
    dw = [chunk for row in result.dW for chunk in _chunks(config, row)]
    return {"dx": dx, "state": state, "dw": dw, "db": [int(x) for x in result.db]}


class Outputs:
    """Output streams decoded into arrays: dx (T, B, I), dh0 and dc0 (B, H), dW (4H, N), db (4H,)."""

    def __init__(self, dx, dh0, dc0, dW, db):
        self.dx, self.dh0, self.dc0, self.dW, self.db = dx, dh0, dc0, dW, db

    def mismatches(self, result):
        """(name, index, expected, actual) of the first differing value of each array against an
        EngineResult; empty when everything is equal."""
        out = []
        for name, want in (("dx", result.dx), ("dh0", result.dh0), ("dc0", result.dc0), ("dW", result.dW),
                           ("db", result.db)):
            got = getattr(self, name)
            want = np.asarray(want)
            if got.shape != want.shape:
                out.append((name, None, want.shape, got.shape))
                continue
            bad = np.argwhere(got != want)
            if len(bad):
                i = tuple(int(x) for x in bad[0])
                out.append((name, i, int(want[i]), int(got[i])))
        return out


def decode_outputs(config, T, B, dx, state, dw, db):
    """Arrays from the transfers received on o_dx, o_state, o_dw and o_db (lists in arrival order)."""
    I, H, N, C, R = config.input_size, config.hidden_size, config.n_inputs, config.cols_per_lane, config.n_rows
    order = dx_chunks(config)
    CI = len(order)

    def need(name, got, n):
        if len(got) != n:
            raise ValueError(f"{name}: expected {n} transfers, got {len(got)}")

    for name, got in (("dx", dx), ("state", state), ("dw", dw), ("db", db)):
        need(f"o_{name}", got, output_counts(config, T, B)[name])
    dx_rows = np.zeros((T, B, CI * config.lanes), dtype=object)
    n = 0
    for t in range(T - 1, -1, -1):
        for c in order:
            for b in range(B):
                dx_rows[t, b, c * config.lanes:(c + 1) * config.lanes] = list(dx[n])
                n += 1
    dx_rows = dx_rows[:, :, :I]
    dW = np.array([sum((list(ch) for ch in dw[k * C:(k + 1) * C]), [])[:N] for k in range(R)], dtype=object)
    dh0 = np.array([[state[j * B + b]["dh0"] for j in range(H)] for b in range(B)], dtype=object)
    dc0 = np.array([[state[j * B + b]["dc0"] for j in range(H)] for b in range(B)], dtype=object)
    return Outputs(dx=_ints(dx_rows), dh0=_ints(dh0), dc0=_ints(dc0), dW=_ints(dW), db=_ints(np.array(db, dtype=object)))


def _ints(a):
    """int64 when every value fits, Python ints otherwise (as EngineResult keeps them)."""
    try:
        return a.astype(np.int64)
    except OverflowError:
        return a


def output_counts(config, T, B):
    """The transfers each output stream carries for one sequence of T steps and batch B.

    Returns
    -------
    dict
        ``{"dx": T B ceil(I / P), "state": B H, "dw": 4H C, "db": 4H}``, by the stream's name without
        its ``o_`` prefix.
    """
    return {"dx": T * B * len(dx_chunks(config)), "state": B * config.hidden_size,
            "dw": config.n_rows * config.cols_per_lane, "db": config.n_rows}
