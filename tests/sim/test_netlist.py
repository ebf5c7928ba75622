"""The ECP5's hard multiplier and block RAM against their generic twins, and the synthesised ECP5 netlist against
the golden model.

- the simulation model sim/models/mult18x18d.v, in hw.primitives' ECP5 product, equals the generic twin (and
  a three-stage enabled pipeline computed here) cycle by cycle on random operands, extremes and enables;
- the simulation model sim/models/dp16kd.v, in hw.primitives' ECP5 block RAM (DP16KDs side by side, read
  through their output registers), equals the generic twin (and a memory computed here) cycle by cycle on
  random writes, reads and enables, in each of the DP16KD's widths;
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
from amaranth.hdl import EnableInserter, Module, Shape, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden_model.engine_model import EngineInputs
from golden_model.errors import MissingDependencyError
from golden_model.trace import load_trace
from hw import primitives
from hw.dz_buffer import DzBuffer
from hw.fixed import shape_of
from hw.layouts import dz_layout
from hw.mac_lanes import memory_depths, wide
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


def run_twins(tmp_path, testbench, texts, hexes, model_name, n):
    """Run ``testbench`` on Icarus with the two twins' Verilog ``texts``, the input files ``hexes`` ((name,
    values, width): name.hex) and the model sim/models/``model_name``: the (generic, ecp5) hex words of each of
    the ``n`` cycles, none X or Z, and no model error."""
    (tmp_path / "tb.v").write_text(testbench)
    (tmp_path / "twins.v").write_text("\n".join(texts))
    for name, values, width in hexes:
        (tmp_path / f"{name}.hex").write_text("".join(f"{v & ((1 << width) - 1):x}\n" for v in values))
    model = next(path for path in nl.MODELS if path.name == model_name)
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", "tb.v", "twins.v", str(model)], cwd=tmp_path, check=True)
    run = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert "ERROR" not in run.stdout, run.stdout
    rows = [line.split() for line in (tmp_path / "out.txt").read_text().splitlines()]
    assert len(rows) == n and all("x" not in g + e and "z" not in g + e for g, e in rows)
    return rows


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
    rows = run_twins(tmp_path, TESTBENCH.format(n=n, wa=a_shape.width, wb=b_shape.width, wp=p_shape.width), texts,
                     (("a", a, a_shape.width), ("b", b, b_shape.width), ("en", en, 1)), "mult18x18d.v", n)
    generic = [to_signed(int(g, 16), p_shape.width) for g, _ in rows]
    ecp5 = [to_signed(int(e, 16), p_shape.width) for _, e in rows]
    expected = pipeline(a, b, en)
    first = next((i for i in range(n) if ecp5[i] != generic[i]), None)
    assert first is None, (f"cycle {first}: MULT18X18D {ecp5[first]}, generic twin {generic[first]}, "
                           f"expected {expected[first]}")
    assert generic == expected
    assert sum(v != 0 for v in expected) > n // 2 and min(expected) < 0 < max(expected)


# -- the DP16KD model against the generic twin ----------------------------------------------------------

class BlockRam(wiring.Component):
    """hw.primitives.block_ram with 2 stages of ``family``, under the enable ``en`` as in the engine."""

    def __init__(self, family, width, depth):
        self.family, self.width, self.depth = family, width, depth
        aw = (depth - 1).bit_length()
        super().__init__({"we": In(1), "waddr": In(aw), "wdata": In(width), "raddr": In(aw), "en": In(1),
                          "word": Out(width)})

    def elaborate(self, platform):
        m = Module()
        rp, wp, word = primitives.block_ram(m, "ram", self.width, self.depth, 2, family=self.family, enable=self.en)
        m.d.comb += [wp.en.eq(self.we), wp.addr.eq(self.waddr), wp.data.eq(self.wdata), rp.addr.eq(self.raddr),
                     self.word.eq(word)]
        return EnableInserter(self.en)(m)


RAM_TESTBENCH = """`timescale 1ns / 1ps
module tb;
  localparam N = {n};
  reg clk = 0, rst = 0, en = 0, we = 0;
  reg [{aw}-1:0] waddr = 0, raddr = 0; reg [{w}-1:0] wdata = 0;
  reg [{aw}-1:0] was [0:N-1]; reg [{aw}-1:0] ras [0:N-1]; reg [{w}-1:0] wds [0:N-1]; reg wes [0:N-1]; reg ens [0:N-1];
  wire [{w}-1:0] g, e;
  twin_generic generic(.clk(clk), .rst(rst), .we(we), .waddr(waddr), .wdata(wdata), .raddr(raddr), .en(en), .word(g));
  twin_ecp5 ecp5(.clk(clk), .rst(rst), .we(we), .waddr(waddr), .wdata(wdata), .raddr(raddr), .en(en), .word(e));
  integer i, f;
  initial begin
    $readmemh("wa.hex", was); $readmemh("ra.hex", ras); $readmemh("wd.hex", wds); $readmemh("we.hex", wes);
    $readmemh("en.hex", ens);
    f = $fopen("out.txt", "w");
    for (i = 0; i < N; i = i + 1) begin
      waddr = was[i]; raddr = ras[i]; wdata = wds[i]; we = wes[i]; en = ens[i];
      #5 clk = 1;
      #1 $fwrite(f, "%h %h\\n", g, e);
      #4 clk = 0;
    end
    $fclose(f);
    $finish;
  end
endmodule
"""


def memory_reads(waddr, raddr, wdata, we, en, depth):
    """The word a 2-stage read returns after each cycle's clock edge: the address register and the output
    register take their inputs, and the write happens, in cycles with ``en`` high."""
    mem, addressed, out, after = [0] * depth, 0, 0, []
    for wa, ra, wd, w, e in zip(waddr, raddr, wdata, we, en):
        if e:
            out, addressed = mem[addressed], ra         # (the output register takes the word the address chose)
            if w:
                mem[wa] = wd
        after.append(out)
    return after


@pytest.mark.parametrize("width, depth", [
    (16, 2048),     # a lane's W at the ULX3S default: two blocks of 2048 x 9
    (39, 2048),     # its dW: five
    (41, 32),       # a da buffer: two blocks in the 36-bit mode (pseudo-dual-port)
    (24, 256),      # db: one, 36-bit
    (5, 1000),      # 18-bit mode (byte enables on the low address bits), a depth that is no power of two
    (3, 5000),      # 2-bit mode, two blocks
], ids=["16x2048", "39x2048", "41x32", "24x256", "5x1000", "3x5000"])
def test_the_dp16kd_model_equals_the_generic_twin(tmp_path, width, depth):
    require("icarus")
    n, rng = 4000, np.random.default_rng(width * 10000 + depth)
    aw = (depth - 1).bit_length()
    hot = rng.integers(0, depth, 8)                          # (a few addresses often, so reads find writes)
    def addresses():
        return [int(hot[rng.integers(8)]) if rng.random() < 0.5 else int(rng.integers(depth)) for _ in range(n)]
    waddr, raddr = addresses(), addresses()
    wdata = [int(v) for v in rng.integers(0, 1 << width, n, dtype=np.uint64)]
    we = [int(w) for w in rng.random(n) < 0.5]
    en = [int(e) for e in rng.random(n) < 0.8]
    for i in range(n):                                       # the promise: no read of a word as it is written
        if we[i] and waddr[i] == raddr[i]:
            raddr[i] = (raddr[i] + 1) % depth
    en[-4:] = [1] * 4
    texts = [cs.icarus_time_zero(verilog.convert(BlockRam(f, width, depth), name=f"twin_{f}"))
             for f in ("generic", "ecp5")]
    bits, _, count = primitives.dp16kd_tiles(width, depth)
    assert texts[1].count("DP16KD") == count and "DP16KD" not in texts[0]
    rows = run_twins(tmp_path, RAM_TESTBENCH.format(n=n, aw=aw, w=width), texts,
                     (("wa", waddr, aw), ("ra", raddr, aw), ("wd", wdata, width), ("we", we, 1), ("en", en, 1)),
                     "dp16kd.v", n)
    generic, ecp5 = [int(g, 16) for g, _ in rows], [int(e, 16) for _, e in rows]
    expected = memory_reads(waddr, raddr, wdata, we, en, depth)
    first = next((i for i in range(n) if ecp5[i] != generic[i]), None)
    assert first is None, (f"cycle {first}: DP16KD {ecp5[first]:x}, generic twin {generic[first]:x}, "
                           f"expected {expected[first]:x} ({bits}-bit mode)")
    assert generic == expected
    assert sum(v != 0 for v in expected) > n // 4


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
    # every lane memory in block RAM, the dz buffer's and the feed's dc memory, is DP16KDs read through their
    # output registers (hw.primitives.block_ram)
    def tiles(shape, kind):
        others = {"dz": DzBuffer.depth_of(cfg), "dc": cfg.max_batch * cfg.hidden_size}    # (the feed's dc: B x H)
        depth = others[kind] if kind in others else memory_depths(cfg)[kind]
        return primitives.dp16kd_tiles(Shape.cast(shape).width, depth)[2]
    per_lane = tiles(shape_of(cfg.weight), "W") + tiles(wide(cfg.dw_acc), "dW") + 2 * tiles(wide(cfg.da_acc), "da")
    whole = (cfg.lanes * per_lane + tiles(wide(cfg.db_acc), "db") + tiles(dz_layout(cfg), "dz")
             + tiles(shape_of(cfg.grad), "dc"))
    assert nl.block_rams(netlist) == {"registered": whole, "other": 0}
    for r in report.runs:
        assert r.counters == {k: r.model_cycles[k] for k in r.counters}
        assert r.stall > 0 and r.counters["issued"] > 0      # frozen cycles while the multipliers worked


@pytest.mark.slow
def test_the_ulx3s_default_netlist_equals_the_golden_model(tmp_path):
    """The ULX3S's default engine (boards.targets: H = 64, P = 16, its formats and limits), synthesised for
    the ECP5, on the last two steps of batch 0 and 1 of the committed H = 64 trace: every product a
    MULT18X18D with its three registers (the lanes' two each, the pipelined unit's 16). (About 30 minutes
    here: synthesis 2, Icarus on the 26,000-cell netlist the rest.)"""
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
    assert cfg.ggu_cycles == 1
    assert nl.hard_multipliers((Path(report.build_dir) / "netlist.v").read_text()) == {"registered": 2 * cfg.lanes + 16,
                                                                                       "other": 0}
