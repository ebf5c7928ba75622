"""Switching activity of a simulated design, read from its waveform (VCD or FST) with pywellen.

    bins = toggle_bins(Path("dump.vcd"), period_ns=10, top="zskip_engine")
    bins.window(t0_ns, t1_ns)    # -> {unit: bit toggles} of the changes in [t0, t1)

The power estimate (boards.power) needs how often every net switches while the
engine does a backward step. The co-simulation writes a waveform of every
signal of the exported engine (Verilator: VCD; Icarus: FST); this module
streams its value changes once and adds up, per clock cycle and per unit of
the design (the scope under the top: ``core.ggu``, ``core.lanes``, ...), the
bits that changed (the popcount of old XOR new). Windows (a run's backward
steps) are then sums over cycles.

What the counts are: toggles of RTL signal bits in a zero-delay simulation.
Glitches are not in them, and the mapped netlist has other nets (a LUT's
internal ones, a carry chain's) and fewer names (one net may carry several
RTL names here); the estimate states both. Clock and reset are left out (the
clock term of the model counts the clock).
"""

import math
from array import array
from dataclasses import dataclass, field

import numpy as np

from golden_model.checks import check_file
from golden_model.errors import ZskipError, require_module

__all__ = ["ToggleBins", "toggle_bins", "ActivityError", "field_changes"]

#: Signals that are not nets of the datapath: the clock term counts the clock.
EXCLUDED = ("clk", "rst")


class ActivityError(ZskipError):
    """The waveform cannot be read or does not hold the design."""


@dataclass
class ToggleBins:
    """Bit toggles per clock cycle (``cycle = time // period``) and unit, and the changes of chosen signals."""

    path: str
    period_ns: float
    units: list                     # unit names, in the order of the rows of ``bins``
    bins: np.ndarray                # (units, cycles) int64
    bits: dict                      # unit -> signal bits traced
    watched: dict = field(default_factory=dict)   # signal name -> [(time_ns, value)]
    duplicates: int = 0             # signals counted once with another of the same waveform (one net)

    def window(self, t0_ns, t1_ns):
        """Toggles per unit of the changes at times t0 <= t < t1 (exact when both are multiples of the
        period, as Verilator's clock edges are; otherwise to the cycle)."""
        c0, c1 = math.ceil(t0_ns / self.period_ns), math.ceil(t1_ns / self.period_ns)
        return {u: int(self.bins[i, c0:c1].sum()) for i, u in enumerate(self.units)}


def first_scope(name):
    """The default unit of a signal: the first scope under the top (``a.b.x`` -> ``a``), or ``top``."""
    parts = name.split(".")[:-1]
    return parts[0] if parts else "top"


def toggle_bins(path, period_ns, *, top, watch=(), unit=first_scope):
    """Stream the value changes in the waveform ``path`` once; return a :class:`ToggleBins`.

    ``top``: the design's top module (its scope; the simulator's own copies of the ports, such as
    Verilator's ``$rootio``, are left out). ``watch``: full names of signals whose changes are kept
    (the engine's counters, to find the steps of a run). ``unit``: a signal's name below the top
    (``core.ggu.x``) -> the unit its toggles are counted in."""
    pywellen = require_module("pywellen", "pywellen (waveform reader)", ".venv/bin/pip install pywellen==0.25.7",
                              "switching activity for the power estimate")
    path = check_file(path, "waveform", ActivityError, " (was the co-simulation run with waves?)")
    try:
        wave = pywellen.Waveform(str(path))
    except Exception as e:         # pywellen raises its own exception types for malformed files
        raise ActivityError(f"cannot read waveform {path}: {e}") from None
    ts = wave.timescale
    units_ns = {"fs": 1e-6, "ps": 1e-3, "ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1.0e9}
    unit_name = str(ts.unit).split(".")[-1].lower() if ts is not None else "ns"
    if unit_name not in units_ns:
        raise ActivityError(f"waveform {path} has a timescale unit zskip does not know ({ts})")
    scale_ns = units_ns[unit_name] * (ts.factor if ts is not None else 1)
    # pywellen's SignalId has no equality of its own; its text ("SignalId(12)") names the signal
    chosen, units, bits, watched_ids, unit_of = [], [], {}, {}, {}
    variables = list(wave.all_vars())
    names = {v.full_name for v in variables}
    for var in variables:
        name, ref = var.full_name, str(var.signal_ref)
        if name in watch:
            watched_ids[ref] = name
        # a field or element of another signal (Amaranth names a View's fields ``counters.cycles``; the
        # waveform shows them in a scope named after the signal): the same nets, counted once, there
        view = name.rsplit(".", 1)[0] in names
        counted = name.startswith(top + ".") and name.split(".")[-1] not in EXCLUDED and var.bitwidth and not view
        if counted and ref not in unit_of:     # one signal under two names (an alias): counted once
            u = unit(name[len(top) + 1:])
            if u not in units:
                units.append(u)
            unit_of[ref] = units.index(u)
            bits[u] = bits.get(u, 0) + var.bitwidth
            chosen.append(var)
        elif name in watch:
            chosen.append(var)
    chosen = list({str(v.signal_ref): v for v in chosen}.values())     # each signal streamed once
    if not unit_of:
        raise ActivityError(f"waveform {path} has no signal of module {top!r}")
    missing = set(watch) - set(watched_ids.values())
    if missing:
        raise ActivityError(f"waveform {path} has no signal {', '.join(sorted(missing))}")
    # per change: (time, signal, bits flipped) into flat arrays, summed per cycle at the end with NumPy.
    # Each signal also hashes its changes: signals with the same width and the same changes at the same
    # times are one net under several names (a port seen in the module and in its parent, a wire that
    # forwards a register) and are counted once.
    refs = list(unit_of)
    state = {ref: [i, None, 0, 0] for i, ref in enumerate(refs)}     # index, last value, hash, changes
    times, signals, flips = array("q"), array("i"), array("i")
    watched = {n: [] for n in watch}

    def change(time, ref, value):
        ref = str(ref)
        w = watched_ids.get(ref)
        if w is not None:
            watched[w].append((time * scale_ns, value))
        st = state.get(ref)
        if st is None:
            return
        old, st[1] = st[1], value
        st[2] = hash((st[2], time, value))
        st[3] += 1
        if type(value) is int and type(old) is int:     # not the first value, not X/Z
            f = (old ^ value).bit_count()
            if f:
                times.append(time)
                signals.append(st[0])
                flips.append(f)

    try:
        wave.stream_changes(change, chosen)
    except Exception as e:
        raise ActivityError(f"cannot read the value changes of {path}: {e}") from None
    width = {str(v.signal_ref): v.bitwidth for v in chosen}
    first, representative, duplicates = {}, np.ones(len(refs), dtype=bool), 0
    for ref in refs:
        i, _, h, n = state[ref]
        if n > 1:                                       # changed at least once after its first value
            key = (width[ref], h, n)
            if key in first:
                representative[i] = False
                duplicates += 1
                bits[units[unit_of[ref]]] -= width[ref]
            else:
                first[key] = i
    sig = np.frombuffer(signals, dtype=np.int32)
    keep = representative[sig]
    cycle = (np.frombuffer(times, dtype=np.int64)[keep] // (period_ns / scale_ns)).astype(np.int64)
    n_cycles = int(cycle.max()) + 1 if len(cycle) else 1
    arr = np.zeros((len(units), n_cycles), dtype=np.int64)
    unit_index = np.array([unit_of[r] for r in refs], dtype=np.int64)
    np.add.at(arr, (unit_index[sig[keep]], cycle), np.frombuffer(flips, dtype=np.int32)[keep].astype(np.int64))
    return ToggleBins(path=str(path), period_ns=period_ns, units=units, bins=arr, bits=bits, watched=watched,
                      duplicates=duplicates)


def field_changes(changes, offset, width):
    """[(time, value)] of a packed signal -> [(time, value of bits offset .. offset+width-1)], only where
    that field changed."""
    out, prev = [], None
    mask = (1 << width) - 1
    for t, v in changes:
        if not isinstance(v, int):
            continue
        f = (v >> offset) & mask
        if f != prev:
            out.append((t, f))
            prev = f
    return out
