"""The gate-gradient unit: the elementwise backward of one LSTM step, in fixed point, and the threshold.

One element (b, j) enters and leaves ``latency`` cycles later with its four
linear gate gradients dz (i, f, g, o; already thresholded against the ``tau``
register: |dz| < tau gives 0) and the recurrent dc_{t-1}. The arithmetic is
golden_model.engine_model's, operation for operation (see
:func:`golden_model.engine_model.gate_gradients`); ``overflow`` in the output
is set when any operation of the element left its format.

The computation is written once, as operations on named values
(:func:`operations`: 16 products rounded to a format, and sums, differences
and the threshold), and scheduled into pipeline stages as soon as their
operands are there. ``config.ggu_cycles`` = k chooses how:

- k = 1, fully pipelined: one element per cycle, 16 multipliers; every exact
  product has its own register before it is rounded (timing: no stage holds a
  multiplier and a carry chain). 11 stages.
- k > 1, folded: one element every k cycles on ``multipliers`` =
  ceil(16 / (k - 1)) shared multipliers (for the iCE40 UP5K's 8). The stages
  advance together once every k cycles; in phase p (0 .. k-2) of each period a
  multiplier forms one of its products from its stage's registers into a
  holding register, and the period's last cycle rounds them into the next
  stage. An element that finds the unit empty is taken at once (the phase
  restarts), later ones every k cycles, so a feed that offers its elements k
  cycles apart is never refused.

Either way the stages stall as a whole: they advance only when the output
register is empty or being taken, so no transfer is ever dropped or
duplicated whatever the valid/ready pattern.
"""

import math
from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.engine_config import EngineConfig

from . import fixed
from .bits import equals
from .fixed import shape_of

__all__ = ["GateGradUnit", "Schedule", "ggu_input_layout", "ggu_output_layout", "operations", "schedule"]


def ggu_input_layout(config):
    act, g = shape_of(config.act), shape_of(config.grad)
    return data.StructLayout({"i": act, "f": act, "g": act, "o": act, "tanh_c": act,
                              "c_prev": shape_of(config.state), "dh": g, "dh_rec": g, "dc_next": g})


def ggu_output_layout(config):
    g = shape_of(config.grad)
    return data.StructLayout({"dz_i": g, "dz_f": g, "dz_g": g, "dz_o": g, "dc_prev": g, "overflow": 1})


@dataclass(frozen=True)
class Op:
    """One operation of the unit: ``name`` := a function of the named ``args``.

    A product (``mul`` set: (frac of x, frac of y, output format)) is the exact x * y rounded to the
    output format; any other operation is ``fn(*args)`` -> (value, overflowed, format), logic that
    a stage computes in one cycle.
    """

    name: str
    args: tuple
    mul: tuple = None
    fn: object = None


def operations(config, tau):
    """The unit's operations in dependency order (golden_model.engine_model.gate_gradients)."""
    c = config
    g, act = c.grad, c.act
    A, S, G = act.frac, c.state.frac, g.frac
    one = 1 << A

    def sat(fmt):                  # an exact sum or difference through the overflow rule
        return lambda x: (*fixed.fit(x, fmt, c.overflow), fmt)

    def threshold(v):              # |v| < tau -> 0, by sign and zero tests only
        below = (v - tau)[-1]                       # v < tau (v >= 0 here)
        sum_ = v + tau
        above = ~sum_[-1] & sum_.any()              # v > -tau (v < 0 here)
        return Mux(Mux(v[-1], above, below), 0, v), 0, g

    ops = [Op("dh", ("dh", "dh_rec"), fn=lambda a, b: sat(g)(a + b))]
    ops += [Op("m" + q, (q,), fn=lambda x: sat(act)(one - x)) for q in "ifo"]              # 1 - x
    ops += [Op("tc2", ("tanh_c", "tanh_c"), mul=(A, A, act)), Op("gg2", ("g", "g"), mul=(A, A, act)),
            Op("do", ("dh", "tanh_c"), mul=(G, A, g)), Op("t1", ("dh", "o"), mul=(G, A, g))]
    ops += [Op("s" + q, (q, "m" + q), mul=(A, A, act)) for q in "ifo"]                     # x(1 - x)
    ops += [Op("u", ("tc2",), fn=lambda x: sat(act)(one - x)), Op("sg", ("gg2",), fn=lambda x: sat(act)(one - x)),
            Op("t2", ("t1", "u"), mul=(G, A, g)),
            Op("dc", ("t2", "dc_next"), fn=lambda a, b: sat(g)(a + b)),
            Op("di", ("dc", "g"), mul=(G, A, g)), Op("dg", ("dc", "i"), mul=(G, A, g)),
            Op("df", ("dc", "c_prev"), mul=(G, S, g)), Op("dc_prev", ("dc", "f"), mul=(G, A, g))]
    ops += [Op("raw_" + q, ("d" + q, "s" + q), mul=(G, A, g)) for q in "ifgo"]
    ops += [Op("dz_" + q, ("raw_" + q,), fn=threshold) for q in "ifgo"]
    return ops


OUTPUTS = ("dz_i", "dz_f", "dz_g", "dz_o", "dc_prev")


@dataclass(frozen=True)
class Schedule:
    """Where the unit's values are computed, and what that costs (see :func:`schedule`)."""

    stage_of: dict            # value name -> the stage that registers it (inputs: 0, the port itself)
    stages: int
    interval: int             # cycles per element
    multipliers: int
    latency: int              # cycles from an element's taking to its output being valid: (stages - 1) x interval + 1


def schedule(config):
    """Each value in the earliest stage its operands allow: a logic operation one stage after its
    last operand; a product one stage later still when pipelined (its exact product is registered
    first), and never from the input port when folded (a shared multiplier needs operands that hold
    still for a whole period)."""
    k = config.ggu_cycles
    ops = operations(config, None)
    at = {name: 0 for name in ggu_input_layout(config).members}
    for op in ops:
        ready = max(at[a] for a in op.args)
        if op.mul is None:
            at[op.name] = ready + 1
        else:
            at[op.name] = (max(ready, 1) + 1) if k > 1 else ready + 2
    stages = max(at[name] for name in OUTPUTS)
    n_mul = sum(op.mul is not None for op in ops)
    return Schedule(stage_of=at, stages=stages, interval=k,
                    multipliers=n_mul if k == 1 else math.ceil(n_mul / (k - 1)), latency=(stages - 1) * k + 1)


class GateGradUnit(wiring.Component):
    """The gate-gradient unit for ``config`` (an EngineConfig); see the module docstring.

    Ports
    -----
    i_elem : stream of ``ggu_input_layout``: one element's cache values, dh_out, dh_rec and dc_next.
    o_grad : stream of ``ggu_output_layout``: its thresholded dz, dc_prev and an overflow bit.
    tau : the threshold, a non-negative grad-format integer (hold it steady while elements flow).

    Attributes
    ----------
    interval : cycles per element (``config.ggu_cycles``).
    multipliers : how many multipliers the unit has.
    stages : pipeline stages.
    latency : cycles from the cycle an element is taken to the first cycle its output is valid,
        without stalls: (stages - 1) x interval + 1.
    """

    def __init__(self, config):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {type(config).__name__}")
        self.config = config
        super().__init__({
            "i_elem": In(stream.Signature(ggu_input_layout(config))),
            "o_grad": Out(stream.Signature(ggu_output_layout(config))),
            "tau": In(shape_of(config.grad)),
        })
        self._ops = operations(config, self.tau)
        plan = schedule(config)
        self.interval, self.multipliers, self.stages, self.latency = (
            plan.interval, plan.multipliers, plan.stages, plan.latency)
        self._stage_of = plan.stage_of

    def elaborate(self, platform):
        m = Module()
        c, k, at, n = self.config, self.interval, self._stage_of, self.stages
        folded = k > 1
        layout = ggu_input_layout(c)

        # where each value is last needed: the stage before its last reader, or the last stage
        need = {name: n for name in OUTPUTS}
        for op in self._ops:
            reads = at[op.name] - (2 if op.mul is not None and not folded else 1)
            for a in op.args:
                need[a] = max(need.get(a, 0), reads)

        # stage registers: vals[s][name] holds the value in stage s (stage 0: the input port)
        vals = [{name: self.i_elem.payload[name] for name in layout.members}] + [{} for _ in range(n)]
        valid = [self.i_elem.valid] + [Signal(name=f"s{s}_valid") for s in range(1, n + 1)]
        over = [0] + [Signal(name=f"s{s}_over") for s in range(1, n + 1)]
        step = Signal()                       # the stages advance in this cycle

        products = []                         # folded: (operation, its operands, its holding register)
        for s in range(1, n + 1):
            updates, overflow = [valid[s].eq(valid[s - 1])], over[s - 1]
            for op in self._ops:
                if op.mul is not None and not folded and at[op.name] - 1 == s:      # the exact product
                    x, y = (vals[s - 1][a] for a in op.args)
                    p = Signal(signed(len(x) + len(y)), name=f"s{s}_p_{op.name}")
                    vals[s]["p_" + op.name] = p
                    updates.append(p.eq(x * y))
                if at[op.name] != s:
                    continue
                if op.mul is not None:
                    fx, fy, fmt = op.mul
                    if folded:
                        x, y = (vals[s - 1][a] for a in op.args)
                        exact = Signal(signed(len(x) + len(y)), name=f"h_{op.name}")
                        products.append((op, (x, y), exact))
                    else:
                        exact = vals[s - 1]["p_" + op.name]
                    v, o = fixed.fit(fixed.round_shift(exact, fx + fy - fmt.frac, c.rounding), fmt, c.overflow)
                else:
                    v, o, fmt = op.fn(*(vals[s - 1][a] for a in op.args))
                reg = vals[s][op.name] = Signal(shape_of(fmt), name=f"s{s}_{op.name}")
                updates.append(reg.eq(v))
                overflow = overflow | o
            for name in at:                   # values carried through this stage
                if at[name] < s <= need.get(name, -1):
                    prev = vals[s - 1][name]
                    vals[s][name] = Signal(prev.shape(), name=f"s{s}_{name}")
                    updates.append(vals[s][name].eq(prev))
            updates.append(over[s].eq(overflow))
            if s < n:
                with m.If(step):
                    m.d.sync += updates
            else:                             # the output register: loaded when the stages advance,
                with m.If(step):              # emptied when taken
                    m.d.sync += updates
                with m.Elif(self.o_grad.ready):
                    m.d.sync += valid[n].eq(0)

        out_free = ~valid[n] | self.o_grad.ready
        if folded:
            # shared multipliers: product j is formed by multiplier j % M in phase j // M
            phase = Signal(range(k))
            empty = ~Cat(valid[1:]).any()
            m.d.comb += step.eq(out_free & (equals(phase, k - 1) | empty))
            with m.If(step | equals(phase, k - 1)):
                m.d.sync += phase.eq(0)
            with m.Else():
                m.d.sync += phase.eq(phase + 1)
            M = self.multipliers
            for unit in range(M):
                mine = products[unit::M]
                wa = max(len(x) for _, (x, _), _ in mine)
                wb = max(len(y) for _, (_, y), _ in mine)
                a, b = Signal(signed(wa), name=f"mul{unit}_a"), Signal(signed(wb), name=f"mul{unit}_b")
                prod = Signal(signed(wa + wb), name=f"mul{unit}_p")
                m.d.comb += prod.eq(a * b)
                with m.Switch(phase):
                    for p, (op, (x, y), exact) in enumerate(mine):
                        with m.Case(p):
                            m.d.comb += [a.eq(x), b.eq(y)]
                for p, (op, _, exact) in enumerate(mine):
                    with m.If(equals(phase, p)):
                        m.d.sync += exact.eq(prod)
        else:
            m.d.comb += step.eq(out_free)

        m.d.comb += [self.i_elem.ready.eq(step), self.o_grad.valid.eq(valid[n]),
                     self.o_grad.payload.overflow.eq(over[n])]
        for name in OUTPUTS:
            m.d.comb += self.o_grad.payload[name].eq(vals[n][name])
        return m
