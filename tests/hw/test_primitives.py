"""hw.primitives: which form a platform selects, the ECP5 form's limits and instances, and the generic twin's
latency under an enable (in Amaranth's simulator; the ECP5 form against it: tests/sim/test_netlist.py)."""

import re

import pytest
from amaranth.back import rtlil
from amaranth.hdl import EnableInserter, Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from boards.targets import TARGETS
from golden_model.engine_config import EngineConfig
from golden_model.errors import ConfigError
from hw import primitives
from hw.engine import Engine
from hw.layouts import element_layout
from hw.mac_lanes import MacLanes
from sim.netlist import Ecp5Netlist


def test_the_family_follows_the_platform():
    assert primitives.family(None) == "generic"
    assert primitives.family(Ecp5Netlist()) == "ecp5"
    chosen = {t.family: primitives.family(t.make_platform()) for t in TARGETS.values()}
    assert chosen == {"ecp5": "ecp5", "ice40": "generic"}


def test_bad_arguments_are_refused():
    m = Module()
    with pytest.raises(ConfigError, match="unknown primitives' family 'xilinx'"):
        primitives.product(m, Signal(signed(4)), Signal(signed(4)), 3, "p", family="xilinx")
    with pytest.raises(ValueError, match=r"one of \(1, 3\) cycles, not 2"):
        primitives.product(m, Signal(signed(4)), Signal(signed(4)), 2, "p", family="ecp5")
    with pytest.raises(ConfigError, match="first operand of the product 'p' is 19 bits .signed.; a MULT18X18D takes at "
                                          "most 18: use the generic form"):
        primitives.product(m, Signal(signed(19)), Signal(signed(4)), 3, "p", family="ecp5")
    with pytest.raises(ConfigError, match="second operand .* 18 bits .unsigned.; a MULT18X18D takes at most 17"):
        primitives.product(m, Signal(signed(18)), Signal(unsigned(18)), 3, "p", family="ecp5")
    primitives.product(m, Signal(signed(19)), Signal(signed(4)), 3, "p")    # (the generic form takes any width)
    m._MustUse__silence = True                                              # (built only to be refused)


def _instances(elaboratable, platform):
    text = rtlil.convert(elaboratable, platform=platform)
    return re.findall(r"cell \\MULT18X18D \S+\n((?:\s+parameter .*\n)*)", text)


@pytest.mark.parametrize("pipeline, expected", [("registered", 2), ("compact", 0)])
def test_the_ecp5_lanes_instantiate_two_registered_multipliers_per_lane(pipeline, expected):
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=2, max_batch=2, max_seq=2, lane_pipeline=pipeline)
    found = _instances(MacLanes(cfg), Ecp5Netlist())
    assert len(found) == expected * cfg.lanes
    for params in found:
        for stage in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT"):
            assert f'parameter \\REG_{stage}_CLK "CLK0"' in params and f'parameter \\REG_{stage}_CE "CE0"' in params
    assert _instances(MacLanes(cfg), None) == []                  # the generic twin: no instance


def test_the_engine_drives_the_multipliers_clock_enable_from_its_run():
    """The instances' CE0 is the enable the engine puts on its core (and the pipelined gate-gradient
    unit's advance), not a constant: the lane's two products and the unit's 16 (ggu_cycles = 1)."""
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=2, ggu_cycles=1)
    text = rtlil.convert(Engine(cfg), platform=Ecp5Netlist())
    ce = re.findall(r"cell \\MULT18X18D .*?connect \\CE0 (\S+)", text, re.S)
    assert len(ce) == 2 + 16 and all(not c.startswith("1'") for c in ce), ce


def test_the_generic_twin_is_three_enabled_cycles_late():
    """Operands presented in an enabled cycle: their product after the third enabled clock edge."""
    m = Module()
    a, b, en = Signal(signed(16)), Signal(signed(16)), Signal()
    out = primitives.product(m, a, b, 3, "p", signed(40), enable=en)
    top = EnableInserter(en)(m)
    sim = Simulator(top)
    sim.add_clock(1e-6)
    stimulus = [(-32768, -32768, 1), (123, -45, 1), (7, 7, 0), (7, 7, 1), (0, 5, 0), (-1, 1, 1), (2, 3, 1),
                (0, 0, 1), (0, 0, 0), (0, 0, 1), (0, 0, 1)]
    seen = []

    async def bench(ctx):
        for x, y, e in stimulus:
            ctx.set(a, x)
            ctx.set(b, y)
            ctx.set(en, e)
            await ctx.tick()
            seen.append(ctx.get(out))
    sim.add_testbench(bench)
    sim.run()
    s1, s2, o, expected = (0, 0), 0, 0, []
    for x, y, e in stimulus:
        if e:
            s1, s2, o = (x, y), s1[0] * s1[1], s2
        expected.append(o)
    assert seen == expected and 1 << 30 in seen


def test_the_ecp5_lanes_copy_the_column_per_group_in_flip_flop_instances():
    """One copy of the issued column, its flags and the read-out's request per group of LANES_PER_COPY lanes,
    as Lattice flip-flops (the flags and the request with a clear) clock-enabled by the engine's run."""
    from hw.mac_lanes import LANES_PER_COPY
    cfg = EngineConfig(input_size=9, hidden_size=2, lanes=2 * LANES_PER_COPY, max_batch=2, max_seq=2)
    text = rtlil.convert(Engine(cfg), platform=Ecp5Netlist())
    for kind, name in (("FD1P3AX", "column"), ("FD1P3IX", "on"), ("FD1P3IX", "request")):
        cells = re.findall(rf"cell \\{kind} \S*{name}_(\d+)_ff\d+\n(.*?)\n  end", text, re.S)
        assert {g for g, _ in cells} == {"0", "1"}, (kind, name)
        assert all(re.search(r"connect \\SP (?!1')", body) for _, body in cells)
    assert "FD1P3" not in rtlil.convert(Engine(cfg))                # the generic twin: registers


def test_the_ecp5_engine_keeps_its_decision_off_the_global_and_a_write_enable_per_output_lane():
    """The engine's decision to run is two Lattice flip-flops with one input: ``go``, which the decision
    reads, and ``go_global``, the only driver of the DCCA; an output chunk is a FIFO per lane, each written
    under its own registered copy of the core's want (a dx and a dW copy per lane, one for dh0/dc0 and one for
    db), and an input a FIFO per lane or per 32 bits, so that no write enable reaches a whole chunk."""
    cfg = EngineConfig(input_size=5, hidden_size=2, lanes=4, max_batch=2, max_seq=2)
    text = rtlil.convert(Engine(cfg), platform=Ecp5Netlist())
    for name in ("go", "go_global"):
        assert re.search(rf"cell \\FD1P3IX \\{name}_ff0\n", text), name
    assert re.findall(r"cell \\DCCA .*?connect \\CLKI (\S+)", text, re.S) == ["\\go_global"]
    top = re.search(r"^module \\top\n(.*?)^end\n", text, re.S | re.M).group(1)   # (the lanes name theirs alike)
    for name, count in (("dx", 4), ("dw", 4), ("state", 1), ("db", 1)):
        copies = re.findall(rf"cell \\FD1P3IX \\{name}_wanted(\d+)_ff0\n", top)
        assert sorted(copies, key=int) == [str(i) for i in range(count)], (name, copies)
    fifos = re.findall(r"^module \\top\.(\w+_fifo\d*)\n", text, re.M)
    assert sorted(f for f in fifos if f.startswith("a_")) == [f"a_fifo{i}" for i in range(4)]
    assert len([f for f in fifos if f.startswith("elem_")]) == -(-element_layout(cfg).size // 32)
    generic = rtlil.convert(Engine(cfg))
    assert "FD1P3" not in generic and "DCCA" not in generic          # the generic twin: registers


def test_yosys_keeps_equal_copies(tmp_path):
    """Two copies of one value stay two sets of flip-flops through synth_ecp5 (its own registers with
    equal inputs it merges into one)."""
    import subprocess
    from boards.build import toolchain
    m = Module()
    value = Signal(4)
    outs = [primitives.copy(m, value, f"{form}{i}", family=form) for form in ("ecp5", "generic") for i in range(2)]
    (tmp_path / "copies.il").write_text(rtlil.convert(m, ports=[value, *outs]))
    env = toolchain("ecp5")
    done = subprocess.run([env["YOSYS"], "-q", "-p", "read_rtlil copies.il; synth_ecp5 -top top; tee -q -o stat.txt stat"],
                          cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    ffs = re.findall(r"(\d+)\s+TRELLIS_FF", (tmp_path / "stat.txt").read_text())
    assert ffs == [str(2 * 4 + 4)]                 # two ECP5 copies, one generic


def test_what_fits_a_mult18x18d():
    fits = primitives.fits_mult18x18d
    assert fits(Signal(signed(18)), Signal(unsigned(17))) and not fits(Signal(signed(19)), Signal(signed(4)))
    assert not fits(Signal(signed(4)), Signal(unsigned(18)))


def test_the_pipelined_unit_keeps_products_too_wide_for_a_mult18x18d_generic():
    """A grad format wider than 18 bits: the unit's products of grad operands cannot be MULT18X18D instances;
    they are built in the generic form (Yosys maps them) instead of refusing the configuration."""
    from hw.gate_grad import GateGradUnit
    narrow = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=2, ggu_cycles=1)
    wide = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=2, ggu_cycles=1, grad="Q-4.24")
    assert wide.grad.width == 20
    assert len(_instances(GateGradUnit(narrow), Ecp5Netlist())) == 16
    assert 0 < len(_instances(GateGradUnit(wide), Ecp5Netlist())) < 16
