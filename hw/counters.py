"""The engine's own evidence: performance counters and sticky overflow flags.

The counters (:data:`COUNTERS`, in the order of golden_model.cycles.CycleCounts) count
the cycles of a sequence, of its backward steps, of the lanes' work, the hazard
bubbles, the issued entries, and the nonzero and skipped dz; the flags
(golden_model.engine_model.FLAGS) say whether any value left its format anywhere
in the sequence. Both are cleared when a sequence starts and hold their values
until the next one; golden_model.cycles predicts every counter exactly.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data
from amaranth.lib.wiring import In, Out

from golden_model.cycles import counter_width
from golden_model.engine_model import FLAGS
from golden_model.ggu import GGU_DZ

from .gate_grad import ggu_output_layout
from .part import EnginePart
from .timing import micro_arch

__all__ = ["COUNTERS", "PerfCounters", "counters_layout", "flags_layout"]

#: The performance counters, in the order of golden_model.cycles.CycleCounts.
COUNTERS = ("cycles", "steps", "mac_busy", "hazard", "issued", "nonzeros", "zeros_skipped")


def counters_layout(config):
    """The counters as one word; each as wide as the longest sequence's cycle count needs."""
    width = counter_width(config, micro_arch(config))
    return data.StructLayout({name: width for name in COUNTERS})


def flags_layout():
    return data.StructLayout({name: 1 for name in FLAGS})


class PerfCounters(EnginePart):
    """The counters and flags, from what the engine's parts do each cycle; see the module docstring.

    Ports
    -----
    clear : a sequence starts (clearing wins over counting; an element's nonzeros reach the counters three
        cycles after its result, the lanes' events one cycle after they happen, and a sequence starts with
        neither in flight).
    running, stepping : between the start and the last output; and the end of the last step.
    dense : dense mode (no dz counts as skipped).
    issued, hazard, mac_busy : an entry goes to the lanes; an entry waits for a read-modify-write;
        the lanes work on a column.
    grad_valid, grad : an element's result leaves the gate-gradient unit.
    ovf_dw, ovf_da, ovf_db, ovf_out : an accumulator or a read-out word overflowed.
    counters, flags : the values.
    """

    def members(self, c):
        return {
            "clear": In(1), "running": In(1), "stepping": In(1), "dense": In(1),
            "issued": In(1), "hazard": In(1), "mac_busy": In(1),
            "grad_valid": In(1), "grad": In(ggu_output_layout(c)),
            "ovf_dw": In(1), "ovf_da": In(1), "ovf_db": In(1), "ovf_out": In(1),
            "counters": Out(counters_layout(c)), "flags": Out(flags_layout()),
        }

    def elaborate(self, platform):
        m = Module()
        cnt, flags = self.counters, self.flags
        # the lanes' events into registers beside the counters first (the lanes' sequencer is across the
        # chip, and its issue logic is deep enough already): counted a cycle late, long before a sequence ends
        lanes = Signal(data.StructLayout({"issued": 1, "hazard": 1, "mac_busy": 1}))
        m.d.sync += [lanes.issued.eq(self.issued), lanes.hazard.eq(self.hazard), lanes.mac_busy.eq(self.mac_busy)]
        for name, event in (("cycles", self.running), ("steps", self.stepping), ("issued", lanes.issued),
                            ("hazard", lanes.hazard), ("mac_busy", lanes.mac_busy)):
            with m.If(event):
                m.d.sync += cnt[name].eq(cnt[name] + 1)
        for name, event in (("dw", self.ovf_dw), ("da", self.ovf_da), ("db", self.ovf_db), ("out", self.ovf_out),
                            ("gate", self.grad_valid & self.grad.overflow)):
            with m.If(event):
                m.d.sync += flags[name].eq(1)

        # an element's nonzeros and skipped zeros: its four dz's nonzero bits into a register by the unit, then
        # into one beside the counters (the unit's output registers are across the chip: one register between
        # them was a route of 8.5 ns into the counts' logic), then its counts at the counters' width (three
        # cycles late)
        ones, zeros = Signal.like(cnt.nonzeros), Signal.like(cnt.zeros_skipped)
        found, element = Signal(4), Signal()
        nonzero, counted = Signal(4), Signal()
        m.d.sync += [element.eq(self.grad_valid), counted.eq(element), nonzero.eq(found)]
        for q, name in enumerate(GGU_DZ):
            m.d.sync += found[q].eq(self.grad[name].any())
        m.d.sync += [ones.eq(0), zeros.eq(0)]
        with m.If(counted):
            with m.Switch(nonzero):
                for pattern in range(16):
                    with m.Case(pattern):
                        n = bin(pattern).count("1")
                        m.d.sync += [ones.eq(n), zeros.eq(Mux(self.dense, 0, 4 - n))]
        m.d.sync += [cnt.nonzeros.eq(cnt.nonzeros + ones), cnt.zeros_skipped.eq(cnt.zeros_skipped + zeros)]
        with m.If(self.clear):
            m.d.sync += [cnt.eq(0), flags.eq(0)]
        return m
