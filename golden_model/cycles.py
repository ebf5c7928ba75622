"""Cycle model of the engine: how many clock cycles a sequence takes, exactly, for a stated micro-architecture.

The engine processes the T steps of a sequence one after the other (step t-1
needs dh_rec = W_h^T dz_t from step t). Within a step three units overlap:

1. **Input load** (double-buffered): B*H element transfers (i, f, g, o,
   tanh c, c_prev, dh of one (b, j)) and B*ceil(N/P) transfers of P columns of
   a_t. The load of step t-1 starts once step t's gate-gradient unit has
   started (its buffer was freed by step t+1) and the previous load is done.
2. **Gate-gradient unit (GGU)**: a pipeline taking one element per cycle,
   unit by unit (j ascending, b ascending within a unit), starting at G0 when
   the step's inputs are loaded and the previous step has finished. The rows of
   unit j (k = q*H + j for the four gates) are complete, and visible to the
   encoder, at R_j = G0 + (j+1)*B + ``ggu_latency``.
3. **Zero-skip encoder and MAC lanes**: the encoder visits the rows in that
   order (``engine_model.row_order``), one row per cycle when it is empty;
   each issued entry occupies all P lanes for C = ceil(N/P) cycles (lane p
   takes columns p, p+P, ...). The encoder looks at the next row while the
   lanes work, so empty rows cost nothing unless more than C of them lie
   between two issued entries. Two consecutive entries that share a row k
   (dW) or a batch index b (da) are at least ``max(C, rmw_depth)`` cycles
   apart, so a read-modify-write never reads a stale accumulator: the
   hazard costs ``rmw_depth - C`` bubbles when C < rmw_depth.

After the last accumulate (``mac_latency`` cycles after its last column
issues) the da accumulators are read out, P columns per cycle for each b
(B*C cycles plus ``readout_latency``), giving dx_t and dh_rec; the step ends
``step_overhead`` cycles later.

In dense mode every entry is issued, zeros included, and the same rules
apply. With the host always ready (no stream stalls) the engine's own
counters equal :func:`cycle_counts`; stalls caused by the host are counted
apart (``stall``) and are zero here.
"""

from dataclasses import asdict, dataclass

import numpy as np

from .engine_model import row_order

__all__ = ["MicroArch", "CycleCounts", "cycle_counts", "max_cycles", "counter_width"]


@dataclass(frozen=True)
class MicroArch:
    """The timing parameters of the engine's micro-architecture (cycles).

    ``ggu_latency``: from an element entering the gate-gradient unit to its
    dz being readable by the encoder. ``rmw_depth``: from an accumulator read
    to the cycle its new value can be read again. ``mac_latency``: from the
    last column's issue to the end of its write (at least ``rmw_depth - 1``).
    ``readout_latency``: from the last da read to dh_rec being usable.
    ``step_overhead``: controller cycles between steps.
    """

    ggu_latency: int = 12
    rmw_depth: int = 3
    mac_latency: int = 3
    readout_latency: int = 2
    step_overhead: int = 2

    def __post_init__(self):
        for name in ("ggu_latency", "rmw_depth", "mac_latency", "readout_latency", "step_overhead"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "rmw_depth" else 0):
                raise ValueError(f"MicroArch.{name} must be a non-negative integer (rmw_depth >= 1), not {v!r}")
        if self.mac_latency < self.rmw_depth - 1:
            raise ValueError(f"mac_latency ({self.mac_latency}) must be at least rmw_depth - 1 ({self.rmw_depth - 1})")


@dataclass
class CycleCounts:
    """Counters of one sequence, as the engine reports them."""

    total: int            # cycles from the start command (cycle 0) to the end of step 0, exclusive
    mac_phase: int        # summed over steps: from the cycle the first row is visible to the cycle after
                          # the last accumulate write (or after the last row visit)
    mac_busy: int         # cycles the lanes work: issued entries x C
    hazard: int           # bubbles inserted for read-modify-write hazards
    issued: int           # entries issued (nonzeros, or every entry in dense mode)
    nonzeros: int
    zeros_skipped: int
    stall: int = 0        # cycles lost to the host's handshakes (zero in the model)

    def to_dict(self):
        return asdict(self)


def cycle_counts(config, result, arch=MicroArch()):
    """Cycle counts of the sequence whose engine-model ``result`` (run_engine) is given.

    Skip or dense mode and the issue order come from the result itself.
    """
    T, B, G = result.dz.shape
    H = G // 4
    C = config.cols_per_lane
    D = arch.rmw_depth
    load = B * (H + C)
    order = row_order(H)
    mac_phase = hazard = issued = 0
    load_end = load           # the first step's inputs, loaded from cycle 0
    step_done = 0
    for t in range(T - 1, -1, -1):
        g0 = max(load_end, step_done)
        if t > 0:
            load_end = max(load_end, g0) + load   # the next step's inputs stream in meanwhile
        ready0 = g0 + B + arch.ggu_latency
        kk, bb = result.issued[t]
        per_row = np.bincount(kk, minlength=G)
        n = 0                  # next issued entry of this step
        enc_free = ready0      # the earliest cycle the encoder can visit the next row
        lanes_free = 0         # the earliest cycle the lanes can take the next entry
        recent = []            # (k, b, start) of entries whose read-modify-write may still be in flight
        last_write = None
        for pos, k in enumerate(order):
            visit = max(g0 + (pos // 4 + 1) * B + arch.ggu_latency, enc_free)
            m = int(per_row[k])
            if m == 0:
                enc_free = visit + 1
                continue
            for _ in range(m):
                k_, b = int(kk[n]), int(bb[n])
                n += 1
                free = max(visit, lanes_free)
                start = max([free] + [s + D for (rk, rb, s) in recent if rk == k_ or rb == b])
                hazard += start - free
                recent = [e for e in recent if e[2] + D > start + C] + [(k_, b, start)]
                lanes_free = start + C
                last_write = start + C - 1 + arch.mac_latency
                issued += 1
            enc_free = start + 1
        mac_done = enc_free if last_write is None else max(enc_free, last_write + 1)
        mac_phase += mac_done - ready0
        step_done = mac_done + B * C + arch.readout_latency + arch.step_overhead
    nnz = int(np.count_nonzero(result.dz))
    return CycleCounts(total=step_done, mac_phase=mac_phase, mac_busy=issued * C, hazard=hazard, issued=issued,
                       nonzeros=nnz, zeros_skipped=0 if result.dense else result.dz.size - nnz)


def max_cycles(config, arch=MicroArch()):
    """An upper bound of the cycles of any sequence the configuration allows (dense mode, a
    hazard bubble on every entry, every step as long as it can be)."""
    B, T, H, C = config.max_batch, config.max_seq, config.hidden_size, config.cols_per_lane
    R = config.n_rows
    step = B * (H + C) + arch.ggu_latency + R * B * (C + arch.rmw_depth) + B * C + 64
    return T * step + B * H + R * (C + 1) + 64


def counter_width(config):
    """Width of the engine's performance counters: enough for :func:`max_cycles` (every counter
    counts at most one per cycle)."""
    return max_cycles(config).bit_length()
