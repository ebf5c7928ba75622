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

__all__ = ["MicroArch", "CycleCounts", "cycle_counts"]


@dataclass(frozen=True)
class MicroArch:
    """The timing parameters of the engine's micro-architecture (cycles)."""

    ggu_latency: int = 12
    rmw_depth: int = 3
    mac_latency: int = 3
    readout_latency: int = 2
    step_overhead: int = 2


@dataclass
class CycleCounts:
    """Counters of one sequence, as the engine reports them."""

    total: int            # from start to the end of step 0
    mac_phase: int        # per step, from the first row being visible to the last accumulate; summed
    mac_busy: int         # cycles the lanes work: issued entries x C
    hazard: int           # bubbles inserted for read-modify-write hazards
    issued: int           # entries issued (nonzeros, or every entry in dense mode)
    nonzeros: int
    zeros_skipped: int
    stall: int = 0        # cycles lost to the host's handshakes (zero in the model)

    def to_dict(self):
        return asdict(self)


def cycle_counts(config, result, dense=False, arch=MicroArch()):
    """Cycle counts of the sequence whose engine-model ``result`` (run_engine) is given."""
    T, B, G = result.dz.shape
    H = G // 4
    C = config.cols_per_lane
    load = B * (H + C)
    order = row_order(H)
    spacing_hazard = max(C, arch.rmw_depth)
    mac_phase = hazard = issued = 0
    load_end = load           # the first step's inputs, loaded from cycle 0
    step_done = 0
    for t in range(T - 1, -1, -1):
        g0 = max(load_end, step_done)
        if t > 0:
            load_end = max(load_end, g0) + load   # the next step's inputs stream in meanwhile
        ready0 = g0 + B + arch.ggu_latency
        dz = result.dz[t]
        counts = np.full(G, B) if dense else np.count_nonzero(dz, axis=0)
        enc_free = ready0
        lanes_free = None      # the earliest cycle the lanes may take the next entry
        last = None            # (k, b, cycle) of the previous issued entry
        last_write = None
        for pos, k in enumerate(order):
            j = pos // 4
            visit = max(g0 + (j + 1) * B + arch.ggu_latency, enc_free)
            m = int(counts[k])
            if m == 0:
                enc_free = visit + 1
                continue
            bs = range(B) if dense else np.flatnonzero(dz[:, k])
            for n, b in enumerate(bs):
                start = visit if lanes_free is None else max(visit, lanes_free)
                if last is not None and (last[0] == k or last[1] == b):
                    earliest = last[2] + spacing_hazard
                    if earliest > start:
                        hazard += earliest - max(start, last[2] + C)
                        start = earliest
                last = (k, b, start)
                lanes_free = start + C
                last_write = start + C - 1 + arch.mac_latency
                issued += 1
            enc_free = start + 1
        mac_done = enc_free if last_write is None else max(enc_free, last_write + 1)
        mac_phase += mac_done - ready0
        step_done = mac_done + B * C + arch.readout_latency + arch.step_overhead
    nnz = int(np.count_nonzero(result.dz))
    return CycleCounts(total=step_done, mac_phase=mac_phase, mac_busy=issued * C, hazard=hazard, issued=issued,
                       nonzeros=nnz, zeros_skipped=0 if dense else result.dz.size - nnz)
