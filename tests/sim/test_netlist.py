"""The ECP5's hard multiplier against its generic twin, and the synthesised ECP5 netlist against the golden model.

- the simulation model sim/models/mult18x18d.v, in hw.primitives' ECP5 product, equals the generic twin (and
  a three-stage enabled pipeline computed here) cycle by cycle on random operands, extremes and enables;
- a small engine (a slice of the committed Fashion-MNIST H = 8 trace, two lanes) synthesised by Yosys for
  the ECP5, run as a netlist with the cells' models in the co-simulation testbench: bit-exact against the
  golden model under stalls of the host (which freeze the core);
- ``-m slow``: the ULX3S's default engine (H = 64, P = 16) on two steps of the committed H = 64 trace.

Icarus and YoWASP's Yosys are required: missing, the tests skip, or fail when the CI variable is set.
"""

import os
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import EnableInserter, Module, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden_model.engine_model import EngineInputs
from golden_model.errors import MissingDependencyError
from golden_model.trace import load_trace
from hw import primitives
from sim import cosim as cs
from sim import netlist as nl

DATA = Path(__file__).parents[1] / "data"


def require(*tools):
    """Make each of ``tools`` ("icarus", "yosys") usable, else skip the test; under CI (the CI environment
    variable set) a missing tool fails it instead."""
    try:
        for tool in tools:
            if tool == "yosys":
                nl.yosys_command()
                nl.simulation_library()
            else:
                cs.require_simulator(tool)
    except MissingDependencyError as e:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(str(e))


# -- the MULT18X18D model against the generic twin ------------------------------------------------------

class Product(wiring.Component):
    """hw.primitives.product with 3 stages of ``family``, under the enable ``en`` as in the engine: the
    generic form's registers through an EnableInserter, the instance's through its ``enable``."""

    def __init__(self, family, a_shape, b_shape, p_shape):
        self.family, self.p_shape = family, p_shape
        super().__init__({"a": In(a_shape), "b": In(b_shape), "en": In(1), "p": Out(p_shape)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.p.eq(primitives.product(m, self.a, self.b, 3, "prod", self.p_shape, family=self.family,
                                                 enable=self.en))
        return EnableInserter(self.en)(m)


TESTBENCH = """`timescale 1ns / 1ps
module tb;
  localparam N = {n};
  reg clk = 0, rst = 0, en = 0;
  reg [{wa}-1:0] a = 0; reg [{wb}-1:0] b = 0;
  reg [{wa}-1:0] as [0:N-1]; reg [{wb}-1:0] bs [0:N-1]; reg ens [0:N-1];
  wire [{wp}-1:0] pg, pe;
  twin_generic generic(.clk(clk), .rst(rst), .a(a), .b(b), .en(en), .p(pg));
  twin_ecp5 ecp5(.clk(clk), .rst(rst), .a(a), .b(b), .en(en), .p(pe));
  integer i, f;
  initial begin
    $readmemh("a.hex", as); $readmemh("b.hex", bs); $readmemh("en.hex", ens);
    f = $fopen("out.txt", "w");
    for (i = 0; i < N; i = i + 1) begin
      a = as[i]; b = bs[i]; en = ens[i];
      #5 clk = 1;
      #1 $fwrite(f, "%h %h\\n", pg, pe);
      #4 clk = 0;
    end
    $fclose(f);
    $finish;
  end
endmodule
"""


def operands(shape, n, rng):
    """n values of ``shape``, a quarter of them its extremes."""
    lo, hi = (-(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1) if shape.signed else (0, (1 << shape.width) - 1)
    values = rng.integers(lo, hi + 1, n)
    extreme = rng.random(n) < 0.25
    values[extreme] = rng.choice([lo, hi, lo + 1, 0, -1 if shape.signed else 1], extreme.sum())
    return [int(v) for v in values]


def pipeline(a, b, en):
    """The product registered three times, each register taking its input in a cycle with ``en`` high: the
    value after each cycle's clock edge."""
    s1, s2, out, after = (0, 0), 0, 0, []
    for x, y, e in zip(a, b, en):
        if e:
            s1, s2, out = (x, y), s1[0] * s1[1], s2
        after.append(out)
    return after


def to_signed(value, width):
    return value - (1 << width) if value >> (width - 1) else value


@pytest.mark.parametrize("a_shape, b_shape, p_shape", [
    (signed(16), signed(16), signed(40)),      # the engine's: a x v and W x v, summed in 40 bits (wide(dw_acc))
    (signed(18), signed(18), signed(36)),      # full width: -2**17 x -2**17
    (unsigned(17), signed(18), signed(35)),    # an unsigned operand, zero-extended
    (signed(5), signed(3), signed(8)),         # narrow: sign extension into the 18-bit inputs
], ids=["s16xs16", "s18xs18", "u17xs18", "s5xs3"])
def test_the_mult18x18d_model_equals_the_generic_twin(tmp_path, a_shape, b_shape, p_shape):
    require("icarus")
    n, rng = 3000, np.random.default_rng(a_shape.width * 100 + b_shape.width)
    a, b = operands(a_shape, n, rng), operands(b_shape, n, rng)
    en = [int(e) for e in rng.random(n) < 0.7]
    en[:8], en[-8:] = [1] * 8, [0] * 4 + [1] * 4             # (a full pipeline at the start, a pause at the end)
    texts = [cs.icarus_time_zero(verilog.convert(Product(f, a_shape, b_shape, p_shape), name=f"twin_{f}"))
             for f in ("generic", "ecp5")]
    assert "MULT18X18D" in texts[1] and "MULT18X18D" not in texts[0]
    (tmp_path / "tb.v").write_text(TESTBENCH.format(n=n, wa=a_shape.width, wb=b_shape.width, wp=p_shape.width))
    (tmp_path / "twins.v").write_text("\n".join(texts))
    for name, values, width in (("a", a, a_shape.width), ("b", b, b_shape.width), ("en", en, 1)):
        (tmp_path / f"{name}.hex").write_text("".join(f"{v & ((1 << width) - 1):x}\n" for v in values))
    model = nl.MODELS[0]
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "tb.v", "twins.v", str(model)], cwd=tmp_path, check=True)
    run = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "ERROR" not in run.stdout, run.stdout
    rows = [line.split() for line in (tmp_path / "out.txt").read_text().splitlines()]
    assert len(rows) == n and all("x" not in g + e and "z" not in g + e for g, e in rows)
    generic = [to_signed(int(g, 16), p_shape.width) for g, _ in rows]
    ecp5 = [to_signed(int(e, 16), p_shape.width) for _, e in rows]
    expected = pipeline(a, b, en)
    first = next((i for i in range(n) if ecp5[i] != generic[i]), None)
    assert first is None, (f"cycle {first}: MULT18X18D {ecp5[first]}, generic twin {generic[first]}, "
                           f"expected {expected[first]}")
    assert generic == expected
    assert sum(v != 0 for v in expected) > n // 2 and min(expected) < 0 < max(expected)


# -- the synthesised ECP5 netlist against the golden model --------------------------------------------

def trace_slice(name, steps, batch, **changes):
    """(config, inputs): the last ``steps`` steps of batch 0 .. batch-1 of the committed trace ``name``'s first
    pass, for the trace's configuration with ``changes`` (accumulator widths exact for it unless given)."""
    t = load_trace(DATA / name)
    cfg = replace(t.config, **{"dw_acc_width": None, "da_acc_width": None, "db_acc_width": None, **changes})
    p, s, b = t.passes[0], slice(-steps, None), slice(0, batch)
    inputs = EngineInputs(gates=p.gates[s, b], tanh_c=p.tanh_c[s, b], c_prev=p.c_prev[s, b], a=p.a[s, b],
                          dh=p.dh[s, b], W=p.W, tau=p.tau)
    cfg, (inputs,) = cs.trace_sequences(replace(t, passes=[inputs]), cfg)
    return cfg, inputs


@pytest.fixture(scope="module")
def small_case():
    """Two lanes (four MULT18X18D of hw.primitives, and the pipelined unit's 16), H = 8, three steps of batch 2 of the Fashion-MNIST trace."""
    return trace_slice("fashion8_lstm_h8.npz", steps=3, batch=2, lanes=2, max_batch=2, max_seq=3)


def test_the_synthesised_ecp5_netlist_equals_the_golden_model(tmp_path, small_case):
    require("icarus", "yosys")
    cfg, inputs = small_case
    report = nl.netlist_cosim(cfg, [inputs], "icarus", seed=1, gap=0.2, stall=0.4, root=tmp_path)
    assert report.passed, report.mismatch
    netlist = (Path(report.build_dir) / "netlist.v").read_text()
    # every product is a hard multiplier with its three registers: the lanes' two each, the pipelined unit's 16
    assert cfg.ggu_cycles == 1 and nl.hard_multipliers(netlist) == {"registered": 2 * cfg.lanes + 16, "other": 0}
    for r in report.runs:
        assert r.counters == {k: r.model_cycles[k] for k in r.counters}
        assert r.stall > 0 and r.counters["issued"] > 0      # frozen cycles while the multipliers worked


@pytest.mark.slow
def test_the_ulx3s_default_netlist_equals_the_golden_model(tmp_path):
    """The ULX3S's default engine (boards.targets: H = 64, P = 16, its formats and limits), synthesised for
    the ECP5, on the last two steps of batch 0 and 1 of the committed H = 64 trace. (Hours: with -nobram the
    memories are LUTs and flip-flops; synthesis alone took over 10 minutes here, and it has not been run to the
    end.)"""
    from boards.targets import get_target
    require("icarus", "yosys")
    cfg = get_target("ulx3s-85f").default_config()
    t = load_trace(DATA / "fashion_lstm_h64.npz")
    p, s, b = t.passes[0], slice(-2, None), slice(0, 2)
    inputs = EngineInputs(gates=p.gates[s, b], tanh_c=p.tanh_c[s, b], c_prev=p.c_prev[s, b], a=p.a[s, b],
                          dh=p.dh[s, b], W=p.W, tau=p.tau)
    cfg, (inputs,) = cs.trace_sequences(replace(t, passes=[inputs]), cfg)
    report = nl.netlist_cosim(cfg, [inputs], "icarus", seed=2, gap=0.1, stall=0.2, root=tmp_path)
    assert report.passed, report.mismatch
    assert nl.hard_multipliers((Path(report.build_dir) / "netlist.v").read_text())["registered"] == 2 * cfg.lanes
