"""The combined hardware report: how much faster, how much less energy per backward step, for what accuracy.

    r = report(get_target("icebreaker"), config, trace, Path("reports/demo"), build_dir=Path("build/icebreaker"))

One directory holds ``report.md``, ``report.json`` and two plots:

1. **resources and Fmax** from the board build (boards.build: the tools' own reports);
2. **cycles per backward step**, skip vs dense, from co-simulating the trace's
   passes on the exported engine (Verilator), every output, counter and flag
   equal to the golden model (a mismatch ends the report);
3. **energy per backward step**, skip vs dense, an activity-based estimate
   (boards.power): net toggles from the same simulation's waveform
   (sim.activity), block-RAM and DSP operations from the engine's counters
   (:func:`engine_operations`), flip-flops from the build, at the engine clock;
   and the same ratio over whole sequences, the read-out after the last step
   (:func:`readout_operations`) amortised over the sequence's T steps;
   throughput: the lanes' peak and the dense-equivalent rate of skip mode, in GMAC/s;
4. the same at other thresholds (a sweep of tau over the trace: speedup and
   energy ratio vs sparsity);
5. the accuracy table of a ``zskip compare`` run, when one is given.

The activity is the exported engine's (full-rate streams, as a host that keeps
up would feed it), not the UART board top's: behind the UART the engine waits
thousands of cycles per transfer, and those waits are the link's cost, not
the step's. The report says so.
"""

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from golden_model.checks import check_size
from golden_model.errors import ConfigError, ZskipError
from golden_model.records import Record, RecordError, load_json
from sim.jobs import PERIOD_NS, RunSpec

from .power import (COEFFICIENTS, ENERGY_GOAL_FACTOR, LABEL, MODEL_VERSION, Workload, coefficient_sources, estimate,
                    ratio_band)

__all__ = ["report", "measure", "markdown", "headline_table", "ReportError", "engine_operations",
           "readout_operations", "engine_unit",
           "SWEEP", "ModeFigures", "BoardReport", "TraceInfo", "StepTimes", "EnergyBand", "PerMode",
           "SweepPoint", "Accuracy", "AccuracyRow", "BuildInfo"]

#: tau of the sweep points, as multiples of the trace's own tau (1 is the trace's point itself).
SWEEP = (0.0, 0.1, 0.3, 3.0)


class ReportError(ZskipError):
    """The report cannot be made (a mismatch in co-simulation, a build that failed, inputs that disagree)."""


#: Suffix of the units that hold Amaranth's unnamed expression temporaries (``$12``, ``$signal$7``).
TEMPORARIES = " (temporaries)"


#: The engine's units by their submodule's path below the core (hw.controller.EngineCore); the rest of the
#: core is the sequencer's, "controller".
ENGINE_UNITS = {"ggu": "gate-gradient unit", "lanes": "MAC lanes", "encoder": "zero-skip encoder",
                "dz_buffer": "dz buffer", "feed": "feed", "loader": "a-loader", "readout": "read-out",
                "perf": "counters"}


def engine_unit(name):
    """The unit of the engine a signal (its name below the top) belongs to, for the toggle breakdown;
    Amaranth's expression temporaries (``$12``; an unnamed Signal, ``$signal$7``, is a real one) go to
    the unit's ``TEMPORARIES`` twin.

    The estimate counts the named signals only (registers, ports and named wires). The temporaries are
    every intermediate of every expression at its full width (a multiplexer tree is one temporary per
    level): in the serial gate-gradient unit they are 26,000 of 27,000 RTL bits, several times the
    nets of the whole mapped design, so counting them would charge the netlist for wires it does not
    have. The report shows what the ratio would be with them."""
    parts = name.split(".")
    scope, leaf = parts[:-1], parts[-1]
    if scope[:1] == ["core"]:
        sub = ".".join(scope[1:3])
        unit = ENGINE_UNITS.get(sub) or ENGINE_UNITS.get(sub.partition(".")[0], "controller")
    elif scope and re.fullmatch(r"\w+_fifo\d*", scope[0]):          # (a stream's FIFO, or one slice of it)
        unit = "stream FIFOs"
    else:
        unit = "ports and glue"
    temporary = leaf.startswith("$") and (leaf[1:2].isdigit() or leaf.startswith("$auto$"))
    return unit + TEMPORARIES if temporary else unit


def engine_operations(config, counters, elements, buffered):
    """Block-RAM word accesses and 8x8-equivalent multiplies of one sequence's backward steps, from the
    engine's counters (hw.counters.COUNTERS): what each event does in hw/.

    - each cycle the lanes are busy (``mac_busy``), every one of the P lanes reads W, a, its dW and its da
      accumulator and writes both accumulators back, and multiplies twice (16 x 16: two 8x8-equivalents);
    - each element (``elements`` = T B H, in both modes) makes 16 products in the gate-gradient unit and
      reads and writes dc and reads dh_rec;
    - each element with a nonzero dz (``buffered``; every element in dense mode) is written to and read
      from the dz buffer (4 dz words);
    - each step loads a_t (B C chunks of P words), reads da out and writes dh_rec (B C chunks each).

    Accesses are counted in 16-bit words (a 39-bit accumulator is 39/16 of one), wherever the tools put the
    memory (block RAM or LUT RAM): the estimate charges them all at the block-RAM figure."""
    c = config
    P, C, H = c.lanes, c.cols_per_lane, c.hidden_size
    w16 = lambda fmt_width: fmt_width / 16
    busy = counters["mac_busy"]
    rows = elements / H            # T x B: the batch rows of every step (the trace's B, not max_batch)
    reads = busy * P * (w16(c.weight.width) + w16(c.inp.width) + w16(c.dw_acc.width) + w16(c.da_acc.width)) \
        + elements * 2 * w16(c.grad.width) + buffered * 4 * w16(c.grad.width) + rows * C * P * w16(c.da_acc.width)
    writes = busy * P * (w16(c.dw_acc.width) + w16(c.da_acc.width)) + elements * w16(c.grad.width) \
        + buffered * 4 * w16(c.grad.width) + rows * C * P * (w16(c.inp.width) + w16(c.grad.width))
    mults = busy * P * 2 * 2 + elements * 16 * 2
    return {"bram_reads": reads, "bram_writes": writes, "dsp_ops": mults}


def readout_operations(config, batch):
    """Block-RAM word accesses and 8x8-equivalent multiplies of one sequence's read-out after its last step
    (hw.readout; the last step's da read-out is the step's, in :func:`engine_operations`), with ``batch`` the
    sequence's B:

    - dW: 4H x C chunks of P words of the dW accumulators, each read and written back as 0;
    - db: 4H words of the db accumulators, each read and cleared;
    - the state walk (dh0, dc0): B x H reads of dh_rec and B x H reads of dc, in the grad format;
    - no multiplies.

    Accesses are counted in 16-bit words, as :func:`engine_operations` counts them."""
    c = config
    B = check_size("batch", batch)
    if B > c.max_batch:
        raise ConfigError(f"batch {B} exceeds the configuration's max_batch {c.max_batch}")
    w16 = lambda fmt_width: fmt_width / 16
    dw = c.n_rows * c.cols_per_lane * c.lanes * w16(c.dw_acc.width)
    db = c.n_rows * w16(c.db_acc.width)
    state = B * c.hidden_size * 2 * w16(c.grad.width)
    return {"bram_reads": dw + db + state, "bram_writes": dw + db, "dsp_ops": 0}


@dataclass
class ModeFigures:
    """One mode (or sweep point) summed over the trace's passes."""

    tau: list
    sparsity: float
    steps: int                 # backward steps (T per pass, summed)
    cycles: int                # the engine's `steps` counter, summed: clock cycles of the backward steps
    toggles: dict              # unit -> net toggles in those cycles
    counters: dict
    elements: int
    buffered: int
    sequence_cycles: int = 0   # the engine's `cycles` counter, summed: the whole sequences, read-out included
    sequence_toggles: dict = field(default_factory=dict)   # unit -> net toggles in the whole runs


def _elements_with_nonzero(result):
    dz = np.asarray(result.dz)          # (T, B, 4H), gate-major: gates i, f, g, o of unit j at j, H+j, ...
    T, B, R = dz.shape
    H = R // 4
    return int(np.any(dz.reshape(T, B, 4, H) != 0, axis=2).sum())


def measure(config, sequences, *, taus=SWEEP, sim="verilator", root=Path("build/cosim"), progress=None):
    """Co-simulate every sequence in skip mode, dense mode and at each sweep tau (multiples of its own), with
    waveforms; check each run against the golden model; return {"skip": ModeFigures, "dense": ..., sweep
    points by multiple}, each over all sequences."""
    from hw.counters import counters_layout
    from sim.activity import field_changes, toggle_bins
    from sim.cosim import build, run_job
    from sim.export import TOP

    built = build(config, sim, root=root, waves=True, temporaries=False)
    layout = dict(counters_layout(config))
    fields_at = {name: (layout[name].offset, layout[name].width) for name in ("steps", "cycles")}
    keys = ["skip", "dense", *taus]
    acc = {}
    for n, inputs in enumerate(sequences):
        swept = [int(round(inputs.tau * m)) for m in taus]
        runs = [RunSpec(dense=False), RunSpec(dense=True), *(RunSpec(hw_tau=t, model_tau=t) for t in swept)]
        if progress:
            progress(f"pass {n + 1}/{len(sequences)}: skip, dense and {len(taus)} more thresholds on {sim} "
                     "(with waveforms)")
        res = run_job(config, inputs, runs, built, name=f"activity{n}")
        bad = next((r for r in res if not r.passed), None)
        if bad:
            tau = inputs.tau if bad.run.hw_tau is None else bad.run.hw_tau
            raise ReportError(f"co-simulation of pass {n} ({'dense' if bad.run.dense else 'skip'} mode, tau {tau}) "
                              f"differs from the golden model: {bad.differences}; see {built.dir / f'activity{n}'}")
        wave = res[0].waveform
        if wave is None:
            raise ReportError(f"the co-simulation of pass {n} wrote no waveform; see {built.dir / f'activity{n}'}")
        if progress:
            progress(f"pass {n + 1}/{len(sequences)}: {len(res)} runs (skip, dense, swept tau) bit-exact: every "
                     f"output, counter and flag equal to the golden model; reading the switching activity from "
                     f"{Path(wave).name}")
        bins = toggle_bins(wave, PERIOD_NS, top=TOP, watch=(f"{TOP}.counters",), unit=engine_unit)
        changes = {name: field_changes(bins.watched[f"{TOP}.counters"], *at) for name, at in fields_at.items()}
        starts = [r.t_start_ns for r in res] + [math.inf]
        for key, r, t0, t1 in zip(keys, res, starts, starts[1:]):
            # the run's backward steps: from its start to the last increment of its `steps` counter; the
            # whole run (its sequence, read-out included): to the last increment of its `cycles` counter
            t_end, t_seq = (max((t for t, v in changes[name] if t0 <= t < t1 and v > 0), default=None)
                            for name in ("steps", "cycles"))
            if t_end is None or t_seq is None:
                raise ReportError(f"the waveform {wave} shows no backward step of run {key!r} of pass {n} "
                                  f"(its {'steps' if t_end is None else 'cycles'} counter never rises after the "
                                  "run's start)")
            f = acc.setdefault(key, ModeFigures(tau=[], sparsity=0.0, steps=0, cycles=0, toggles={}, counters={},
                                                elements=0, buffered=0))
            _add_run(f, config, inputs, r, bins.window(t0, t_end + PERIOD_NS), bins.window(t0, t_seq + PERIOD_NS))
        Path(wave).unlink(missing_ok=True)       # hundreds of MB; everything needed is in the figures
    for f in acc.values():
        f.sparsity = f.sparsity / f.counters["entries"]
    return acc


def _add_run(f, config, inputs, r, toggles, sequence_toggles):
    """Add a RunResult ``r`` of ``inputs``, the net toggles of its backward steps and those of the whole run
    (read-out included) to the ModeFigures ``f`` (its sparsity summed as zeros: measure() divides)."""
    from golden_model.engine_model import run_engine

    tau = inputs.tau if r.run.model_tau is None else r.run.model_tau
    result = run_engine(config, replace(inputs, tau=int(tau)), dense=r.run.dense)
    T, B = inputs.dh.shape[:2]
    f.tau.append(int(tau))
    f.steps += T
    f.cycles += r.counters["steps"]
    f.sequence_cycles += r.counters["cycles"]
    for u, v in toggles.items():
        f.toggles[u] = f.toggles.get(u, 0) + v
    for u, v in sequence_toggles.items():
        f.sequence_toggles[u] = f.sequence_toggles.get(u, 0) + v
    for k, v in r.counters.items():
        f.counters[k] = f.counters.get(k, 0) + v
    f.elements += T * B * config.hidden_size
    f.buffered += T * B * config.hidden_size if r.run.dense else _elements_with_nonzero(result)
    f.sparsity += r.entries - r.nonzeros
    f.counters["entries"] = f.counters.get("entries", 0) + r.entries


@dataclass
class TraceInfo(Record):
    """The trace the report co-simulated: its file, the passes used, their steps T and batch B."""

    path: str
    passes: int
    T: int
    B: int


@dataclass
class StepTimes(Record):
    """Time per backward step (us), skip and dense, at Fmax and at the engine clock."""

    skip_at_fmax: float
    dense_at_fmax: float
    skip_at_clock: float
    dense_at_clock: float


@dataclass
class EnergyBand(Record):
    """(low, high) of the energy ratio skip / dense and of the energy per step (nJ) of each mode."""

    ratio: tuple[float, float]
    skip_nj: tuple[float, float]
    dense_nj: tuple[float, float]


@dataclass
class PerMode(Record):
    """One figure, or one table of figures (by term, unit or operation), of each mode."""

    skip: float | dict[str, float]
    dense: float | dict[str, float]


@dataclass
class SweepPoint(Record):
    """One threshold of the sweep: its tau per pass, dz sparsity, cycles per step, speedup (and the ideal
    1 / (1 - s)), energy per step, energy ratio to dense with its (low, high) band, and the goal at s."""

    point: str
    tau: list[int]
    sparsity: float
    cycles_per_step: float
    speedup: float
    ideal_speedup: float | None
    energy_per_step_nj: float
    energy_ratio: float
    energy_ratio_band: tuple[float, float]
    goal: float


@dataclass
class AccuracyRow(Record):
    """One training run of a 'zskip compare' (or 'zskip train') directory."""

    label: str
    kind: str
    dz_sparsity: float
    test_metric: float
    delta: float | None


@dataclass
class Accuracy(Record):
    """The accuracy table of a 'zskip compare' or 'zskip train' directory: the file it came from, the test
    metric, the dataset (its description, as the run recorded it) and the rows."""

    source: str
    metric: str
    dataset: dict | None
    rows: list[AccuracyRow]

    @property
    def dataset_name(self):
        """The dataset's name ("" when the run did not record it)."""
        return str((self.dataset or {}).get("name", ""))


@dataclass
class BuildInfo(Record):
    """What the report keeps of the board build: its time, bitstream, tools and clock plan (boards.build)."""

    build_s: float
    bitstream: str
    tools: dict[str, str]
    clock: dict


@dataclass
class BoardReport(Record):
    """The report (report.json): the board, the trace, cycles and time per backward step, the energy estimate
    (per step, its band, its goal, its breakdown and what the terms count), the sweep of tau, the build's
    resources and Fmax, the accuracy of a training run, and how the estimate is made.

    Added later (None in reports written before them, which render as they did):

    - ``macs_dense_per_step``: multiply-accumulates of one backward step with every dz, 2 x B x 4H x N
      (dW and da; B the trace's batch);
    - ``peak_gmacs``: the lanes' peak, P lanes x 2 MACs per cycle x Fmax, in GMAC/s;
    - ``dense_equiv_gmacs``: ``macs_dense_per_step`` over the skip-mode time per backward step at Fmax, in
      GMAC/s (``dense_equivalent_macs_per_s`` / 1e9);
    - ``energy_ratio_sequence``, its (low, high) ``energy_ratio_sequence_band`` and
      ``energy_goal_met_sequence``: the energy ratio skip / dense over whole sequences, the read-out after
      the last step (dh0/dc0, dW, db) included and so amortised over the sequence's T steps, against the same
      goal ``energy_goal`` (``energy_ratio`` is per backward step, without it)."""

    SCHEMA = "zskip.board-report/1"

    board: str
    device: str
    estimate: bool
    label: str
    model: str
    config: dict
    trace: TraceInfo
    sparsity: float
    ideal_speedup: float | None
    cycles_dense: float
    cycles_skip: float
    speedup: float
    cycles_dense_total: int
    cycles_skip_total: int
    steps: int
    fmax_mhz: float
    clock_mhz: float
    timing_met: bool
    time_per_step_us: StepTimes
    dense_equivalent_macs_per_s: float
    energy_skip_nj: float
    energy_dense_nj: float
    energy_ratio: float
    energy_band: EnergyBand
    energy_goal: float
    energy_goal_met: bool
    energy_ratio_with_temporaries: float | None
    power_mw: PerMode
    energy_breakdown_nj_per_step: PerMode
    toggles_per_step: PerMode
    operations_per_step: PerMode
    sweep: list[SweepPoint]
    resources: dict[str, dict[str, int]]
    flip_flops: int
    critical_path: dict
    accuracy: Accuracy | None
    coefficient_sources: dict[str, str]
    assumptions: dict[str, str]
    build: BuildInfo
    macs_dense_per_step: int | None = None
    peak_gmacs: float | None = None
    dense_equiv_gmacs: float | None = None
    energy_ratio_sequence: float | None = None
    energy_ratio_sequence_band: tuple[float, float] | None = None
    energy_goal_met_sequence: bool | None = None


def _ideal(s):
    """The ideal speedup 1 / (1 - s) of dz sparsity s; None when every dz is zero."""
    return 1 / (1 - s) if s < 1 else None


def _x(v, digits=1):
    return "—" if v is None else f"{v:.{digits}f}x"


def _met(ok, no="not met"):
    return "met" if ok else no


def _build_report(target, config, build_dir, progress):
    """The board build's BuildReport: reused from ``build_dir``'s report.json when it built this board's
    design (the same ``boards.build.design_digest``: configuration, clock and hardware), else made there."""
    from .build import BuildReport, build, design_digest
    say = progress or (lambda text: None)
    path = Path(build_dir) / "report.json"
    if path.is_file():
        try:
            data = load_json(path)
        except RecordError as e:
            raise ReportError(f"{e}; delete it or name another --build directory") from None
        try:
            old = BuildReport.from_dict(data, source=path)
        except RecordError as e:
            say(f"the build in {build_dir} cannot be reused ({e}): building again")
        else:
            if old.board != target.name or old.config != config.to_dict():
                say(f"the build in {build_dir} is of another board or configuration: building again")
            elif old.design != design_digest(target, config):
                say(f"the build in {build_dir} is of this configuration but another design (the hardware or its "
                    f"clock changed since): building again")
            else:
                say(f"using the build in {build_dir} (its report.json is this board's design)")
                return old
    say(f"building for {target.name} in {build_dir} (minutes)")
    return build(target, config, Path(build_dir), progress=progress)


def _flip_flops(build):
    return sum(n for cell, n in build.cells.items() if "DFF" in cell or cell == "TRELLIS_FF")


def _accuracy(run_dir):
    """The Accuracy of a 'zskip compare' directory (its rows: label, dz sparsity, test metric, delta vs dense),
    or the one row of a 'zskip train' directory."""
    run_dir = Path(run_dir)
    for name in ("compare.json", "metrics.json"):
        path = run_dir / name
        if not path.is_file():
            continue
        try:
            d = json.loads(path.read_text())
            if name == "compare.json":
                rows = [AccuracyRow(label=str(r["label"]), kind=r["kind"], dz_sparsity=float(r["dz_sparsity"]),
                                    test_metric=float(r["test_metric"]), delta=float(r["delta"])) for r in d["rows"]]
            else:
                rows = [AccuracyRow(label=str(d.get("threshold_rule", "run")), kind="run",
                                    dz_sparsity=float(d["dz_sparsity"]), test_metric=float(d["test_metric"]),
                                    delta=None)]
            dataset = d.get("dataset")
            return Accuracy(source=str(path), metric=str(d["metric"]), rows=rows,
                            dataset=dataset if isinstance(dataset, dict) or dataset is None else {"name": str(dataset)})
        except (ValueError, KeyError, TypeError) as e:     # JSONDecodeError is a ValueError
            raise ConfigError(f"{path} is not a readable {name} of 'zskip {name.split('.')[0].replace('metrics', 'train')}' "
                              f"({type(e).__name__}: {e})") from None
    raise ConfigError(f"--run {run_dir} holds neither compare.json ('zskip compare') nor metrics.json ('zskip train')")


def report(target, config, trace, out, *, build_dir=None, run_dir=None, passes=None, taus=SWEEP, sim="verilator",
           cosim_root=Path("build/cosim"), trace_path=None, progress=None):
    """Make the report of ``trace`` (a golden_model.trace.Trace) on ``target`` with ``config`` in ``out``
    (report.md, report.json, two plots); returns the BoardReport."""
    from sim.cosim import trace_sequences
    config, sequences = trace_sequences(trace, config, passes)
    accuracy = _accuracy(run_dir) if run_dir is not None else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    build = _build_report(target, config, build_dir or out / "build", progress)
    figures = measure(config, sequences, taus=taus, sim=sim, root=cosim_root, progress=progress)
    T, B = sequences[0].dh.shape[:2]
    used = TraceInfo(path=str(trace_path or ""), passes=len(sequences), T=int(T), B=int(B))
    r = _board_report(target, config, build, figures, used, accuracy, sim)
    r.write(out / "report.json")
    _plots(r, out)
    (out / "report.md").write_text(markdown(r))
    return r


def _sequence_workload(config, clock, flip_flops, f, batch, passes):
    """The power model's Workload of ModeFigures ``f``'s whole sequences (``passes`` of batch ``batch``): the
    engine's `cycles` counter, the toggles of the whole runs (named signals only), the steps' operations and
    the read-out's of every sequence."""
    ops = engine_operations(config, f.counters, f.elements, f.buffered)
    readout = readout_operations(config, batch)
    ops = {k: v + passes * readout[k] for k, v in ops.items()}
    toggles = sum(v for u, v in f.sequence_toggles.items() if not u.endswith(TEMPORARIES))
    return Workload(cycles=f.sequence_cycles, f_mhz=clock, flip_flops=flip_flops, net_toggles=toggles, **ops)


def _workloads(family, config, clock, flip_flops, figures):
    """The power model's Workload of every mode and sweep point, and the energy ratio skip / dense with
    Amaranth's expression temporaries counted too (None when the waveform has none: Verilator's)."""
    def workload(f, temporaries=False):
        ops = engine_operations(config, f.counters, f.elements, f.buffered)
        toggles = sum(v for u, v in f.toggles.items() if temporaries or not u.endswith(TEMPORARIES))
        return Workload(cycles=f.cycles, f_mhz=clock, flip_flops=flip_flops, net_toggles=toggles, **ops)

    traced = any(u.endswith(TEMPORARIES) for u in figures["dense"].toggles)     # Icarus traces them
    with_temporaries = ratio_band(family, workload(figures["skip"], True), workload(figures["dense"], True))[0] \
        if traced else None
    return {k: workload(f) for k, f in figures.items()}, with_temporaries


def _sweep(family, figures, loads, est):
    """The SweepPoints of every mode but dense, by sparsity."""
    per_step = {k: f.cycles / f.steps for k, f in figures.items()}
    points = []
    for k, f in sorted(figures.items(), key=lambda kv: kv[1].sparsity):
        if k == "dense":
            continue
        ratio, lo, hi = ratio_band(family, loads[k], loads["dense"])
        points.append(SweepPoint(
            point="trace tau" if k == "skip" else "tau = 0 (exact zeros)" if k == 0 else f"{k:g} x tau",
            tau=f.tau, sparsity=f.sparsity, cycles_per_step=per_step[k], speedup=per_step["dense"] / per_step[k],
            ideal_speedup=_ideal(f.sparsity), energy_per_step_nj=est[k].total_nj / f.steps, energy_ratio=ratio,
            energy_ratio_band=(lo, hi), goal=ENERGY_GOAL_FACTOR * (1 - f.sparsity)))
    return points


def _per_step(figures, table_of, keep=()):
    """A PerMode of ``table_of(mode)``'s figures divided by the mode's steps (but those named in ``keep``)."""
    return PerMode(**{m: {k: v if k in keep else v / figures[m].steps for k, v in table_of(m).items()}
                           for m in ("skip", "dense")})


def _board_report(target, config, build, figures, trace, accuracy, sim):
    """The BoardReport of a build (BuildReport) and the measured ModeFigures."""
    family, clock, fmax = target.family, build.clock["engine_mhz"], build.fmax_mhz
    ffs = _flip_flops(build)
    loads, with_temporaries = _workloads(family, config, clock, ffs, figures)
    est = {k: estimate(family, w) for k, w in loads.items()}
    skip, dense = figures["skip"], figures["dense"]
    ratio, r_lo, r_hi = ratio_band(family, loads["skip"], loads["dense"])
    s, goal = skip.sparsity, ENERGY_GOAL_FACTOR * (1 - skip.sparsity)
    cyc = {k: figures[k].cycles / figures[k].steps for k in ("skip", "dense")}
    dense_macs_per_step = 2 * trace.B * config.n_rows * config.n_inputs          # dW and da, every dz
    dense_macs_per_s = dense_macs_per_step / (cyc["skip"] / (fmax * 1e6))
    seq = {k: _sequence_workload(config, clock, ffs, figures[k], trace.B, trace.passes) for k in ("skip", "dense")}
    seq_ratio, seq_lo, seq_hi = ratio_band(family, seq["skip"], seq["dense"])
    return BoardReport(
        board=target.name, device=target.device, estimate=True, label=LABEL, model=MODEL_VERSION,
        config=config.to_dict(), trace=trace, sparsity=s, ideal_speedup=_ideal(s),
        cycles_dense=cyc["dense"], cycles_skip=cyc["skip"], speedup=cyc["dense"] / cyc["skip"],
        cycles_dense_total=dense.cycles, cycles_skip_total=skip.cycles, steps=skip.steps,
        fmax_mhz=fmax, clock_mhz=clock, timing_met=build.timing_met,
        time_per_step_us=StepTimes(skip_at_fmax=cyc["skip"] / fmax, dense_at_fmax=cyc["dense"] / fmax,
                                   skip_at_clock=cyc["skip"] / clock, dense_at_clock=cyc["dense"] / clock),
        dense_equivalent_macs_per_s=dense_macs_per_s,
        energy_skip_nj=est["skip"].total_nj / skip.steps, energy_dense_nj=est["dense"].total_nj / dense.steps,
        energy_ratio=ratio,
        energy_band=EnergyBand(ratio=(r_lo, r_hi), skip_nj=tuple(x / skip.steps for x in est["skip"].band_nj),
                               dense_nj=tuple(x / dense.steps for x in est["dense"].band_nj)),
        energy_goal=goal, energy_goal_met=ratio <= goal, energy_ratio_with_temporaries=with_temporaries,
        power_mw=PerMode(skip=est["skip"].power_mw, dense=est["dense"].power_mw),
        energy_breakdown_nj_per_step=_per_step(figures, lambda m: est[m].terms_nj),
        toggles_per_step=_per_step(figures, lambda m: figures[m].toggles),
        operations_per_step=_per_step(figures, lambda m: asdict(loads[m]), keep=("f_mhz", "flip_flops")),
        sweep=_sweep(family, figures, loads, est),
        resources=build.utilization, flip_flops=ffs, critical_path=build.critical_path, accuracy=accuracy,
        coefficient_sources=coefficient_sources(family),
        assumptions=_assumptions(family, sim, clock, with_temporaries),
        build=BuildInfo(build_s=build.build_s, bitstream=build.bitstream, tools=build.tools, clock=build.clock),
        macs_dense_per_step=dense_macs_per_step, peak_gmacs=config.lanes * 2 * fmax / 1000,
        dense_equiv_gmacs=dense_macs_per_s / 1e9, energy_ratio_sequence=seq_ratio,
        energy_ratio_sequence_band=(seq_lo, seq_hi), energy_goal_met_sequence=seq_ratio <= goal)


def _assumptions(family, sim, clock, with_temporaries):
    """How the estimate is made, in words (``with_temporaries``: the ratio with Amaranth's temporaries, when
    the simulator traced them)."""
    return {
        "activity": f"RTL simulation of the exported engine on {sim} (zero-delay: glitches are not counted), "
                    "full-rate streams, the trace's passes; net toggles = toggles of the bits of named RTL "
                    "signals (registers, ports, named wires; clock and reset excluded) in the cycles of the "
                    "backward steps, read from the waveform with pywellen. Amaranth's unnamed expression "
                    "temporaries are left out (they outnumber the mapped netlist's nets several times" +
                    (f"; with them the ratio would be {with_temporaries:.3f})" if with_temporaries is not None else
                     "; Verilator does not trace them here)"),
        "operations": "block-RAM accesses and multiplies from the engine's counters (boards.report."
                      "engine_operations); every memory access charged at the block-RAM figure, every "
                      "multiply (lanes and gate-gradient unit) at the DSP figure: both builds put all of "
                      "them in DSP blocks",
        "flip_flops": "Yosys' flip-flop cells of the whole board build (engine, host link, UART), all clocked "
                      "every cycle",
        "clock": f"energy at the engine clock {clock:g} MHz (the build's constraint); times also at Fmax",
        "voltage_temperature": f"core {COEFFICIENTS[family]['v_core'].value} V nominal, 25 C, typical silicon",
        "io": "0: the engine's streams are on chip; the UART link's time and energy are not in the step",
        "band": "each term at its coefficient's low and high factor; the ratio over every corner of the "
                "factors (shared by skip and dense)",
        "sequence": "the per-sequence ratio: each run whole, from its start to the last cycle its `cycles` "
                    "counter counts (the read-out after the last step included), its toggles over that window "
                    "and its operations the steps' plus the read-out's (boards.report.readout_operations)",
    }


def _plots(r, out):
    """energy_breakdown.png and sparsity_sweep.png of a BoardReport in ``out``."""
    from golden_model.plots import pyplot
    plt = pyplot()
    bd = r.energy_breakdown_nj_per_step
    fig, ax = plt.subplots(figsize=(7, 4.2))
    left = [0.0, 0.0]
    for i, t in enumerate(bd.dense):
        vals = [bd.skip[t], bd.dense[t]]
        ax.barh(["skip", "dense"], vals, left=left, label=t, color=f"C{i}")
        left = [left[0] + vals[0], left[1] + vals[1]]
    ax.set(xlabel="energy per backward step (nJ, estimate)",
           title=f"{r.board}: energy per step by resource class ({LABEL})")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "energy_breakdown.png", dpi=110)
    plt.close(fig)

    sw = r.sweep
    s = np.array([p.sparsity for p in sw])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    grid = np.linspace(0, 0.995, 200)
    a1.plot(s, [p.speedup for p in sw], "o-", label="measured (co-simulation)")
    a1.plot(grid, 1 / (1 - grid), ":", color="grey", label="ideal 1 / (1 - s)")
    a1.set(xlabel="dz sparsity s", ylabel="speedup (cycles dense / skip)", title="speedup per backward step",
           ylim=(0, max(1.2 * max(p.speedup for p in sw), 2)))
    a1.legend()
    a2.fill_between(s, [p.energy_ratio_band[0] for p in sw], [p.energy_ratio_band[1] for p in sw], alpha=0.25,
                    label="band (estimate)")
    a2.plot(s, [p.energy_ratio for p in sw], "o-", label="energy skip / dense (estimate)")
    a2.plot(grid, ENERGY_GOAL_FACTOR * (1 - grid), "--", color="C3", label=f"goal {ENERGY_GOAL_FACTOR:g} (1 - s)")
    a2.plot(grid, 1 - grid, ":", color="grey", label="1 - s")
    a2.set(xlabel="dz sparsity s", ylabel="energy ratio", ylim=(0, 1.05), title="energy per step, skip / dense")
    a2.legend(fontsize=8)
    fig.suptitle(f"{r.board}: tau swept over the trace", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "sparsity_sweep.png", dpi=110)
    plt.close(fig)


def headline_table(r):
    """The one table a user asks for (Markdown), of a BoardReport."""
    acc = "—"
    if r.accuracy:
        rows = {row.kind: row for row in r.accuracy.rows}
        fmt = (lambda v: f"{100 * v:.1f} %") if r.accuracy.metric == "accuracy" else (lambda v: f"{v:.3f}")
        acc = " / ".join(fmt(rows[k].test_metric) if k in rows else "—" for k in ("dense", "sparse", "fixed"))
    res = r.resources
    main = [k for k in ("ICESTORM_LC", "ICESTORM_DSP", "ICESTORM_RAM", "TRELLIS_COMB", "MULT18X18D", "DP16KD")
            if k in res]
    resources = ", ".join(f"{k} {res[k]['used']}/{res[k]['available']}" for k in main)
    band = r.energy_band.ratio
    if r.energy_ratio_sequence is None:      # a report written before the throughput and per-sequence figures
        return "\n".join([
            f"| board | dz sparsity | speedup (ideal) | energy skip/dense, estimate (band) | goal {ENERGY_GOAL_FACTOR:g} "
            "(1 - s) | accuracy dense / sparsified / fixed | resources | Fmax (clock) |",
            "|---|---:|---:|---:|---:|---|---|---:|",
            f"| {r.board} | {100 * r.sparsity:.1f} % | {r.speedup:.2f}x ({_x(r.ideal_speedup)}) "
            f"| {r.energy_ratio:.3f} ({band[0]:.3f}-{band[1]:.3f}) | {r.energy_goal:.3f} "
            f"{_met(r.energy_goal_met)} | {acc} | {resources} | {r.fmax_mhz:.1f} MHz ({r.clock_mhz:g}) |",
        ])
    seq = r.energy_ratio_sequence_band
    return "\n".join([
        "| board | dz sparsity | speedup (ideal) | energy skip/dense per step, estimate (band): goal | energy "
        "skip/dense per sequence with its read-out, estimate (band): goal | goal "
        f"{ENERGY_GOAL_FACTOR:g} (1 - s) | GMAC/s at Fmax: dense-equivalent (peak) | accuracy dense / sparsified / "
        "fixed | resources | Fmax (clock) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---|---:|",
        f"| {r.board} | {100 * r.sparsity:.1f} % | {r.speedup:.2f}x ({_x(r.ideal_speedup)}) "
        f"| {r.energy_ratio:.3f} ({band[0]:.3f}-{band[1]:.3f}) {_met(r.energy_goal_met)} "
        f"| {r.energy_ratio_sequence:.3f} ({seq[0]:.3f}-{seq[1]:.3f}) {_met(r.energy_goal_met_sequence)} "
        f"| {r.energy_goal:.3f} | {r.dense_equiv_gmacs:.3f} ({r.peak_gmacs:.3f}) "
        f"| {acc} | {resources} | {r.fmax_mhz:.1f} MHz ({r.clock_mhz:g}) |",
    ])


def markdown(r):
    """report.md of a BoardReport."""
    sections = (_md_cycles, _md_energy, _md_sweep, _md_accuracy, _md_build, _md_method)
    lines = [f"# zskip report: {r.board} ({r.device})", "",
             f"Energy figures are an **{LABEL}** ({r.model}); ratios between the skip and dense runs of one build "
             "are far more trustworthy than the absolute figures.", "",
             headline_table(r), ""]
    for section in sections:
        lines += section(r)
    return "\n".join(lines) + "\n"


def _md_cycles(r):
    t, band = r.time_per_step_us, r.energy_band
    return [
        "## Cycles and time per backward step", "",
        f"Trace: {r.trace.passes} pass(es) of T = {r.trace.T}, B = {r.trace.B}, co-simulated "
        "in skip and dense mode; every output, counter and flag equal to the golden model.", "",
        "| | skip | dense |", "|---|---:|---:|",
        f"| cycles per step | {r.cycles_skip:.1f} | {r.cycles_dense:.1f} |",
        f"| time per step at Fmax {r.fmax_mhz:.1f} MHz | {t.skip_at_fmax:.2f} us | {t.dense_at_fmax:.2f} us |",
        f"| time per step at the clock {r.clock_mhz:g} MHz | {t.skip_at_clock:.2f} us | {t.dense_at_clock:.2f} us |",
        f"| energy per step (estimate) | {r.energy_skip_nj:.1f} nJ ({band.skip_nj[0]:.1f}-{band.skip_nj[1]:.1f}) "
        f"| {r.energy_dense_nj:.1f} nJ ({band.dense_nj[0]:.1f}-{band.dense_nj[1]:.1f}) |",
        f"| power (estimate) | {r.power_mw.skip:.2f} mW | {r.power_mw.dense:.2f} mW |", "",
        f"dz sparsity {100 * r.sparsity:.1f} %: speedup {r.speedup:.2f}x of an ideal {_x(r.ideal_speedup, 2)}; "
        f"effective dense-equivalent rate {r.dense_equivalent_macs_per_s / 1e6:.1f} M MAC/s at Fmax. "
        f"Energy ratio skip / dense **{r.energy_ratio:.3f}** (band {band.ratio[0]:.3f}-{band.ratio[1]:.3f}) "
        f"against the goal {ENERGY_GOAL_FACTOR:g} (1 - s) = {r.energy_goal:.3f}: **{_met(r.energy_goal_met)}**.", "",
        *_md_throughput_and_sequence(r),
    ]


def _md_throughput_and_sequence(r):
    """The throughput and the per-sequence energy ratio (none in a report written before them)."""
    if r.energy_ratio_sequence is None:
        return []
    seq = r.energy_ratio_sequence_band
    return [
        f"Throughput at Fmax {r.fmax_mhz:.1f} MHz: peak {r.peak_gmacs:.3f} GMAC/s (P = {r.config['lanes']} "
        f"lane(s) x 2 MACs per cycle); dense-equivalent {r.dense_equiv_gmacs:.3f} GMAC/s in skip mode (the "
        f"{r.macs_dense_per_step:,} MACs of a dense step, 2 B 4H N, per skip-mode step time).", "",
        f"Per sequence, the read-out after the last step (dh0/dc0, dW, db) amortised over its T = {r.trace.T} "
        f"steps: energy ratio skip / dense **{r.energy_ratio_sequence:.3f}** (estimate, band {seq[0]:.3f}-"
        f"{seq[1]:.3f}) against the same goal {r.energy_goal:.3f}: **{_met(r.energy_goal_met_sequence)}**.", "",
    ]


def _md_energy(r):
    bd, ops, tg = r.energy_breakdown_nj_per_step, r.operations_per_step, r.toggles_per_step
    lines = ["## Energy per step by resource class (nJ, estimate)", "",
             "| term | skip | dense | skip / dense |", "|---|---:|---:|---:|"]
    for term in bd.dense:
        a, b = bd.skip[term], bd.dense[term]
        lines.append(f"| {term} | {a:.2f} | {b:.2f} | {a / b:.3f} |" if b else f"| {term} | {a:.2f} | {b:.2f} | — |")
    lines += [f"| **total** | **{r.energy_skip_nj:.2f}** | **{r.energy_dense_nj:.2f}** | **{r.energy_ratio:.3f}** |",
              "", "![energy breakdown](energy_breakdown.png)", "",
              "## What the terms count, per step", "", "| | skip | dense |", "|---|---:|---:|"]
    for k in ("cycles", "net_toggles", "bram_reads", "bram_writes", "dsp_ops"):
        lines.append(f"| {k.replace('_', ' ')} | {ops.skip[k]:,.0f} | {ops.dense[k]:,.0f} |")
    lines += ["", "Net toggles per step by unit (the units marked temporaries are Amaranth's unnamed expression "
              "temporaries, not in the estimate: see below):", "", "| unit | skip | dense |", "|---|---:|---:|"]
    for u in sorted(tg.dense, key=lambda u: -tg.dense[u]):
        lines.append(f"| {u} | {tg.skip.get(u, 0):,.0f} | {tg.dense[u]:,.0f} |")
    return lines + [""]


def _md_sweep(r):
    lines = ["## Speedup and energy ratio vs sparsity (tau swept over the trace)", "",
             "| point | dz sparsity | cycles per step | speedup (ideal) | energy ratio (band) | goal |",
             "|---|---:|---:|---:|---:|---:|"]
    for p in r.sweep:
        lines.append(f"| {p.point} | {100 * p.sparsity:.1f} % | {p.cycles_per_step:.0f} | {p.speedup:.2f}x "
                     f"({_x(p.ideal_speedup)}) | {p.energy_ratio:.3f} ({p.energy_ratio_band[0]:.3f}-"
                     f"{p.energy_ratio_band[1]:.3f}) | {p.goal:.3f} |")
    return lines + ["", "![sweep](sparsity_sweep.png)", ""]


def _md_accuracy(r):
    a = r.accuracy
    if not a:
        return []
    lines = [f"## Accuracy ({a.dataset_name}, test {a.metric}; {a.source})", "",
             "| training | dz sparsity | test metric | vs dense |", "|---|---:|---:|---:|"]
    for row in a.rows:
        delta = "—" if row.delta is None else f"{row.delta:+.4f}"
        lines.append(f"| {row.label} | {100 * (row.dz_sparsity or 0):.1f} % | {row.test_metric:.4f} | {delta} |")
    return lines + [""]


def _md_build(r):
    cp = r.critical_path or {}
    return ["## Resources and Fmax (from the build)", "", "| resource | used | available |", "|---|---:|---:|",
            *(f"| {k} | {v['used']} | {v['available']} |" for k, v in r.resources.items()), "",
            f"Fmax {r.fmax_mhz:.1f} MHz against the {r.clock_mhz:g} MHz clock ({_met(r.timing_met, 'NOT met')}); "
            f"critical path `{cp.get('from', '?')}` -> `{cp.get('to', '?')}`. Flip-flops (Yosys): {r.flip_flops}.", ""]


def _md_method(r):
    return ["## How the estimate is made", "",
            *(f"- **{k.replace('_', ' ')}**: {v}" for k, v in r.assumptions.items()), "",
            "Coefficients (value at the nominal core voltage, band, source):", "",
            *(f"- `{k}`: {v}" for k, v in r.coefficient_sources.items())]
