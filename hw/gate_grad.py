"""The gate-gradient unit: the elementwise backward of one LSTM step, in fixed point, and the threshold.

One element (b, j) enters per cycle and leaves ``latency`` cycles later with
its four linear gate gradients dz (i, f, g, o; already thresholded against
the ``tau`` register: |dz| < tau gives 0) and the recurrent dc_{t-1}. The
arithmetic is golden_model.engine_model's, operation for operation (see
:func:`golden_model.engine_model.gate_gradients`); ``overflow`` in the output
is set when any operation of the element left its format.

The pipeline stalls as a whole: it advances when its last stage is empty or
being taken, so no transfer is ever dropped or duplicated whatever the
valid/ready pattern.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from golden_model.engine_config import EngineConfig

from . import fixed
from .fixed import shape_of

__all__ = ["GateGradUnit", "ggu_input_layout", "ggu_output_layout"]


def ggu_input_layout(config):
    act, g = shape_of(config.act), shape_of(config.grad)
    return data.StructLayout({"i": act, "f": act, "g": act, "o": act, "tanh_c": act,
                              "c_prev": shape_of(config.state), "dh": g, "dh_rec": g, "dc_next": g})


def ggu_output_layout(config):
    g = shape_of(config.grad)
    return data.StructLayout({"dz_i": g, "dz_f": g, "dz_g": g, "dz_o": g, "dc_prev": g, "overflow": 1})


class GateGradUnit(wiring.Component):
    """Pipelined gate-gradient unit for ``config`` (an EngineConfig).

    Ports
    -----
    i_elem : stream of ``ggu_input_layout``: one element's cache values, dh_out, dh_rec and dc_next.
    o_grad : stream of ``ggu_output_layout``: its thresholded dz, dc_prev and an overflow bit.
    tau : the threshold, a non-negative grad-format integer (hold it steady while elements flow).
    """

    #: Pipeline stages (cycles from an accepted input to its output being valid, without stalls).
    latency = 7

    def __init__(self, config):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {type(config).__name__}")
        self.config = config
        super().__init__({
            "i_elem": In(stream.Signature(ggu_input_layout(config))),
            "o_grad": Out(stream.Signature(ggu_output_layout(config))),
            "tau": In(shape_of(config.grad)),
        })

    def elaborate(self, platform):
        m = Module()
        c = self.config
        g, act = c.grad, c.act
        A, S, G = act.frac, c.state.frac, g.frac
        one = 1 << A

        def gm(x, fx, y, fy, out=g):   # exact product, rounded to a format: (value, overflowed)
            return fixed.mul(x, fx, y, fy, out, c.rounding, c.overflow)

        def sat(x, fmt=g):             # exact sum through the overflow rule: (value, overflowed)
            return fixed.fit(x, fmt, c.overflow)

        # The whole pipeline advances when its output register is empty or being taken.
        advance = Signal()
        m.d.comb += [advance.eq(~self.o_grad.valid | self.o_grad.ready), self.i_elem.ready.eq(advance)]

        first = {name: self.i_elem.payload[name] for name in ggu_input_layout(c).members}
        first.update(valid=self.i_elem.valid, over=0)
        pipeline = [first]

        def stage(results, keep):
            """Register ``results`` (name -> (value, overflowed, format)) and the ``keep`` names of the
            previous stage; the stage's overflow bit ORs the previous one with its own."""
            prev, n = pipeline[-1], len(pipeline)
            cur = {"valid": Signal(name=f"s{n}_valid"), "over": Signal(name=f"s{n}_over")}
            overflow = prev["over"]
            updates = [cur["valid"].eq(prev["valid"])]
            for name, (value, over, fmt) in results.items():
                cur[name] = Signal(shape_of(fmt), name=f"s{n}_{name}")
                updates.append(cur[name].eq(value))
                overflow = overflow | over
            for name in keep:
                cur[name] = Signal(prev[name].shape(), name=f"s{n}_{name}")
                updates.append(cur[name].eq(prev[name]))
            updates.append(cur["over"].eq(overflow))
            with m.If(advance):
                m.d.sync += updates
            pipeline.append(cur)
            return cur

        # 1: dh = sat(dh_out + dh_rec); the squares and x(1 - x) of the activations
        p = pipeline[-1]
        res = {"dh": (*sat(p["dh"] + p["dh_rec"]), g),
               "tc2": (*gm(p["tanh_c"], A, p["tanh_c"], A, act), act),
               "gg2": (*gm(p["g"], A, p["g"], A, act), act)}
        for q in ("i", "f", "o"):
            one_minus, o1 = sat(one - p[q], act)
            value, o2 = gm(p[q], A, one_minus, A, act)
            res["s" + q] = (value, o1 | o2, act)
        p = stage(res, keep=("i", "f", "g", "o", "tanh_c", "c_prev", "dc_next"))
        # 2: do = G(dh tanh_c), t1 = G(dh o), u = 1 - tanh_c^2, sg = 1 - g^2
        p = stage({"do": (*gm(p["dh"], G, p["tanh_c"], A), g), "t1": (*gm(p["dh"], G, p["o"], A), g),
                   "u": (*sat(one - p["tc2"], act), act), "sg": (*sat(one - p["gg2"], act), act)},
                  keep=("i", "f", "g", "c_prev", "dc_next", "si", "sf", "so"))
        # 3: t2 = G(t1 u)
        p = stage({"t2": (*gm(p["t1"], G, p["u"], A), g)},
                  keep=("do", "i", "f", "g", "c_prev", "dc_next", "si", "sf", "sg", "so"))
        # 4: dc = sat(t2 + dc_next)
        p = stage({"dc": (*sat(p["t2"] + p["dc_next"]), g)},
                  keep=("do", "i", "f", "g", "c_prev", "si", "sf", "sg", "so"))
        # 5: di, dg, df and dc_prev
        p = stage({"di": (*gm(p["dc"], G, p["g"], A), g), "dg": (*gm(p["dc"], G, p["i"], A), g),
                   "df": (*gm(p["dc"], G, p["c_prev"], S), g), "dc_prev": (*gm(p["dc"], G, p["f"], A), g)},
                  keep=("do", "si", "sf", "sg", "so"))
        # 6: the linear gate gradients
        p = stage({"dz_i": (*gm(p["di"], G, p["si"], A), g), "dz_f": (*gm(p["df"], G, p["sf"], A), g),
                   "dz_g": (*gm(p["dg"], G, p["sg"], A), g), "dz_o": (*gm(p["do"], G, p["so"], A), g)},
                  keep=("dc_prev",))
        # 7: the threshold, |dz| < tau -> 0
        res = {}
        for q in ("dz_i", "dz_f", "dz_g", "dz_o"):
            v = p[q]
            below = (v - self.tau)[-1]                  # v < tau (v >= 0 here)
            sum_ = v + self.tau
            above = ~sum_[-1] & sum_.any()              # v > -tau (v < 0 here)
            small = Mux(v[-1], above, below)            # |v| < tau, by sign and zero tests only
            res[q] = (Mux(small, 0, v), 0, g)
        last = stage(res, keep=("dc_prev",))
        assert len(pipeline) - 1 == self.latency

        m.d.comb += self.o_grad.valid.eq(last["valid"])
        for name in ("dz_i", "dz_f", "dz_g", "dz_o", "dc_prev"):
            m.d.comb += self.o_grad.payload[name].eq(last[name])
        m.d.comb += self.o_grad.payload.overflow.eq(last["over"])
        return m
