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
    #: Every product is registered before it is rounded and saturated, so no stage holds a multiplier
    #: and a carry chain.
    latency = 11

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
                shape = shape_of(fmt) if fmt is not None else value.shape()
                cur[name] = Signal(shape, name=f"s{n}_{name}")
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

        def prod(x, y):                # an exact product, registered before it is rounded (timing)
            return (x * y, 0, None)

        def rnd(x, fx, fy, out=g):     # a registered exact product rounded to a format
            return (*fixed.fit(fixed.round_shift(x, fx + fy - out.frac, c.rounding), out, c.overflow), out)

        # 1: dh = sat(dh_out + dh_rec); the squares of tanh(c) and g; 1 - i, 1 - f, 1 - o
        p = pipeline[-1]
        res = {"dh": (*sat(p["dh"] + p["dh_rec"]), g), "p_tc2": prod(p["tanh_c"], p["tanh_c"]),
               "p_gg2": prod(p["g"], p["g"])}
        for q in ("i", "f", "o"):
            res["m" + q] = (*sat(one - p[q], act), act)
        p = stage(res, keep=("i", "f", "g", "o", "tanh_c", "c_prev", "dc_next"))
        # 2: round the squares; products x(1 - x), dh tanh_c, dh o
        res = {"tc2": rnd(p["p_tc2"], A, A, act), "gg2": rnd(p["p_gg2"], A, A, act),
               "p_do": prod(p["dh"], p["tanh_c"]), "p_t1": prod(p["dh"], p["o"])}
        for q in ("i", "f", "o"):
            res["p_s" + q] = prod(p[q], p["m" + q])
        p = stage(res, keep=("i", "f", "g", "c_prev", "dc_next"))
        # 3: do = G(dh tanh_c), t1 = G(dh o), x(1 - x) rounded; u = 1 - tanh_c^2, sg = 1 - g^2
        res = {"do": rnd(p["p_do"], G, A), "t1": rnd(p["p_t1"], G, A),
               "u": (*sat(one - p["tc2"], act), act), "sg": (*sat(one - p["gg2"], act), act)}
        for q in ("i", "f", "o"):
            res["s" + q] = rnd(p["p_s" + q], A, A, act)
        p = stage(res, keep=("i", "f", "g", "c_prev", "dc_next"))
        # 4, 5: t2 = G(t1 u)
        p = stage({"p_t2": prod(p["t1"], p["u"])},
                  keep=("do", "i", "f", "g", "c_prev", "dc_next", "si", "sf", "sg", "so"))
        p = stage({"t2": rnd(p["p_t2"], G, A)},
                  keep=("do", "i", "f", "g", "c_prev", "dc_next", "si", "sf", "sg", "so"))
        # 6: dc = sat(t2 + dc_next)
        p = stage({"dc": (*sat(p["t2"] + p["dc_next"]), g)},
                  keep=("do", "i", "f", "g", "c_prev", "si", "sf", "sg", "so"))
        # 7, 8: di, dg, df and dc_prev
        p = stage({"p_di": prod(p["dc"], p["g"]), "p_dg": prod(p["dc"], p["i"]), "p_df": prod(p["dc"], p["c_prev"]),
                   "p_dcp": prod(p["dc"], p["f"])}, keep=("do", "si", "sf", "sg", "so"))
        p = stage({"di": rnd(p["p_di"], G, A), "dg": rnd(p["p_dg"], G, A), "df": rnd(p["p_df"], G, S),
                   "dc_prev": rnd(p["p_dcp"], G, A)}, keep=("do", "si", "sf", "sg", "so"))
        # 9, 10: the linear gate gradients
        p = stage({"p_dz_i": prod(p["di"], p["si"]), "p_dz_f": prod(p["df"], p["sf"]),
                   "p_dz_g": prod(p["dg"], p["sg"]), "p_dz_o": prod(p["do"], p["so"])}, keep=("dc_prev",))
        p = stage({"dz_" + q: rnd(p["p_dz_" + q], G, A) for q in "ifgo"}, keep=("dc_prev",))
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
