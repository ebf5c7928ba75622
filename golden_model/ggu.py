"""The gate-gradient unit's dataflow, written once: what the model computes and what the hardware schedules.

:data:`GGU_DATAFLOW` lists the unit's operations in order, each an :class:`Op`:
its result's name, its operands, its kind and its result's format. The kinds:

- ``mul``: the exact product of two operands, rounded to the result's format
  (``config.rounding``, then ``config.overflow``);
- ``add``: the exact sum of two operands put through the overflow rule;
- ``one_minus``: 1 - x in the act format, through the overflow rule;
- ``threshold``: x, or 0 where |x| < tau (the threshold register).

A format is one of EngineConfig's (``act``, ``state``, ``grad``): the inputs'
are in :data:`GGU_INPUT_FORMATS`, a result's is its operation's ``fmt``, and a
product's rounding shift follows from its operands' formats.

:class:`Arithmetic` gives each kind its meaning in terms of a few primitives
(the exact product, ``round_shift``, ``fit``, the threshold), and :func:`evaluate`
walks the dataflow with them. The model (golden_model.engine_model.gate_gradients)
supplies NumPy primitives, the hardware (hw.gate_grad) Amaranth ones; the
hardware applies the same operations where :func:`ggu_schedule` places them:
pipelined, folded onto shared multipliers, or serial.
"""

from dataclasses import dataclass
from typing import Callable

__all__ = ["PIPELINED_PRODUCT_STAGES", "Op", "KINDS", "GGU_DATAFLOW", "GGU_INPUTS", "GGU_INPUT_FORMATS", "GGU_DZ", "GGU_OUTPUTS", "GGU_PRODUCTS",
           "GGU_FORMATS", "format_of", "Arithmetic", "evaluate", "GGUSchedule", "ggu_schedule"]

#: The kinds of operation, see the module docstring.
KINDS = ("mul", "add", "one_minus", "threshold")


@dataclass(frozen=True)
class Op:
    """One operation of the dataflow: ``name`` = ``kind`` of ``args``, in the format ``fmt``."""

    name: str
    args: tuple
    kind: str
    fmt: str

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Op.kind must be one of {KINDS}, not {self.kind!r}")
        if self.fmt not in ("act", "grad"):
            raise ValueError(f"Op.fmt must be 'act' or 'grad', not {self.fmt!r}")
        arity = 2 if self.kind in ("mul", "add") else 1
        if len(self.args) != arity:
            raise ValueError(f"Op.args of a {self.kind} must be {arity} names, not {self.args!r}")


#: The unit's inputs and their formats: the cached gates, tanh(c) and c_{t-1}; dh_out, dh_rec, dc_next.
GGU_INPUT_FORMATS = {"i": "act", "f": "act", "g": "act", "o": "act", "tanh_c": "act", "c_prev": "state",
                     "dh": "grad", "dh_rec": "grad", "dc_next": "grad"}
GGU_INPUTS = tuple(GGU_INPUT_FORMATS)

#: The unit's operations in dataflow order (engine_model's docstring writes them out as formulas).
GGU_DATAFLOW = (
    Op("dh_sum", ("dh", "dh_rec"), "add", "grad"),                       # dh = dh_out + dh_rec
    Op("mi", ("i",), "one_minus", "act"), Op("mf", ("f",), "one_minus", "act"),
    Op("mo", ("o",), "one_minus", "act"),
    Op("tc2", ("tanh_c", "tanh_c"), "mul", "act"), Op("gg2", ("g", "g"), "mul", "act"),
    Op("do", ("dh_sum", "tanh_c"), "mul", "grad"), Op("t1", ("dh_sum", "o"), "mul", "grad"),
    Op("si", ("i", "mi"), "mul", "act"), Op("sf", ("f", "mf"), "mul", "act"),
    Op("so", ("o", "mo"), "mul", "act"),                                 # x (1 - x)
    Op("u", ("tc2",), "one_minus", "act"), Op("sg", ("gg2",), "one_minus", "act"),   # 1 - tanh(c)^2, 1 - g^2
    Op("t2", ("t1", "u"), "mul", "grad"),
    Op("dc", ("t2", "dc_next"), "add", "grad"),
    Op("di", ("dc", "g"), "mul", "grad"), Op("dg", ("dc", "i"), "mul", "grad"),
    Op("df", ("dc", "c_prev"), "mul", "grad"), Op("dc_prev", ("dc", "f"), "mul", "grad"),
    Op("raw_i", ("di", "si"), "mul", "grad"), Op("raw_f", ("df", "sf"), "mul", "grad"),
    Op("raw_g", ("dg", "sg"), "mul", "grad"), Op("raw_o", ("do", "so"), "mul", "grad"),   # dz before the threshold
    Op("dz_i", ("raw_i",), "threshold", "grad"), Op("dz_f", ("raw_f",), "threshold", "grad"),
    Op("dz_g", ("raw_g",), "threshold", "grad"), Op("dz_o", ("raw_o",), "threshold", "grad"),
)
#: The linear gate gradients, thresholded, in gate order i, f, g, o.
GGU_DZ = ("dz_i", "dz_f", "dz_g", "dz_o")
GGU_OUTPUTS = (*GGU_DZ, "dc_prev")
GGU_PRODUCTS = frozenset(op.name for op in GGU_DATAFLOW if op.kind == "mul")

#: The format (an EngineConfig attribute name) of every value: inputs and results.
GGU_FORMATS = {**GGU_INPUT_FORMATS, **{op.name: op.fmt for op in GGU_DATAFLOW}}


def format_of(config, name):
    """The QFormat of the unit's value ``name`` (an input or a result) in the EngineConfig ``config``."""
    return getattr(config, GGU_FORMATS[name])


@dataclass(frozen=True)
class Arithmetic:
    """The dataflow's operations on one kind of value, built from a few primitives.

    ``product(x, y)``: the exact product. ``round_shift(v, shift, rounding)``: ``v * 2**-shift``
    rounded. ``fit(v, fmt, overflow)``: the overflow rule of a QFormat; (value, overflowed).
    ``threshold(v)``: ``v``, or 0 where ``|v| < tau``. NumPy arrays in the model, Amaranth values
    in the hardware; rounding and overflow rules are ``config``'s.
    """

    config: object
    product: Callable
    round_shift: Callable
    fit: Callable
    threshold: Callable

    def format(self, name):
        """The QFormat of the value ``name``."""
        return format_of(self.config, name)

    def shifted(self, op, exact):
        """A product ``op``'s exact product ``exact`` rounded to the fractional bits of its format, before
        the overflow rule (:meth:`round` is ``fit`` of it)."""
        shift = sum(self.format(a).frac for a in op.args) - self.format(op.name).frac
        return self.round_shift(exact, shift, self.config.rounding)

    def round(self, op, exact):
        """A product ``op``'s result from its exact product ``exact``: (value, overflowed)."""
        return self.fit(self.shifted(op, exact), self.format(op.name), self.config.overflow)

    def apply(self, op, *operands):
        """The result of ``op`` on its ``operands``' values: (value, overflowed)."""
        out, c = self.format(op.name), self.config
        if op.kind == "mul":
            return self.round(op, self.product(*operands))
        if op.kind == "add":
            return self.fit(operands[0] + operands[1], out, c.overflow)
        if op.kind == "one_minus":
            return self.fit((1 << out.frac) - operands[0], out, c.overflow)
        return self.threshold(operands[0]), False


def evaluate(arithmetic, inputs):
    """Every value of the dataflow, from ``inputs`` (name -> value for each of :data:`GGU_INPUTS`),
    operation after operation with ``arithmetic``; and whether any operation overflowed (the ``|``
    of their flags)."""
    values, overflowed = dict(inputs), False
    for op in GGU_DATAFLOW:
        values[op.name], o = arithmetic.apply(op, *(values[a] for a in op.args))
        overflowed = overflowed | o
    return values, overflowed


# -- the schedule: the dataflow placed in time ------------------------------------------------------------

#: The pipelined unit's multipliers' register stages (hw.primitives.product): input, pipeline and output
#: registers, those of the ECP5's MULT18X18D. A product is then rounded (``Arithmetic.shifted``) into a
#: register of its own, and put to its format's overflow rule in the stage after.
PIPELINED_PRODUCT_STAGES = 3

@dataclass(frozen=True)
class GGUSchedule:
    """How the gate-gradient unit computes :data:`GGU_DATAFLOW`, and what it costs.

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


def ggu_schedule(k):
    """The gate-gradient unit for ``ggu_cycles`` = k: pipelined for k = 1; else serial on the fewest
    multipliers whose schedule fits in k cycles, when one does (the fewest registers); else folded.

    Every value goes in the earliest place its operands allow. Pipelined: a logic operation (any
    kind but ``mul``) one stage after its last operand, a product ``PIPELINED_PRODUCT_STAGES`` + 2
    (its exact product passes the multiplier's registers, then is rounded into a register first). Folded: a product one stage after its operands, never from the input port
    (a shared multiplier needs operands that hold still for a whole period). Folded and serial: a
    logic operation on a product's result is chained to the product's rounding (round, then the
    sum, difference or threshold, in one cycle).
    """
    products = GGU_PRODUCTS
    if k == 1 or k == 2:                  # (no serial schedule is that short)
        pass
    else:
        for m in range(1, len(products) + 1):
            plan = _serial(m)
            if plan.latency <= k:
                return GGUSchedule(**{**plan.__dict__, "interval": k})
    at = {name: 0 for name in GGU_INPUTS}
    chained = set()
    for op in GGU_DATAFLOW:
        name, args = op.name, op.args
        assert name not in at, f"{name} is defined twice"
        if op.kind == "mul":
            ready = max(at[a] for a in args)
            at[name] = (max(ready, 1) + 1) if k > 1 else ready + PIPELINED_PRODUCT_STAGES + 2
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
    products = GGU_PRODUCTS
    avail = {name: 1 for name in GGU_INPUTS}
    time, unit, used, chained = {}, {}, {}, set()
    for op in GGU_DATAFLOW:
        name, args = op.name, op.args
        ready = max(avail[a] for a in args)
        if op.kind == "mul":
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
