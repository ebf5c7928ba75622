"""Cycle model of the engine: how many clock cycles a sequence takes, exactly, on the hardware in hw/.

The model is parametrised by the hardware's :class:`MicroArch`: the latency of each
part, which ``hw.timing.micro_arch(config)`` reads from the parts themselves, so that
a part whose timing changes changes the model with it (tests/hw/test_engine.py then
holds model and simulated hardware equal, cycle for cycle).

Cycle 0 is the cycle after the one in which the idle engine takes ``start``
(hw.controller registers an accepted start, and the sequence begins from that
register); the engine's
``cycles`` counter counts cycles 1 .. the last (a frozen cycle, waiting for
the host, is not a cycle here: the hardware counts those in ``stall``). The
sequencer takes one cycle per change of state. With BC = B*C a-chunks and
BH = B*H elements per step, R = 4H rows, C = ceil(N/P):

1. **a-loader** (double-buffered): the load of step n's a_t (BC transfers)
   ends in cycle A_n = max(A_{n-1}, Z_{n-2}) + BC, with A_{-1} = 0 and
   Z_{-1} = Z_{-2} = 0: it waits for the previous load and for the MAC work
   of step n-2 (the last user of its buffer) to finish. The sequencer sees it
   ``load_latency`` cycles later.
2. **Feed**: step n waits from W_n (1 for the first step, Z_{n-1} + L_r after,
   L_r = ``rec_latency``: the step before's first dh_rec word is in) until its a_t is loaded; it walks its elements (unit j, batch b within j)
   one every k = ``feed_interval`` cycles (the gate-gradient unit's
   ``ggu_cycles``), element e in cycle F_n + e*k, F_n = max(W_n, A_n +
   ``load_latency``) + 1.
3. **Gate-gradient unit and dz buffer**: only elements with a nonzero enter
   the buffer (every element in dense mode); element e's dz reach the encoder
   in cycle F_n + e*k + ``dz_latency`` (the feed's ``feed_latency``, the unit's
   ``ggu_latency``, the buffer's ``buffer_latency``), or the cycle after the
   encoder took the element before.
4. **Encoder**: takes the next element when it is there and the previous one
   is done: the cycle its last entry went to the lanes. It offers the
   element's entries (the nonzeros in gate order i, f, g, o; all four in
   dense mode) from the cycle after it took it, one after the other.
5. **Lanes**: accept an entry at y = max(offered, y_prev + C), where y_prev is
   the previous entry's acceptance: never later, because the lanes forward an
   accumulator's sum to a read-modify-write that follows too closely for memory
   (an operation d < ``forward_window`` cycles after another on the same word:
   6 for the registered lanes, whose old value is read 3 cycles (read, landing)
   before its sum is formed, which is written two cycles after (a register,
   ``settle``); 3 for the compact;
   hw.mac_lanes.LaneTiming), so no entry waits for another (``hazard`` is 0). The step's MAC
   work is done at Z_n = max(F_n + (BH - 1)*k +
   ``feed_latency`` + ``ggu_latency`` + ``return_latency``, x_last + 1, y_last + C +
   ``mac_drain``, Z_{n-1} + ``readout_latency`` + BC) (the unit's last element is
   back; the encoder took the last element with a nonzero; the last entry is
   written; the previous read-out has finished).
6. **Read-out** of da (double-buffered): BC requests from Z_n + ``readout_latency``,
   beside the next step's feed, which needs only the first chunks; each word
   arrives L = ``read_latency`` cycles after its request and is sent, rounded, ``round_latency``
   cycles later (L_r = L + ``round_latency`` after the request).
7. After the last step's read-out has sent its last word, ``steps`` = Z_{T-1} +
   ``readout_latency`` + BC + L_r - 1: dh0/dc0 (BH cycles), dW (R*C), db (R)
   and the last word's L cycles: ``cycles`` = ``steps`` + BH + R*C + R + L.

In dense mode every entry is issued, zeros included, and the same rules
apply. The model walks the elements of every step in Python; tests compare it
with the simulated hardware cycle for cycle.
"""

from dataclasses import asdict, dataclass, fields

import numpy as np

from .checks import check_size
from .engine_model import issue_order

__all__ = ["MicroArch", "CycleCounts", "cycle_counts", "max_cycles", "counter_width"]


@dataclass(frozen=True)
class MicroArch:
    """The timing of the hardware in hw/, part by part, in cycles (hw.timing.micro_arch reads each
    from its part); see the module docstring.

    ``load_latency``: hw.a_loader.ALoader.latency. ``feed_latency`` and ``return_latency``:
    hw.feed.Feed's (an element's walk to its offer to the unit; the step's last result to its
    ``returned``). ``buffer_latency``: hw.dz_buffer.DzBuffer.latency_of(config). ``ggu_latency`` and ``feed_interval``: the gate-gradient
    unit's latency and interval (golden_model.ggu.ggu_schedule). ``read_latency`` and ``mac_drain``: hw.mac_lanes'
    cycles from a read-out request to its word, and from an entry's last column to the lanes idle.
    ``readout_latency`` and ``round_latency``: hw.readout.ReadOut's (``start`` to the first request; a da
    word's arrival to its rounded value, sent).
    """

    load_latency: int
    feed_latency: int
    feed_interval: int
    ggu_latency: int
    return_latency: int
    buffer_latency: int
    read_latency: int
    mac_drain: int
    readout_latency: int
    round_latency: int

    def __post_init__(self):
        for f in fields(self):
            check_size(f"MicroArch.{f.name}", getattr(self, f.name), minimum=int(f.name != "round_latency"))

    @property
    def dz_latency(self):
        """From an element's walk to its dz at the dz buffer's output."""
        return self.feed_latency + self.ggu_latency + self.buffer_latency

    @property
    def rec_latency(self):
        """From a da read-out request to its rounded word, sent on dx and written to the dh_rec memory."""
        return self.read_latency + self.round_latency


@dataclass
class CycleCounts:
    """The engine's performance counters for one sequence (names as the hardware's)."""

    cycles: int           # from the start command to the last output
    steps: int            # from the start command to the end of the last step (the rest: dh0/dc0, dW, db out)
    mac_busy: int         # cycles the lanes issue a column: issued entries x C
    hazard: int           # entries that waited for a read-modify-write (none: the lanes forward)
    issued: int           # entries issued (nonzeros, or every entry in dense mode)
    nonzeros: int
    zeros_skipped: int
    stall: int = 0        # cycles lost to the host's handshakes (zero in the model)

    def to_dict(self):
        return asdict(self)


def cycle_counts(config, result, arch):
    """Cycle counts of the sequence whose engine-model ``result`` (run_engine) is given, on the hardware
    whose timing is ``arch`` (a MicroArch: ``hw.timing.micro_arch(config)``).

    Skip or dense mode comes from the result itself.
    """
    T, B, G = result.dz.shape
    H = G // 4
    C, R, every = config.cols_per_lane, config.n_rows, arch.feed_interval
    BC, BH = B * C, B * H
    A_prev, Z = 0, [0, 0]               # A_{n-1}; Z_{n-2}, Z_{n-1}
    readout_end = None                  # the cycle after the previous step's read-out
    issued = 0
    y_prev = None
    for n in range(T):
        t = T - 1 - n
        A = max(A_prev, Z[-2]) + BC
        W = 1 if n == 0 else Z[-1] + arch.rec_latency
        F = max(W, A + arch.load_latency) + 1
        kk, bb = issue_order(result.dz[t], result.dense)
        per_elem = np.bincount((kk % H) * B + bb, minlength=BH)     # entries of element (j, b), walk order
        x = None                         # the encoder took the previous element in cycle x
        free = None                      # ... and is free for the next one from this cycle
        y_last = None
        for e in np.flatnonzero(per_elem):   # elements without an entry never enter the dz buffer
            avail = F + int(e) * every + arch.dz_latency
            x = avail if free is None else max(avail, free, x + 1)
            offer = x + 1
            for _ in range(int(per_elem[e])):
                y = offer if y_prev is None else max(offer, y_prev + C)
                y_prev = y_last = y
                issued += 1
                offer = y + 1
            free = y_prev
        # the step's MAC work is done when the unit's last element is back, ...
        done = F + (BH - 1) * every + arch.feed_latency + arch.ggu_latency + arch.return_latency
        if y_last is not None:           # ... the encoder has taken the last element, its entries are written
            done = max(done, x + 1, y_last + C + arch.mac_drain)
        if readout_end is not None:      # ... and the previous step's read-out has finished
            done = max(done, readout_end)
        Z = [Z[-1], done]
        readout_end = done + arch.readout_latency + BC
        A_prev = A
    steps = readout_end + arch.rec_latency - 1
    nnz = int(np.count_nonzero(result.dz))
    return CycleCounts(cycles=steps + BH + R * C + R + arch.read_latency, mac_busy=issued * C, hazard=0, issued=issued,
                       nonzeros=nnz, zeros_skipped=0 if result.dense else result.dz.size - nnz, steps=steps)


def max_cycles(config, arch):
    """An upper bound of the cycles of any sequence the configuration allows on the hardware ``arch``
    (dense mode, every step as long as it can be)."""
    B, T, H, C = config.max_batch, config.max_seq, config.hidden_size, config.cols_per_lane
    R = config.n_rows
    step = B * (H * arch.feed_interval + C) + arch.dz_latency + R * B * C + B * C + arch.mac_drain \
        + arch.rec_latency + 64        # (64: the sequencer's and the short latencies' few cycles, with room)
    return T * step + B * H + R * (C + 1) + arch.read_latency + 64


def counter_width(config, arch):
    """Width of the engine's performance counters: enough for :func:`max_cycles` (every counter
    counts at most one per cycle)."""
    return max_cycles(config, arch).bit_length()
