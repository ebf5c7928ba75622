"""Cycle model of the engine: how many clock cycles a sequence takes, exactly, on the hardware in hw/.

Cycle 0 is the cycle in which the idle engine sees ``start``; the engine's
``cycles`` counter counts cycles 1 .. the last (a frozen cycle, waiting for
the host, is not a cycle here: the hardware counts those in ``stall``). With
BC = B*C a-chunks and BH = B*H elements per step, R = 4H rows, C = ceil(N/P):

1. **a-loader** (double-buffered): the load of step n's a_t (BC transfers)
   ends in cycle A_n = max(A_{n-1}, Z_{n-2}) + BC, with A_{-1} = 0 and
   Z_{-1} = Z_{-2} = 0: it waits for the previous load and for the MAC work
   of step n-2 (the last user of its buffer) to finish.
2. **Feed**: step n waits from W_n (1 for the first step, Z_{n-1} + 1 after)
   until its a_t is loaded; it feeds its elements (unit j, batch b within j)
   one every k = ``feed_interval`` cycles (the gate-gradient unit's
   ``ggu_cycles``), element e in cycle F_n + e*k, F_n = max(W_n, A_n + 1) + 1.
3. **Gate-gradient unit and dz buffer**: only elements with a nonzero enter
   the buffer (every element in dense mode); element e's dz reach the encoder
   in cycle F_n + e*k + ``ggu_latency`` (feed register, the unit's pipeline, the
   buffer FIFO), or the cycle after the encoder took the element before.
4. **Encoder**: takes the next element when it is there and the previous one
   is done: the cycle its last entry went to the lanes. It offers the
   element's entries (the nonzeros in gate order i, f, g, o; all four in
   dense mode) from the cycle after it took it, one after the other.
5. **Lanes**: accept an entry at y = max(offered, y_prev + C), where y_prev is
   the previous entry's acceptance, plus one hazard bubble when C = 1 and the
   entry shares its row k or batch b with the previous one (the accumulators
   are read again ``rmw_depth`` = 2 cycles after a read, see hw.mac_lanes).
   The step's MAC work is done at Z_n = max(F_n + (BH - 1)*k + 1 + ``ggu_latency``
   - ``buffer_latency``, x_last + 1, y_last + C + ``mac_drain``, Z_{n-1} + 1 + BC)
   (the unit's last element is out; the encoder took the last element with a
   nonzero; the last entry is written; the previous read-out has finished).
6. **Read-out** of da (double-buffered): BC cycles Z_n + 1 .. Z_n + BC, beside
   the next step's feed, which needs only the first chunks.
7. After the last step's read-out, ``steps`` = Z_{T-1} + 1 + BC: dh0/dc0 (BH
   cycles), dW (R*C), db (R) and one last cycle:
   ``cycles`` = ``steps`` + BH + R*C + R + 1.

In dense mode every entry is issued, zeros included, and the same rules
apply. The model walks the elements of every step in Python (vectorised
per step where the order does not matter); tests compare it with the
simulated hardware cycle for cycle.
"""

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["MicroArch", "CycleCounts", "cycle_counts", "max_cycles", "counter_width"]


@dataclass(frozen=True)
class MicroArch:
    """The timing constants of the hardware in hw/ (cycles); see the module docstring.

    ``ggu_latency``: from an element's feed cycle to its dz being available to
    the encoder (1 feed register + GateGradUnit.latency + 2 for the buffered
    FIFO). ``buffer_latency``: the FIFO's part of it. ``feed_interval``:
    cycles between two elements of the feed (``EngineConfig.ggu_cycles``). ``rmw_depth``:
    MacLanes.rmw_depth. ``mac_drain``: from the last
    entry's last column to the cycle the controller sees the lanes idle.
    """

    ggu_latency: int = 14
    buffer_latency: int = 2
    rmw_depth: int = 2
    mac_drain: int = 3
    feed_interval: int = 1

    #: Pipeline stages of the gate-gradient unit, fully pipelined and folded (hw.gate_grad schedules
    #: them; tests/hw/test_engine.py holds hw.controller.micro_arch equal to :meth:`of`).
    GGU_STAGES = {"pipelined": 11, "folded": 8}

    @classmethod
    def of(cls, config):
        """The hardware's timing for ``config``: its gate-gradient unit takes an element every
        k = ``config.ggu_cycles`` cycles and needs (stages - 1) * k + 1 cycles for it."""
        k = config.ggu_cycles
        stages = cls.GGU_STAGES["pipelined" if k == 1 else "folded"]
        return cls(ggu_latency=1 + (stages - 1) * k + 1 + 2, feed_interval=k)

    def __post_init__(self):
        for name in ("ggu_latency", "buffer_latency", "rmw_depth", "mac_drain", "feed_interval"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"MicroArch.{name} must be a positive integer, not {v!r}")


@dataclass
class CycleCounts:
    """The engine's performance counters for one sequence (names as the hardware's)."""

    cycles: int           # from the start command to the last output
    steps: int            # from the start command to the end of the last step (the rest: dh0/dc0, dW, db out)
    mac_busy: int         # cycles the lanes issue a column: issued entries x C
    hazard: int           # bubbles inserted for read-modify-write hazards
    issued: int           # entries issued (nonzeros, or every entry in dense mode)
    nonzeros: int
    zeros_skipped: int
    stall: int = 0        # cycles lost to the host's handshakes (zero in the model)

    def to_dict(self):
        return asdict(self)


def _issued(dz_t, dense):
    """(b, k) of one step's issued entries (dz_t (B, 4H)) in issue order, and per element (unit j,
    batch b within j) how many."""
    B, G = dz_t.shape
    H = G // 4
    mask = np.ones(dz_t.shape, bool) if dense else dz_t != 0
    per_elem = mask.reshape(B, 4, H).transpose(2, 0, 1)      # (j, b, q)
    jj, bb, qq = np.nonzero(per_elem)
    return bb, qq * H + jj, per_elem.sum(axis=2).ravel()


def cycle_counts(config, result, arch=None):
    """Cycle counts of the sequence whose engine-model ``result`` (run_engine) is given.

    Skip or dense mode comes from the result itself; ``arch`` defaults to ``MicroArch.of(config)``.
    """
    arch = arch or MicroArch.of(config)
    T, B, G = result.dz.shape
    H = G // 4
    C, R, every = config.cols_per_lane, config.n_rows, arch.feed_interval
    BC, BH = B * C, B * H
    A_prev, Z = 0, [0, 0]               # A_{n-1}; Z_{n-2}, Z_{n-1}
    readout_end = None                  # the cycle after the previous step's read-out
    hazard = issued = 0
    y_prev, k_prev, b_prev = None, None, None
    for n in range(T):
        t = T - 1 - n
        A = max(A_prev, Z[-2]) + BC
        W = 1 if n == 0 else Z[-1] + 1
        F = max(W, A + 1) + 1
        bb, kk, per_elem = _issued(result.dz[t], result.dense)
        x = None                         # the encoder took the previous element in cycle x
        free = None                      # ... and is free for the next one from this cycle
        i = 0
        y_last = None
        for e in range(BH):
            m = int(per_elem[e])
            if m == 0:
                continue                 # never enters the dz buffer
            avail = F + e * every + arch.ggu_latency
            x = avail if free is None else max(avail, free, x + 1)
            offer = x + 1
            for _ in range(m):
                k, b = int(kk[i]), int(bb[i])
                i += 1
                y = offer if y_prev is None else max(offer, y_prev + C)
                if C < arch.rmw_depth and y_prev is not None and (k == k_prev or b == b_prev) and y <= y_prev + 1:
                    y = y_prev + arch.rmw_depth
                    hazard += 1 if offer <= y_prev + 1 else 0
                y_prev, k_prev, b_prev, y_last = y, k, b, y
                issued += 1
                offer = y + 1
            free = y_prev
        done = F + (BH - 1) * every + 1 + arch.ggu_latency - arch.buffer_latency   # the unit's last element is out
        if y_last is not None:
            done = max(done, x + 1, y_last + C + arch.mac_drain)
        if readout_end is not None:
            done = max(done, readout_end)
        Z = [Z[-1], done]
        readout_end = done + 1 + BC
        A_prev = A
    steps = readout_end
    nnz = int(np.count_nonzero(result.dz))
    return CycleCounts(cycles=steps + BH + R * C + R + 1, mac_busy=issued * C, hazard=hazard, issued=issued,
                       nonzeros=nnz, zeros_skipped=0 if result.dense else result.dz.size - nnz, steps=steps)


def max_cycles(config, arch=None):
    """An upper bound of the cycles of any sequence the configuration allows (dense mode, a
    hazard bubble on every entry, every step as long as it can be)."""
    arch = arch or MicroArch.of(config)
    B, T, H, C = config.max_batch, config.max_seq, config.hidden_size, config.cols_per_lane
    R = config.n_rows
    step = B * (H * arch.feed_interval + C) + arch.ggu_latency + R * B * (C + arch.rmw_depth) + B * C + arch.mac_drain + 64
    return T * step + B * H + R * (C + 1) + 64


def counter_width(config):
    """Width of the engine's performance counters: enough for :func:`max_cycles` (every counter
    counts at most one per cycle)."""
    return max_cycles(config).bit_length()
