"""sim.activity: toggles read from a waveform with pywellen, exactly, per cycle and per unit."""

import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from sim.activity import ActivityError, field_changes, toggle_bins

PERIOD_NS = 1e3 / 12


def _counter_vcd(path, cycles, width=24):
    """A free-running counter and a register that holds still, simulated by Amaranth (VCD, fs timescale)."""
    m = Module()
    count = Signal(width)
    still = Signal(8, init=0x5A)
    m.d.sync += [count.eq(count + 1), still.eq(still)]
    sim = Simulator(m)
    sim.add_clock(PERIOD_NS * 1e-9)

    async def bench(ctx):
        await ctx.tick().repeat(cycles)

    sim.add_testbench(bench)
    with sim.write_vcd(str(path)):
        sim.run()


def test_a_counter_toggles_two_n_minus_popcount_n(tmp_path):
    """Counting 0 .. n flips 2n - popcount(n) bits; a register that never changes flips none; clock and
    reset are not nets of the estimate."""
    n = 1000
    _counter_vcd(tmp_path / "c.vcd", n)
    bins = toggle_bins(tmp_path / "c.vcd", PERIOD_NS, top="bench.top", unit=lambda name: name)
    total = bins.window(0, (n + 1) * PERIOD_NS)
    assert total == {"count": 2 * n - n.bit_count(), "still": 0}
    assert bins.bits == {"count": 24, "still": 8}
    # per cycle (Amaranth's rising edge k is at (k - 1/2) periods): edge k flips the trailing ones of k - 1
    # and one more
    for k in (1, 2, 8, 512):
        assert bins.window((k - 1) * PERIOD_NS, k * PERIOD_NS)["count"] == ((k - 1) ^ k).bit_count()
    # a window is a sum of cycles
    assert bins.window(0, 300 * PERIOD_NS)["count"] + bins.window(300 * PERIOD_NS, (n + 1) * PERIOD_NS)["count"] \
        == total["count"]


def test_watched_signals_and_packed_fields(tmp_path):
    _counter_vcd(tmp_path / "c.vcd", 40)
    bins = toggle_bins(tmp_path / "c.vcd", PERIOD_NS, top="bench.top", watch=("bench.top.count",))
    changes = bins.watched["bench.top.count"]
    assert [v for _, v in changes] == list(range(41))
    # bits 3..4 of the count change every 8 cycles
    assert [v for _, v in field_changes(changes, 3, 2)] == [0, 1, 2, 3, 0, 1]
    with pytest.raises(ActivityError, match="no signal bench.top.nosuch"):
        toggle_bins(tmp_path / "c.vcd", PERIOD_NS, top="bench.top", watch=("bench.top.nosuch",))


def test_fields_of_a_signal_are_not_counted_twice(tmp_path):
    """Amaranth names a View's fields ``counters.cycles``; the waveform puts them in a scope named after
    the signal. They are the signal's own bits: counted once, in the signal."""
    vcd = tmp_path / "v.vcd"
    vcd.write_text("$timescale 1ns $end\n$scope module top $end\n$var wire 4 ! counters [3:0] $end\n"
                   "$scope module counters $end\n$var wire 2 \" cycles [1:0] $end\n$upscope $end\n"
                   "$var wire 1 # other $end\n$upscope $end\n$enddefinitions $end\n"
                   "#0\nb0000 !\nb00 \"\n0#\n#10\nb0101 !\nb01 \"\n1#\n#20\nb0110 !\nb10 \"\n")
    bins = toggle_bins(vcd, 10, top="top", unit=lambda name: name)
    assert bins.window(0, 30) == {"counters": 2 + 2, "other": 1}


def test_one_net_under_several_names_is_counted_once(tmp_path):
    """A port seen in the module and in its parent: the same changes at the same times, counted once;
    a register one cycle behind it is another net."""
    vcd = tmp_path / "v.vcd"
    vcd.write_text("$timescale 1ns $end\n$scope module top $end\n$var wire 4 ! x [3:0] $end\n"
                   "$var wire 4 # late [3:0] $end\n$scope module sub $end\n$var wire 4 \" x_in [3:0] $end\n"
                   "$upscope $end\n$upscope $end\n$enddefinitions $end\n"
                   "#0\nb0000 !\nb0000 \"\nb0000 #\n#10\nb1111 !\nb1111 \"\n#20\nb0001 !\nb0001 \"\nb1111 #\n"
                   "#30\nb0001 #\n")
    bins = toggle_bins(vcd, 10, top="top", unit=lambda name: name.split(".")[0])
    assert bins.window(0, 40) == {"x": 4 + 3, "late": 4 + 3, "sub": 0} and bins.duplicates == 1


def test_bad_waveforms_are_named(tmp_path):
    with pytest.raises(ActivityError, match="does not exist"):
        toggle_bins(tmp_path / "none.vcd", PERIOD_NS, top="top")
    bad = tmp_path / "bad.vcd"
    bad.write_text("$timescale 1ns $end\n$scope module top $end\n$var wire 4 ! x $end\n")   # truncated header
    with pytest.raises(ActivityError, match="bad.vcd"):
        toggle_bins(bad, PERIOD_NS, top="top")
    _counter_vcd(tmp_path / "c.vcd", 4)
    with pytest.raises(ActivityError, match="no signal of module 'zskip_engine'"):
        toggle_bins(tmp_path / "c.vcd", PERIOD_NS, top="zskip_engine")


def test_temporaries_are_renamed_out_of_verilators_waveform_and_nothing_else():
    from sim.cosim import untraced_temporaries
    text = r"assign \$2  = a & \$1 ; wire \$signal$7 ; reg \$auto$verilog_backend.cc:1$1  = 0; wire counters$93 ;"
    assert untraced_temporaries(text) == \
        r"assign \_$2  = a & \_$1 ; wire \$signal$7 ; reg \_$auto$verilog_backend.cc:1$1  = 0; wire counters$93 ;"
