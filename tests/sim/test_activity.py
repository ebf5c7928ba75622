"""sim.activity: toggles read from a waveform with pywellen, exactly, per cycle and per unit."""

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.sim import Simulator

from sim.activity import ActivityError, field_changes, first_scope, toggle_bins

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


def _random_vcd(path, rng, cycles=3000):
    """A VCD (1 ns ticks, period 10) of random signals in two scopes, with what toggle_bins must make of
    it: {full name: (width, [(time, value or None for X)])}. Among them: copies of other signals (one net
    under two names, also across scopes), signals that repeat another's changes for a while and then
    differ, signals with one value only, X values, and changes half a period after the edge."""
    signals = {}
    for i in range(24):
        width = int(rng.choice([1, 2, 7, 16, 33, 70]))
        rate = float(rng.choice([0.05, 0.3, 0.9]))
        value, changes = None, []
        for c in range(cycles):
            if value is None or rng.random() < rate:
                new = int.from_bytes(rng.bytes((width + 7) // 8), "little") & ((1 << width) - 1)
                if i % 7 == 3 and rng.random() < 0.01:
                    new = None                              # X
                if new != value or not changes:
                    changes.append((10 * c + (5 if i % 5 == 4 else 0), new))
                    value = new
        signals[f"top.{'ab'[i % 2]}.s{i}"] = (width, changes)
    names = list(signals)
    for k, src in enumerate(names[:8]):                     # copies, in the other scope and the same one
        signals[f"top.{'ba'[k % 2] if k < 5 else 'ab'[k % 2]}.copy{k}"] = signals[src]
    for k, src in enumerate(names[8:14]):                   # the same changes until cycle 400 + 300 k
        width, changes = signals[src]
        cut = 10 * (400 + 300 * k)
        late = [(t, v if t < cut or v is None else v ^ 1) for t, v in changes]
        signals[f"top.{'ab'[k % 2]}.like{k}"] = (width, late)
    signals["top.a.still0"] = signals["top.b.still1"] = (8, [(0, 0x5A)])   # never changes: no copy
    codes = {name: "".join(chr(33 + int(d, 36)) for d in np.base_repr(n, 36)) for n, name in enumerate(signals)}
    lines = ["$timescale 1ns $end", "$scope module top $end"]
    for scope in "ab":
        lines.append(f"$scope module {scope} $end")
        lines += [f"$var wire {w} {codes[n]} {n.split('.')[-1]} $end" for n, (w, _) in signals.items()
                  if n.split(".")[1] == scope]
        lines.append("$upscope $end")
    lines += ["$upscope $end", "$enddefinitions $end"]
    at = {}
    for name, (width, changes) in signals.items():
        for t, v in changes:
            text = ("x" * width if v is None else format(v, f"0{width}b"))
            at.setdefault(t, []).append(f"{text}{codes[name]}" if width == 1 else f"b{text} {codes[name]}")
    for t in sorted(at):
        lines += [f"#{t}", *at[t]]
    path.write_text("\n".join(lines) + "\n")
    return signals


def _reference(path, signals, period, unit):
    """What toggle_bins returns for ``signals`` (see _random_vcd), computed straight from its definition:
    per unit and cycle the bits flipped by each change between two known values, of every signal but those
    whose changes (more than one) repeat those of an earlier signal (pywellen's order) of the same width."""
    import pywellen
    order = [v.full_name for v in pywellen.Waveform(str(path)).all_vars()]
    units, bits, rows, seen, duplicates = [], {}, {}, set(), 0
    for name in order:
        width, changes = signals[name]
        u = unit(name[len("top."):])
        if u not in units:
            units.append(u)
        key = (width, tuple(changes))
        if len(changes) > 1 and key in seen:
            duplicates += 1
            bits.setdefault(u, 0)
            continue
        seen.add(key)
        bits[u] = bits.get(u, 0) + width
        row = rows.setdefault(u, {})
        for (_, old), (t, new) in zip(changes, changes[1:]):
            if old is not None and new is not None and old != new:
                row[t // period] = row.get(t // period, 0) + (old ^ new).bit_count()
    cycles = max((c for row in rows.values() for c in row), default=0) + 1
    arr = np.zeros((len(units), cycles), dtype=np.int64)
    for i, u in enumerate(units):
        for c, f in rows.get(u, {}).items():
            arr[i, c] = f
    return units, arr, bits, duplicates


@pytest.mark.parametrize("checkpoint_steps", [1, 7, 4096])
def test_many_changes_give_the_bins_of_the_definition(tmp_path, monkeypatch, checkpoint_steps):
    """Random signals with copies and look-alikes: the bins, bits and copies are those of the definition,
    however often the copies are looked for while streaming (look-alikes are found to be copies for a
    while, and the changes of copies are counted before the first checkpoint, or all of them when there is
    none: both are read again)."""
    import sim.activity as activity
    monkeypatch.setattr(activity, "CHECKPOINT_STEPS", checkpoint_steps)
    misjudged, real = [], activity._misjudged        # the spans read again (copied: the reading uses them up)
    monkeypatch.setattr(activity, "_misjudged", lambda *a: misjudged.append(list(real(*a))) or real(*a))
    signals = _random_vcd(tmp_path / "r.vcd", np.random.default_rng(checkpoint_steps))
    for unit in (first_scope, lambda name: name):
        bins = toggle_bins(tmp_path / "r.vcd", 10, top="top", unit=unit, watch=("top.a.s0", "top.b.like1"))
        units, arr, bits, duplicates = _reference(tmp_path / "r.vcd", signals, 10, unit)
        assert bins.units == units and bins.bits == bits and bins.duplicates == duplicates == 8
        assert bins.bins.dtype == np.int64 and np.array_equal(bins.bins, arr)
        assert bins.watched == {n: [(float(t), "x" * signals[n][0] if v is None else v) for t, v in signals[n][1]]
                                for n in ("top.a.s0", "top.b.like1")}
    if checkpoint_steps < 4096:
        assert any(misjudged)
