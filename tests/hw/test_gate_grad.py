"""The gate-gradient unit equals golden_model.engine_model.gate_gradients for every element, under random
valid/ready, pipelined and folded onto fewer multipliers; its latency and interval are what it says;
overflow is reported."""

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.sim import Simulator

from golden_model.engine_config import EngineConfig
from golden_model.engine_model import gate_gradients
from hw.fixed import shape_of
from hw.gate_grad import GateGradUnit, arithmetic, tau_less_one

from sim.streams import run_stream_unit

CFG = EngineConfig(input_size=4, hidden_size=1, lanes=1, max_batch=1, max_seq=1)


def random_elements(cfg, n, rng, extreme=False):
    act, st, g = cfg.act, cfg.state, cfg.grad
    one = 1 << act.frac
    if extreme:  # the whole integer range of every format: overflow everywhere
        pick = lambda fmt, size: rng.integers(fmt.min_int, fmt.max_int + 1, size)  # noqa: E731
        return {"gates": pick(act, (n, 4)), "tanh_c": pick(act, (n, 1)), "c_prev": pick(st, (n, 1)),
                "dh": pick(g, (n, 1)), "dh_rec": pick(g, (n, 1)), "dc_next": pick(g, (n, 1))}
    scale = 1 << 12
    return {"gates": np.concatenate([rng.integers(0, one + 1, (n, 2)), rng.integers(-one, one + 1, (n, 1)),
                                     rng.integers(0, one + 1, (n, 1))], axis=1),
            "tanh_c": rng.integers(-one, one + 1, (n, 1)), "c_prev": rng.integers(-8 << st.frac, 8 << st.frac, (n, 1)),
            "dh": rng.integers(-scale, scale, (n, 1)), "dh_rec": rng.integers(-scale, scale, (n, 1)),
            "dc_next": rng.integers(-scale, scale, (n, 1))}


def run_unit(cfg, elems, tau, *, gap, stall, seed=0):
    dut = GateGradUnit(cfg)
    n = len(elems["gates"])
    return run_stream_unit(dut, dut.i_elem, payloads_of(elems), dut.o_grad, n, gap=gap, stall=stall, seed=seed,
                           setup=lambda ctx: ctx.set(dut.tau, tau))


def expected(cfg, elems, tau):
    _, dz, dc_prev, over = gate_gradients(cfg, elems["gates"], elems["tanh_c"], elems["c_prev"], elems["dh"],
                                          elems["dh_rec"], elems["dc_next"], tau)
    return dz, dc_prev[:, 0], over[:, 0]


def check(out, cfg, elems, tau):
    dz, dc_prev, over = expected(cfg, elems, tau)
    assert len(out) == len(dz)
    got = np.array([[o.dz_i, o.dz_f, o.dz_g, o.dz_o] for o in out])
    np.testing.assert_array_equal(got, dz)
    np.testing.assert_array_equal([o.dc_prev for o in out], dc_prev)
    np.testing.assert_array_equal([o.overflow for o in out], over)


@pytest.mark.parametrize("gap, stall", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.7), (0.4, 0.9)])
@pytest.mark.parametrize("rounding, k", [("half-even", 1), ("truncate", 1), ("half-even", 5), ("truncate", 2),
                                         ("half-up", 10), ("half-even", 18)])
def test_unit_equals_the_model_under_random_handshakes(gap, stall, rounding, k):
    cfg = EngineConfig.from_dict({**CFG.to_dict(), "rounding": rounding, "ggu_cycles": k})
    rng = np.random.default_rng(7)
    elems = random_elements(cfg, 120, rng)
    tau = 40
    out = run_unit(cfg, elems, tau, gap=gap, stall=stall, seed=int(gap * 10 + stall * 100))
    check(out, cfg, elems, tau)
    dz, _, _ = expected(cfg, elems, tau)
    assert 0.1 < (dz == 0).mean() < 0.9  # the threshold did something, and not everything


@pytest.mark.parametrize("k", [1, 4, 11])
def test_saturating_inputs_raise_the_overflow_bit_as_in_the_model(k):
    cfg = EngineConfig.from_dict({**CFG.to_dict(), "ggu_cycles": k})
    rng = np.random.default_rng(3)
    elems = random_elements(cfg, 40, rng, extreme=True)
    out = run_unit(cfg, elems, 0, gap=0.2, stall=0.3)
    check(out, cfg, elems, 0)
    assert any(o.overflow for o in out)


def payloads_of(elems):
    return [{"i": int(e[0]), "f": int(e[1]), "g": int(e[2]), "o": int(e[3]), "tanh_c": int(elems["tanh_c"][n, 0]),
             "c_prev": int(elems["c_prev"][n, 0]), "dh": int(elems["dh"][n, 0]), "dh_rec": int(elems["dh_rec"][n, 0]),
             "dc_next": int(elems["dc_next"][n, 0])} for n, e in enumerate(elems["gates"])]


@pytest.mark.parametrize("k, form, multipliers, latency", [
    (1, "pipelined", 16, 23), (2, "folded", 16, 9), (4, "folded", 6, 17), (9, "folded", 2, 37),
    (10, "serial", 3, 10), (11, "serial", 2, 11), (17, "serial", 2, 11), (18, "serial", 1, 18)])
def test_a_feed_k_cycles_apart_is_never_refused_and_each_output_comes_latency_cycles_later(k, form, multipliers,
                                                                                           latency):
    """Elements offered every k cycles (after a gap that empties the unit, the next one is taken at
    once, in any phase): each is taken the cycle it is offered and its output is valid exactly
    ``latency`` cycles after, for one cycle; the results equal the model's."""
    cfg = EngineConfig.from_dict({**CFG.to_dict(), "ggu_cycles": k})
    dut = GateGradUnit(cfg)
    assert (dut.form, dut.interval, dut.multipliers, dut.latency) == (form, k, multipliers, latency)
    rng = np.random.default_rng(0)
    elems = random_elements(cfg, 6, rng)
    payloads = payloads_of(elems)
    offers = [0, k, 2 * k, 2 * k + dut.latency + 3, 3 * k + dut.latency + 3, 4 * k + dut.latency + 3]
    taken, seen, outputs = [], [], []
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        ctx.set(dut.tau, 0)
        ctx.set(dut.o_grad.ready, 1)
        for cycle in range(offers[-1] + dut.latency + 2):
            n = offers.index(cycle) if cycle in offers else None
            ctx.set(dut.i_elem.valid, n is not None)
            if n is not None:
                ctx.set(dut.i_elem.payload, payloads[n])
                if ctx.get(dut.i_elem.ready):
                    taken.append(cycle)
            if ctx.get(dut.o_grad.valid):
                seen.append(cycle)
                outputs.append(ctx.get(dut.o_grad.payload))
            await ctx.tick()

    sim.add_testbench(bench)
    sim.run()
    assert taken == offers
    assert seen == [c + dut.latency for c in offers]
    check(outputs, cfg, elems, 0)


@pytest.mark.parametrize("k", [1, 3, 5, 10, 18])
def test_the_design_has_as_many_multipliers_as_it_says(k):
    from amaranth.back import rtlil
    dut = GateGradUnit(EngineConfig.from_dict({**CFG.to_dict(), "ggu_cycles": k}))
    text = rtlil.convert(dut)
    assert text.count("cell $mul ") == dut.multipliers


class _Threshold(Elaboratable):
    """``arithmetic(...).threshold`` alone: with tau as a register (the serial form's), or from registers of
    tau and tau - 1 (the pipelined and folded forms'); either follows ``tau`` a cycle later."""

    def __init__(self, cfg, registered):
        self.cfg, self.registered = cfg, registered
        self.v, self.tau, self.out = (Signal(shape_of(cfg.grad)) for _ in range(3))

    def elaborate(self, platform):
        m = Module()
        held, less = Signal.like(self.tau), Signal.like(self.tau)
        m.d.sync += [held.eq(self.tau), less.eq(tau_less_one(self.tau))]
        tau = (lambda: (held, less)) if self.registered else held
        m.d.comb += self.out.eq(arithmetic(self.cfg, tau).threshold(self.v))
        return m


@pytest.mark.parametrize("registered", [False, True])
def test_the_threshold_zeroes_exactly_the_values_below_tau_in_magnitude(registered):
    """|v| < tau gives 0 and every other v passes, at both edges of the band, for tau from 0 to the
    format's largest (a negative tau, which the host should not send, zeroes nothing, as in the model)."""
    g = CFG.grad
    dut = _Threshold(CFG, registered)
    cases = []
    for tau in (0, 1, 2, 40, g.max_int - 1, g.max_int, -5, g.min_int):
        near = {0, 1, -1, g.min_int, g.max_int, g.min_int + 1}
        for edge in (tau, -tau):
            near |= {edge - 1, edge, edge + 1}
        cases += [(tau, v) for v in sorted(near) if g.min_int <= v <= g.max_int]
    got = []

    async def bench(ctx):
        for tau, v in cases:
            ctx.set(dut.tau, tau)
            ctx.set(dut.v, v)
            await ctx.tick()
            got.append(ctx.get(dut.out))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == [0 if abs(v) < tau else v for tau, v in cases]
