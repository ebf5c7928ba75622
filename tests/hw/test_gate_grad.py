"""The gate-gradient unit equals golden_model.engine_model.gate_gradients for every element, under random
valid/ready; its latency is what it says; overflow is reported."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden_model.engine_config import EngineConfig
from golden_model.engine_model import gate_gradients
from hw.gate_grad import GateGradUnit

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
    payloads = [{"i": int(e[0]), "f": int(e[1]), "g": int(e[2]), "o": int(e[3]),
                 "tanh_c": int(elems["tanh_c"][k, 0]), "c_prev": int(elems["c_prev"][k, 0]),
                 "dh": int(elems["dh"][k, 0]), "dh_rec": int(elems["dh_rec"][k, 0]),
                 "dc_next": int(elems["dc_next"][k, 0])} for k, e in enumerate(elems["gates"])]
    return run_stream_unit(dut, dut.i_elem, payloads, dut.o_grad, n, gap=gap, stall=stall, seed=seed,
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
@pytest.mark.parametrize("rounding", ["half-even", "truncate"])
def test_unit_equals_the_model_under_random_handshakes(gap, stall, rounding):
    cfg = EngineConfig.from_dict({**CFG.to_dict(), "rounding": rounding})
    rng = np.random.default_rng(7)
    elems = random_elements(cfg, 120, rng)
    tau = 40
    out = run_unit(cfg, elems, tau, gap=gap, stall=stall, seed=int(gap * 10 + stall * 100))
    check(out, cfg, elems, tau)
    dz, _, _ = expected(cfg, elems, tau)
    assert 0.1 < (dz == 0).mean() < 0.9  # the threshold did something, and not everything


def test_saturating_inputs_raise_the_overflow_bit_as_in_the_model():
    rng = np.random.default_rng(3)
    elems = random_elements(CFG, 80, rng, extreme=True)
    out = run_unit(CFG, elems, 0, gap=0.2, stall=0.3)
    check(out, CFG, elems, 0)
    assert any(o.overflow for o in out)


def test_latency():
    dut = GateGradUnit(CFG)
    rng = np.random.default_rng(0)
    e = random_elements(CFG, 1, rng)
    payload = {"i": int(e["gates"][0, 0]), "f": int(e["gates"][0, 1]), "g": int(e["gates"][0, 2]),
               "o": int(e["gates"][0, 3]), "tanh_c": int(e["tanh_c"][0, 0]), "c_prev": int(e["c_prev"][0, 0]),
               "dh": int(e["dh"][0, 0]), "dh_rec": 0, "dc_next": 0}
    cycles = []
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        ctx.set(dut.o_grad.ready, 1)
        ctx.set(dut.i_elem.valid, 1)
        ctx.set(dut.i_elem.payload, payload)
        await ctx.tick()           # the input is taken at this edge
        ctx.set(dut.i_elem.valid, 0)
        n = 0
        while not ctx.get(dut.o_grad.valid):
            await ctx.tick()
            n += 1
        cycles.append(n)

    sim.add_testbench(bench)
    sim.run()
    # the edge that takes the input, then latency - 1 more until the output is valid
    assert [n + 1 for n in cycles] == [GateGradUnit.latency]
