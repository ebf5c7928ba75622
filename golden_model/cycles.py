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

__all__ = ["MicroArch", "GGUSchedule", "CycleCounts", "cycle_counts", "ggu_schedule", "max_cycles", "counter_width"]


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

    @classmethod
    def of(cls, config):
        """The hardware's timing for ``config``: its gate-gradient unit (:func:`ggu_schedule`)
        takes an element every k = ``config.ggu_cycles`` cycles."""
        plan = ggu_schedule(config.ggu_cycles)
        return cls(ggu_latency=1 + plan.latency + 2, feed_interval=plan.interval)

    def __post_init__(self):
        for name in ("ggu_latency", "buffer_latency", "rmw_depth", "mac_drain", "feed_interval"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"MicroArch.{name} must be a positive integer, not {v!r}")


@dataclass(frozen=True)
class GGUSchedule:
    """How the gate-gradient unit computes ``engine_model.GGU_DATAFLOW``, and what it costs.

    ``form``: "pipelined" (one element per cycle), "folded" (a pipeline whose stages advance
    every ``interval`` cycles, its products shared by ``multipliers`` multipliers) or "serial" (one
    element at a time, every value in one register, the products on ``multipliers`` multipliers).
    ``latency``: cycles from the cycle an element is taken to the first cycle its output is valid.
    Pipelined and folded: ``stage_of`` each value's stage (inputs 0: the input port), ``stages``.
    Serial: ``time_of`` each operation's cycle (1 = the cycle after the element was taken; a
    product's multiply cycle, rounded in the next), ``multiplier_of`` each product's multiplier.
    ``chained``: logic operations computed right after the rounding of their product operand, in
    the same stage or cycle.
    """

    form: str
    interval: int
    multipliers: int
    latency: int
    stage_of: dict = None
    stages: int = 0
    time_of: dict = None
    multiplier_of: dict = None
    chained: frozenset = frozenset()

    def write_cycle(self, name):
        """Serial: the cycle at the end of which the value ``name`` is registered."""
        return self.time_of[name] + (1 if name in self.multiplier_of else 0)


def _products():
    from .engine_model import GGU_DATAFLOW
    return {name for name, _, kind in GGU_DATAFLOW if kind == "mul"}


def ggu_schedule(k):
    """The gate-gradient unit for ``ggu_cycles`` = k: pipelined for k = 1; else serial on the fewest
    multipliers whose schedule fits in k cycles, when one does (the fewest registers); else folded.

    Every value goes in the earliest place its operands allow. Pipelined: a logic operation one
    stage after its last operand, a product two (its exact product is registered first). Folded: a
    product one stage after its operands, never from the input port (a shared multiplier needs
    operands that hold still for a whole period). Folded and serial: a logic operation on a
    product's result is chained to the product's rounding (round, then the sum, difference or
    threshold, in one cycle).
    """
    from .engine_model import GGU_DATAFLOW, GGU_INPUTS, GGU_OUTPUTS
    products = _products()
    if k == 1 or k == 2:                  # (no serial schedule is that short)
        pass
    else:
        for m in range(1, len(products) + 1):
            plan = _serial(m)
            if plan.latency <= k:
                return GGUSchedule(**{**plan.__dict__, "interval": k})
    at = {name: 0 for name in GGU_INPUTS}
    chained = set()
    for name, args, kind in GGU_DATAFLOW:
        assert name not in at, f"{name} is defined twice"
        if kind == "mul":
            ready = max(at[a] for a in args)
            at[name] = (max(ready, 1) + 1) if k > 1 else ready + 2
        else:
            at[name] = max(at[a] + (0 if k > 1 and a in products else 1) for a in args)
            if k > 1 and any(a in products and at[a] == at[name] for a in args):
                chained.add(name)
    stages = max(at[name] for name in GGU_OUTPUTS)
    return GGUSchedule(form="pipelined" if k == 1 else "folded", interval=k,
                       multipliers=len(products) if k == 1 else -(-len(products) // (k - 1)),
                       latency=(stages - 1) * k + 1, stage_of=at, stages=stages, chained=frozenset(chained))


def _serial(n_mul):
    """A serial schedule on ``n_mul`` multipliers: list scheduling in dataflow order. Inputs can be
    read from cycle 1; a product multiplied in cycle t is rounded in t + 1 and readable from t + 2."""
    from .engine_model import GGU_DATAFLOW, GGU_INPUTS, GGU_OUTPUTS
    products = _products()
    avail = {name: 1 for name in GGU_INPUTS}
    time, unit, used, chained = {}, {}, {}, set()
    for name, args, kind in GGU_DATAFLOW:
        ready = max(avail[a] for a in args)
        if kind == "mul":
            t = ready
            while used.get(t, 0) >= n_mul:
                t += 1
            unit[name], used[t] = used.get(t, 0), used.get(t, 0) + 1
            time[name], avail[name] = t, t + 2
            continue
        rounds = [time[a] + 1 for a in args if a in products]
        others = [avail[a] for a in args if a not in products]
        if rounds and max(others, default=1) <= max(rounds):
            time[name] = max(rounds)                # chained to its product's rounding
            chained.add(name)
        else:
            time[name] = ready
        avail[name] = time[name] + 1
    last = max(time[n] + (1 if n in products else 0) for n in GGU_OUTPUTS)
    return GGUSchedule(form="serial", interval=last + 1, multipliers=n_mul, latency=last + 1, time_of=time,
                       multiplier_of=unit, chained=frozenset(chained))


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
