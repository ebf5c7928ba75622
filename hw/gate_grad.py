"""The gate-gradient unit: the elementwise backward of one LSTM step, in fixed point, and the threshold.

One element (b, j) enters and leaves ``latency`` cycles later with its four
linear gate gradients dz (i, f, g, o; already thresholded against the ``tau``
register: |dz| < tau gives 0) and the recurrent dc_{t-1}. The arithmetic is
golden_model.engine_model's, operation for operation: both follow the
dataflow of golden_model.ggu (``GGU_DATAFLOW``: 16 products rounded to a
format; sums, differences and the threshold), the model with NumPy's
arithmetic, the unit with hw.fixed's (:func:`arithmetic`). Its schedule,
``golden_model.ggu.ggu_schedule``, places each operation in time for
``config.ggu_cycles`` = k, in one of three forms:

- **pipelined** (k = 1): one element per cycle on 16 multipliers, 23 stages;
  every exact product passes a multiplier's input, pipeline and output
  registers (hw.primitives.product, ``PIPELINED_PRODUCT_STAGES``: a MULT18X18D
  with its own registers on the ECP5), is rounded into a register, and put to
  its format's overflow rule in the next stage (no stage holds a multiplier
  and a carry chain, nor the rounding's increment and the saturation).
- **folded** (k = 2 .. 9): the same kind of pipeline whose 5 stages advance
  together once every k cycles; in phase p (0 .. k-2) of each period one of
  ceil(16 / (k - 1)) shared multipliers forms a product from its stage's
  registers into a holding register, and the period's last cycle rounds them
  into the next stage (with the sum or threshold that follows). An element
  that finds the unit empty is taken at once (the phase restarts), later ones
  every k cycles.
- **serial** (k >= 10): one element at a time, each value in one register
  written once, the products on as few multipliers as fit the schedule in k
  cycles (3 for k = 10, 2 from 11, 1 from 18): the fewest registers, for parts
  whose logic cells run out first (the iCE40 UP5K). The threshold works on
  the registered products at the output.

``overflow`` in the output is set when any operation of the element left its
format. Whatever the form, no transfer is ever dropped or duplicated under
any valid/ready pattern: the unit takes an element only when its output
register will be free for it.
"""

import itertools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from golden_model.ggu import (GGU_DATAFLOW, GGU_INPUTS, GGU_OUTPUTS, GGU_PRODUCTS, PIPELINED_PRODUCT_STAGES, Arithmetic,
                              format_of, ggu_schedule)

from . import fixed
from .bits import equals
from .fixed import shape_of
from .part import EnginePart
from .primitives import copy, family, fits_mult18x18d, product

__all__ = ["GateGradUnit", "ggu_input_layout", "ggu_output_layout", "arithmetic", "tau_less_one"]


def ggu_input_layout(config):
    """One element's inputs (golden_model.ggu.GGU_INPUTS), each in its format."""
    return data.StructLayout({name: shape_of(format_of(config, name)) for name in GGU_INPUTS})


def ggu_output_layout(config):
    """One element's outputs (golden_model.ggu.GGU_OUTPUTS), each in its format, and the overflow bit."""
    return data.StructLayout({**{name: shape_of(format_of(config, name)) for name in GGU_OUTPUTS}, "overflow": 1})


def arithmetic(config, tau):
    """The dataflow's arithmetic in hardware (a golden_model.ggu.Arithmetic on Amaranth values):
    hw.fixed's rounding and overflow rule, and the threshold against the ``tau`` register: a value, or a
    function called once per threshold that returns registers of its own holding tau and tau - 1."""

    def threshold(v):              # |v| < tau -> 0, by sign tests only
        if callable(tau):          # one carry chain from registers per test, then one LUT per bit
            tau_, tau_less = tau()
            below = (v - tau_)[-1]                  # v < tau (v >= 0 here)
            above = ~(v + tau_less)[-1]             # v >= 1 - tau, i.e. v > -tau (v < 0 here)
        else:
            below = (v - tau)[-1]
            sum_ = v + tau
            above = ~sum_[-1] & sum_.any()
        return Mux(Mux(v[-1], above, below), 0, v)

    return Arithmetic(config, product=operator.mul, round_shift=fixed.round_shift, fit=fixed.fit,
                      threshold=threshold)


def tau_less_one(tau):
    """tau - 1 in tau's (signed) format, for :func:`arithmetic`'s registers: the lowest tau, which no host
    should send, stays itself (as tau - 1 it zeroes no negative v either, as the model's |v| < tau)."""
    shape, lowest = tau.shape(), 1 << (len(tau) - 1)          # (the lowest's bits)
    # (a multiplexer of constants of tau's width: operands of equal width in the exported Verilog)
    return (tau + Mux(equals(tau, lowest), Const(0, shape), Const(-1, shape)))[:len(tau)].as_signed()


class GateGradUnit(EnginePart):
    """The gate-gradient unit for ``config`` (an EngineConfig); see the module docstring.

    Ports
    -----
    i_elem : stream of ``ggu_input_layout``: one element's cache values, dh_out, dh_rec and dc_next.
    o_grad : stream of ``ggu_output_layout``: its thresholded dz, dc_prev and an overflow bit.
    tau : the threshold, a non-negative grad-format integer (hold it steady from two cycles before an
        element is taken until its result leaves: the pipelined and folded forms register it, and tau - 1
        twice, first).
    enable : the enable of the unit's clock domain (high when there is none): the clock enable of the
        pipelined form's multipliers (hw.primitives.product), which an ``EnableInserter`` does not reach.

    Attributes
    ----------
    form : "pipelined", "folded" or "serial".
    interval : cycles per element (``config.ggu_cycles``): the unit takes an element every
        ``interval`` cycles when its output is taken at once.
    multipliers : how many multipliers the unit has.
    latency : cycles from the cycle an element is taken to the first cycle its output is valid,
        without stalls.
    """

    def __init__(self, config):
        super().__init__(config)
        self.plan = ggu_schedule(config.ggu_cycles)
        self.form, self.interval = self.plan.form, self.plan.interval
        self.multipliers, self.latency = self.plan.multipliers, self.plan.latency

    def members(self, config):
        return {"i_elem": In(stream.Signature(ggu_input_layout(config))),
                "o_grad": Out(stream.Signature(ggu_output_layout(config))),
                "tau": In(shape_of(config.grad)),
                "enable": In(1, init=1)}

    def elaborate(self, platform):
        m = Module()
        tau = self.tau
        if self.form != "serial":
            # copies of tau and tau - 1 beside each threshold (the engine's tau register is far away, and one
            # copy for all four thresholds' carry chains was an ECP5 critical path: 4.7 ns of routing); with
            # tau - 1 in a register, v > -tau is the sign of one sum, not a sum and a test of all its bits.
            # tau - 1 is formed once, into a register whose copies they are (formed into each copy, its carry
            # chain from the engine's register was routed to the farthest copy: an ECP5 critical path)
            copies, form = itertools.count(), family(platform)
            less = Signal.like(self.tau, name="tau_less", reset_less=True)
            m.d.sync += less.eq(tau_less_one(self.tau))

            def tau():
                n = next(copies)
                return (copy(m, self.tau, f"tau_copy{n}", family=form), copy(m, less, f"tau_less{n}", family=form))
        arith = arithmetic(self.config, tau)
        if self.form == "serial":
            self._serial(m, arith)
        else:
            self._pipeline(m, arith, family(platform))
        return m

    # -- pipelined and folded --------------------------------------------------------------------------

    def _pipeline(self, m, arith, form):
        plan, k = self.plan, self.interval
        at, n, folded = plan.stage_of, plan.stages, self.form == "folded"
        multiply = PIPELINED_PRODUCT_STAGES

        def source(op, a):                 # the stage whose register ``op`` reads its operand ``a`` from
            if op.kind == "mul":
                return at[op.name] - (1 if folded else multiply + 2)
            chained = op.name in plan.chained and a in GGU_PRODUCTS and at[a] == at[op.name]
            return at[a] if chained else at[op.name] - 1

        need = {name: n for name in GGU_OUTPUTS}     # the last stage that must hold each value
        for op in GGU_DATAFLOW:
            for a in op.args:
                need[a] = max(need.get(a, 0), source(op, a))

        vals = [{name: self.i_elem.payload[name] for name in GGU_INPUTS}] + [{} for _ in range(n)]
        valid = [self.i_elem.valid] + [Signal(name=f"s{s}_valid") for s in range(1, n + 1)]
        over = [0] + [Signal(name=f"s{s}_over") for s in range(1, n + 1)]
        step = Signal()                    # the stages advance in this cycle
        shared = []                        # folded: (operands, holding register) of each product
        for s in range(1, n + 1):
            updates, overflow = [valid[s].eq(valid[s - 1])], over[s - 1]
            now = {}                       # this stage's results before their registers
            for op in GGU_DATAFLOW:
                name = op.name
                if op.kind == "mul" and not folded and at[name] - multiply - 1 == s:     # the exact product first
                    x, y = (vals[s - 1][a] for a in op.args)
                    with m.If(step):       # (the generic form's registers; the ECP5's have ``enable``)
                        vals[at[name] - 2]["p_" + name] = product(
                            m, x, y, multiply, f"s{s}_p_{name}", family=form if fits_mult18x18d(x, y) else "generic",
                            enable=step & self.enable)
                if op.kind == "mul" and not folded and at[name] - 1 == s:           # then rounded
                    shifted = Value.cast(arith.shifted(op, vals[s - 1]["p_" + name]))
                    r = vals[s]["r_" + name] = Signal(shifted.shape(), name=f"s{s}_r_{name}")
                    updates.append(r.eq(shifted))
                if at[name] != s:
                    continue
                if op.kind == "mul":
                    if folded:
                        x, y = (vals[s - 1][a] for a in op.args)
                        exact = Signal(signed(len(x) + len(y)), name=f"h_{name}")
                        shared.append(((x, y), exact))
                        v, o = arith.round(op, exact)
                    else:                  # rounded in the stage before: the overflow rule
                        v, o = arith.fit(vals[s - 1]["r_" + name], arith.format(name), self.config.overflow)
                else:
                    v, o = arith.apply(op, *(now[a] if source(op, a) == s else vals[s - 1][a] for a in op.args))
                now[name] = v
                reg = vals[s][name] = Signal(shape_of(arith.format(name)), name=f"s{s}_{name}")
                updates.append(reg.eq(v))
                overflow = overflow | o
            for name in at:                # values carried through this stage
                if at[name] < s <= need.get(name, -1):
                    prev = vals[s - 1][name]
                    vals[s][name] = Signal(prev.shape(), name=f"s{s}_{name}")
                    updates.append(vals[s][name].eq(prev))
            updates.append(over[s].eq(overflow))
            with m.If(step):
                m.d.sync += updates
            if s == n:                     # the output register empties when taken
                with m.Elif(self.o_grad.ready):
                    m.d.sync += valid[n].eq(0)

        out_free = ~valid[n] | self.o_grad.ready
        if folded:                         # product j on multiplier j % M in phase j // M
            phase = Signal(range(k))
            empty = ~Cat(valid[1:]).any()
            m.d.comb += step.eq(out_free & (equals(phase, k - 1) | empty))
            with m.If(step | equals(phase, k - 1)):
                m.d.sync += phase.eq(0)
            with m.Else():
                m.d.sync += phase.eq(phase + 1)
            for unit in range(self.multipliers):
                mine = shared[unit::self.multipliers]
                a, b, prod = self._multiplier(m, unit, [xy for xy, _ in mine])
                with m.Switch(phase):
                    for p, ((x, y), _) in enumerate(mine):
                        with m.Case(p):
                            m.d.comb += [a.eq(x), b.eq(y)]
                    with m.Default():       # idle phases (a complete case: Verilator's lint asks for one)
                        m.d.comb += [a.eq(0), b.eq(0)]
                for p, (_, exact) in enumerate(mine):
                    with m.If(equals(phase, p)):
                        m.d.sync += exact.eq(prod)
        else:
            m.d.comb += step.eq(out_free)
        m.d.comb += [self.i_elem.ready.eq(step), self.o_grad.valid.eq(valid[n]),
                     self.o_grad.payload.overflow.eq(over[n])]
        for name in GGU_OUTPUTS:
            m.d.comb += self.o_grad.payload[name].eq(vals[n][name])

    @staticmethod
    def _multiplier(m, unit, operands):
        wa, wb = max(len(x) for x, _ in operands), max(len(y) for _, y in operands)
        a, b = Signal(signed(wa), name=f"mul{unit}_a"), Signal(signed(wb), name=f"mul{unit}_b")
        prod = Signal(signed(wa + wb), name=f"mul{unit}_p")
        m.d.comb += prod.eq(a * b)
        return a, b, prod

    # -- serial ------------------------------------------------------------------------------------------

    def _serial(self, m, arith):
        plan = self.plan
        last = self.latency - 1            # the cycle whose end registers the outputs
        busy, count = Signal(), Signal(range(last + 1))
        take = self.i_elem.valid & self.i_elem.ready
        m.d.comb += self.i_elem.ready.eq(~busy & (~self.o_grad.valid | self.o_grad.ready))
        with m.If(self.o_grad.valid & self.o_grad.ready):
            m.d.sync += self.o_grad.valid.eq(0)
        with m.If(take):
            m.d.sync += [busy.eq(1), count.eq(1)]
        with m.Elif(busy):
            m.d.sync += count.eq(count + 1)
            with m.If(equals(count, last)):
                m.d.sync += [busy.eq(0), self.o_grad.valid.eq(1)]

        regs = {name: Signal.like(self.i_elem.payload[name], name=f"in_{name}") for name in GGU_INPUTS}
        with m.If(take):
            m.d.sync += [regs[name].eq(self.i_elem.payload[name]) for name in GGU_INPUTS]
        for op in GGU_DATAFLOW:                   # one register per value
            regs[op.name] = Signal(shape_of(arith.format(op.name)), name=f"r_{op.name}")

        def at(cycle):
            return busy & equals(count, cycle)

        # the multipliers: operands chosen by the cycle, the exact product registered and rounded in
        # the cycle after
        exact = {}
        for unit in range(self.multipliers):
            mine = [(plan.time_of[op.name], op.name, op.args) for op in GGU_DATAFLOW
                    if op.kind == "mul" and plan.multiplier_of[op.name] == unit]
            a, b, p = self._multiplier(m, unit, [(regs[x], regs[y]) for _, _, (x, y) in mine])
            q = Signal.like(p, name=f"mul{unit}_q")
            m.d.sync += q.eq(p)
            with m.Switch(count):
                for t, name, (x, y) in mine:
                    with m.Case(t):
                        m.d.comb += [a.eq(regs[x]), b.eq(regs[y])]
                with m.Default():           # idle cycles (a complete case: Verilator's lint asks for one)
                    m.d.comb += [a.eq(0), b.eq(0)]
            exact.update({name: q for _, name, _ in mine})

        overflow = Signal()
        with m.If(take):
            m.d.sync += overflow.eq(0)
        now, flags = {}, {}
        for op in GGU_DATAFLOW:
            name = op.name
            if name in GGU_OUTPUTS and name in plan.chained:
                # the threshold reads the registered product and drives the output: no register of its
                # own, and rounding and threshold are not one cycle's path (the critical one on a UP5K)
                regs[name] = arith.apply(op, *(regs[a] for a in op.args))[0]
                continue
            if op.kind == "mul":
                v, o = arith.round(op, exact[name])
            else:
                v, o = arith.apply(op, *(now[a] if name in plan.chained and a in GGU_PRODUCTS else regs[a]
                                         for a in op.args))
            now[name] = v
            cycle = plan.write_cycle(name)
            with m.If(at(cycle)):
                m.d.sync += regs[name].eq(v)
            flags.setdefault(cycle, []).append(o)
        for cycle, over in flags.items():
            with m.If(at(cycle)):
                m.d.sync += overflow.eq(overflow | Cat(*over).any())
        m.d.comb += self.o_grad.payload.overflow.eq(overflow)
        for name in GGU_OUTPUTS:
            m.d.comb += self.o_grad.payload[name].eq(regs[name])
