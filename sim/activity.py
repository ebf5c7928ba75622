"""Switching activity of a simulated design, read from its waveform (VCD or FST) with pywellen.

    bins = toggle_bins(Path("dump.vcd"), period_ns=10, top="zskip_engine")
    bins.window(t0_ns, t1_ns)    # -> {unit: bit toggles} of the changes in [t0, t1)

The power estimate (boards.power) needs how often every net switches while the
engine does a backward step. The co-simulation writes a waveform of every
signal of the exported engine (Verilator: VCD; Icarus: FST); this module
streams its value changes and adds up, per clock cycle and per unit of the
design (the scope under the top: ``core.ggu``, ``core.lanes``, ...), the bits
that changed (the popcount of old XOR new). Windows (a run's backward steps)
are then sums over cycles.

Memory does not grow with the number of value changes (a waveform of a
board's engine holds hundreds of millions): the toggles go straight into the
per-cycle bins, a time step at a time. One net under several names is counted
once; which signals are such copies is only certain once every change has
been read, so it is decided on the changes read so far at checkpoints while
streaming, and for good at the end; the signals a checkpoint judged otherwise
have their changes read a second time, theirs only and only as far as needed,
to correct the bins (usually a short stretch at the start of the waveform).

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

#: Time steps with toggles between two checkpoints (the steps are buffered, then added to the bins with NumPy,
#: and the copies of a net are looked for again among the signals).
CHECKPOINT_STEPS = 4096


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


class _Bins:
    """Toggles per unit and clock cycle, added a time step at a time: ``add(time, toggles)`` buffers a step
    (its time in the waveform's ticks, and a list of toggles per unit with one more entry, ignored: the
    sink of the signals that are not counted); ``flush()`` adds the buffered steps to the bins."""

    def __init__(self, units, ticks_per_cycle):
        self.units, self.ticks_per_cycle = units, ticks_per_cycle
        self.times, self.toggles = array("q"), array("q")
        self.arr = np.zeros((units, 1024), dtype=np.int64)

    def __len__(self):
        return len(self.times)

    def add(self, time, toggles):
        self.times.append(time)
        self.toggles.extend(toggles[:self.units])

    def flush(self):
        if not self.times:
            return
        # a step's cycle: its time in ticks // the ticks of a cycle (a float), truncated to an integer
        cycle = (np.frombuffer(self.times, dtype=np.int64) // self.ticks_per_cycle).astype(np.int64)
        toggles = np.frombuffer(self.toggles, dtype=np.int64).reshape(len(cycle), self.units)
        need = int(cycle.max()) + 1
        if need > self.arr.shape[1]:
            grown = np.zeros((self.units, max(need, 2 * self.arr.shape[1])), dtype=np.int64)
            grown[:, :self.arr.shape[1]] = self.arr
            self.arr = grown
        np.add.at(self.arr.T, cycle, toggles)
        self.times, self.toggles = array("q"), array("q")

    def result(self):
        """The bins up to the last cycle with a toggle (one cycle if none): no bin is negative once the
        corrections are in, so the last column that is not zero is that of the last toggle counted."""
        self.flush()
        busy = np.flatnonzero(self.arr.any(axis=0))
        return self.arr[:, :int(busy[-1]) + 1 if len(busy) else 1].copy()


def _copies(refs, state, width):
    """The signals of ``refs`` whose changes so far repeat an earlier one's (in ``refs`` order): the same
    width, the same hash of all (time, value) changes and the same number of changes (more than one: a
    signal that never changed after its first value is no copy). ``state[ref]``: [last value, hash, changes,
    ...]."""
    first, copies = set(), set()
    for ref in refs:
        st = state[ref]
        if st[2] > 1:
            key = (width[ref], st[1], st[2])
            if key in first:
                copies.add(ref)
            else:
                first.add(key)
    return copies


class _Enough(Exception):
    """Ends a stream of value changes early: the changes needed have all been read."""


def toggle_bins(path, period_ns, *, top, watch=(), unit=first_scope):
    """Stream the value changes in the waveform ``path``; return a :class:`ToggleBins`.

    ``top``: the design's top module (its scope; the simulator's own copies of the ports, such as
    Verilator's ``$rootio``, are left out). ``watch``: full names of signals whose changes are kept
    (the engine's counters, to find the steps of a run). ``unit``: a signal's name below the top
    (``core.ggu.x``) -> the unit its toggles are counted in."""
    pywellen = require_module("pywellen", "pywellen (waveform reader)", ".venv/bin/pip install pywellen==0.25.7",
                              "switching activity for the power estimate")
    path = check_file(path, "waveform", ActivityError, " (was the co-simulation run with waves?)")
    wave = _open(pywellen, path)
    scale_ns = _scale_ns(wave, path)
    chosen, units, bits, watched_ids, unit_of = _select(wave, path, top, watch, unit)

    # Signals with the same width and the same changes at the same times are one net under several names (a
    # port seen in the module and in its parent, a wire that forwards a register) and are counted once: each
    # signal hashes its changes, and of the signals with the same (width, hash, changes) only the first of
    # ``refs`` is counted. That is only known at the end, but the toggles go into the bins as they are read:
    # every CHECKPOINT_STEPS time steps the rule is applied to the changes read so far (copies of one net
    # have had the same changes at every time step), and a signal it finds a copy has its toggles sent to a
    # sink from then on. At the end the rule is applied for good, and the changes of a signal counted while
    # the checkpoints said otherwise (a copy's before the first checkpoint; a signal that looked like another
    # for a while) are read a second time, that signal's only, to add or take out their toggles. Those spans
    # are counted in the signal's own changes, so the bins are exact whatever the checkpoints decided (and
    # in whatever order the reader gives the signals' changes); the checkpoints only make the second reading
    # short.
    refs = list(unit_of)
    width = {str(v.signal_ref): v.bitwidth for v in chosen}
    watched = {n: [] for n in watch}
    sink = len(units)
    # per streamed signal: [last value, hash of its changes, changes, row of its toggles (sink: not counted),
    # its watched list or None]
    state = {ref: [None, 0, 0, unit_of.get(ref, sink),
                   watched[watched_ids[ref]] if ref in watched_ids else None] for ref in width}
    history = {ref: [] for ref in refs}     # (changes before, counted) each time a checkpoint changed its row
    steps = _Steps(_Bins(len(units), period_ns / scale_ns), sink + 1)

    def checkpoint():
        """Apply the rule to the changes read so far: a signal whose row changes notes after which change."""
        copies = _copies(refs, state, width)
        for ref in refs:
            st = state[ref]
            counted = ref not in copies
            if (st[3] != sink) != counted:
                st[3] = unit_of[ref] if counted else sink
                history[ref].append((st[2], counted))

    _first_reading(wave, path, chosen, state, steps, checkpoint, scale_ns)
    copies = _copies(refs, state, width)
    for ref in copies:
        bits[units[unit_of[ref]]] -= width[ref]

    # the second reading: per signal, the spans of its changes counted in a row other than its final one
    # (counted or not), and whether their toggles are to be added (+1) or taken out (-1)
    fixes = {}
    for ref in refs:
        counted = ref not in copies
        spans = _misjudged(history[ref], counted)
        if spans:
            fixes[ref] = [None, 0, spans, unit_of[ref], 1 if counted else -1]   # last value, changes read
    if fixes:
        # pywellen streams a signal once per Waveform (its stream_changes leaves out the signals an earlier
        # call streamed): the file is opened again
        del wave
        _second_reading(_open(pywellen, path), path, fixes, steps)
    return ToggleBins(path=str(path), period_ns=period_ns, units=units, bins=steps.bins.result(), bits=bits,
                      watched=watched, duplicates=len(copies))


def _open(pywellen, path):
    try:
        return pywellen.Waveform(str(path))
    except Exception as e:         # pywellen raises its own exception types for malformed files
        raise ActivityError(f"cannot read waveform {path}: {e}") from None


def _scale_ns(wave, path):
    """Nanoseconds per tick of the waveform's timescale."""
    ts = wave.timescale
    units_ns = {"fs": 1e-6, "ps": 1e-3, "ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1.0e9}
    unit_name = str(ts.unit).split(".")[-1].lower() if ts is not None else "ns"
    if unit_name not in units_ns:
        raise ActivityError(f"waveform {path} has a timescale unit zskip does not know ({ts})")
    return units_ns[unit_name] * (ts.factor if ts is not None else 1)


def _select(wave, path, top, watch, unit):
    """The signals to stream (each once), the units (in order of first appearance), the bits traced per unit,
    the watched signals' refs -> names and the counted signals' refs -> unit index."""
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
    return chosen, units, bits, watched_ids, unit_of


class _Steps:
    """The toggles of the current time step (``now``), per row (the last: the sink of the signals not counted),
    buffered into ``bins`` when the step ends; ``checkpoint`` (when set) is called each time
    CHECKPOINT_STEPS steps have gone into the bins."""

    def __init__(self, bins, rows):
        self.bins, self.toggles, self.zeros, self.now, self.checkpoint = bins, [0] * rows, [0] * rows, None, None

    def next(self, time):
        """Buffer the toggles of the step ``now``, start ``time``'s."""
        toggles = self.toggles
        toggles[-1] = 0
        if any(toggles):
            self.bins.add(self.now, toggles)
            toggles[:] = self.zeros
            if len(self.bins) >= CHECKPOINT_STEPS:
                self.bins.flush()
                if self.checkpoint is not None:
                    self.checkpoint()
        self.now = time


def _first_reading(wave, path, chosen, state, steps, checkpoint, scale_ns):
    """Stream every chosen signal: toggles into ``steps`` in each signal's row of ``state`` (which
    ``checkpoint`` moves), its hash and count of changes, and the watched signals' changes."""
    toggles = steps.toggles

    def change(time, ref, value):
        if time != steps.now:
            steps.next(time)
        st = state[str(ref)]
        old, h, n, row, watching = st          # (locals: faster than indexing the list again)
        st[0] = value
        st[1] = hash((h, time, value))
        st[2] = n + 1
        if watching is not None:
            watching.append((time * scale_ns, value))
        try:
            toggles[row] += (old ^ value).bit_count()
        except TypeError:           # the first value (old is None), or X/Z (a string): no toggle
            pass

    steps.checkpoint = checkpoint
    _stream(wave, change, chosen, path)
    steps.checkpoint = None
    steps.next(None)


def _second_reading(wave, path, fixes, steps):
    """Stream the signals of ``fixes`` again ([last value, changes read, spans, row, +1 or -1] each) and add
    (or take out) the toggles of their changes within the spans; the stream ends when every span is read."""
    toggles, remaining = steps.toggles, [len(fixes)]    # signals with spans still to read

    def fix(time, ref, value):
        if time != steps.now:
            steps.next(time)
        f = fixes[str(ref)]
        old = f[0]
        f[0] = value
        i = f[1]
        f[1] += 1
        spans = f[2]
        if not spans or i < spans[0][0]:
            return
        try:
            toggles[f[3]] += f[4] * (old ^ value).bit_count()
        except TypeError:           # (as in the first reading)
            pass
        if i + 1 == spans[0][1]:
            del spans[0]
            if not spans:
                remaining[0] -= 1
                if not remaining[0]:
                    raise _Enough

    again = [v for v in wave.all_vars() if str(v.signal_ref) in fixes]
    again = list({str(v.signal_ref): v for v in again}.values())
    steps.now = None
    _stream(wave, fix, again, path)
    steps.next(None)


def _misjudged(history, counted):
    """The spans [start, end) of a signal's changes (by index; end None: to its last) that the checkpoints
    put in a row other than the final one (``counted`` or not); ``history``: [(changes before, counted)] of
    the checkpoints that changed its row, from the start, where it was counted."""
    spans, start, was = [], 0, True
    for n, now_counted in history + [(None, None)]:
        if was != counted and (n is None or n > start):
            spans.append((start, n))
        start, was = n, now_counted
    return spans


def _stream(wave, callback, variables, path):
    """``wave.stream_changes(callback, variables)``, ActivityError if the file cannot be read."""
    try:
        wave.stream_changes(callback, variables)
    except _Enough:
        pass
    except Exception as e:
        raise ActivityError(f"cannot read the value changes of {path}: {e}") from None


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
