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
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from golden_model.errors import ConfigError, ZskipError

from .power import LABEL, MODEL_VERSION, COEFFICIENTS, Workload, coefficient_sources, estimate, ratio_band

__all__ = ["report", "ReportError", "engine_operations", "engine_unit", "SWEEP", "headline_table"]

#: tau of the sweep points, as multiples of the trace's own tau (1 is the trace's point itself).
SWEEP = (0.0, 0.1, 0.3, 3.0)


class ReportError(ZskipError):
    """The report cannot be made (a mismatch in co-simulation, a build that failed, inputs that disagree)."""


#: Suffix of the units that hold Amaranth's unnamed expression temporaries (``$12``, ``$signal$7``).
TEMPORARIES = " (temporaries)"


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
        sub = scope[1] if len(scope) > 1 else ""
        unit = {"ggu": "gate-gradient unit", "lanes": "MAC lanes", "encoder": "zero-skip encoder",
                "dz_fifo": "dz buffer"}.get(sub, "controller")
    elif scope and scope[0].endswith("_fifo"):
        unit = "stream FIFOs"
    else:
        unit = "ports and glue"
    temporary = leaf.startswith("$") and (leaf[1:2].isdigit() or leaf.startswith("$auto$"))
    return unit + TEMPORARIES if temporary else unit


def engine_operations(config, counters, elements, buffered):
    """Block-RAM word accesses and 8x8-equivalent multiplies of one sequence's backward steps, from the
    engine's counters (hw.controller.COUNTERS): what each event does in hw/.

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


def _elements_with_nonzero(result):
    dz = np.asarray(result.dz)          # (T, B, 4H), gate-major: gates i, f, g, o of unit j at j, H+j, ...
    T, B, R = dz.shape
    H = R // 4
    return int(np.any(dz.reshape(T, B, 4, H) != 0, axis=2).sum())


def measure(config, sequences, *, taus=SWEEP, sim="verilator", root=Path("build/cosim"), progress=None):
    """Co-simulate every sequence in skip mode, dense mode and at each sweep tau (multiples of its own), with
    waveforms; check each run against the golden model; return {"skip": ModeFigures, "dense": ..., sweep
    points by multiple}, each over all sequences."""
    from golden_model.engine_model import EngineInputs, run_engine
    from hw.controller import counters_layout
    from sim.activity import field_changes, toggle_bins
    from sim.cosim import build, run_job
    from sim.export import TOP
    from sim.tb_engine import PERIOD_NS

    built = build(config, sim, root=root, waves=True, temporaries=False)
    offset, width = next((f.offset, f.width) for name, f in counters_layout(config) if name == "steps")
    keys = ["skip", "dense", *taus]
    acc = {}
    for n, inputs in enumerate(sequences):
        runs = [{"dense": False}, {"dense": True}] + \
               [{"dense": False, "hw_tau": int(round(inputs.tau * m)), "model_tau": int(round(inputs.tau * m))}
                for m in taus]
        if progress:
            progress(f"pass {n + 1}/{len(sequences)}: skip, dense and {len(taus)} more thresholds on {sim} "
                     "(with waveforms)")
        res = run_job(config, inputs, runs, built, name=f"activity{n}")
        bad = [r for r in res if not r.get("passed")]
        if bad:
            r = bad[0]
            raise ReportError(f"co-simulation of pass {n} ({'dense' if r['run']['dense'] else 'skip'} mode, "
                              f"tau {r['run'].get('hw_tau', inputs.tau)}) differs from the golden model: "
                              f"{r.get('mismatch') or r.get('counter_mismatches') or r.get('flag_mismatches')}; "
                              f"see {built.dir / f'activity{n}'}")
        wave = res[0]["waveform"]
        if wave is None:
            raise ReportError(f"the co-simulation of pass {n} wrote no waveform; see {built.dir / f'activity{n}'}")
        if progress:
            progress(f"pass {n + 1}/{len(sequences)}: {len(res)} runs (skip, dense, swept tau) bit-exact: every "
                     f"output, counter and flag equal to the golden model; reading the switching activity from "
                     f"{Path(wave).name}")
        bins = toggle_bins(wave, PERIOD_NS, top=TOP, watch=(f"{TOP}.counters",), unit=engine_unit)
        steps = field_changes(bins.watched[f"{TOP}.counters"], offset, width)
        starts = [r["t_start_ns"] for r in res] + [math.inf]
        for key, r, t0, t1 in zip(keys, res, starts, starts[1:]):
            # the run's backward steps: from its start to the last increment of its `steps` counter
            t_end = max((t for t, v in steps if t0 <= t < t1 and v > 0), default=None)
            if t_end is None:
                raise ReportError(f"the waveform {wave} shows no backward step of run {key!r} of pass {n} "
                                  "(its steps counter never rises after the run's start)")
            toggles = bins.window(t0, t_end + PERIOD_NS)
            tau = r["run"].get("model_tau", inputs.tau)
            result = run_engine(config, EngineInputs(**{**inputs.__dict__, "tau": int(tau)}), dense=r["run"]["dense"])
            T, B = inputs.dh.shape[:2]
            f = acc.setdefault(key, ModeFigures(tau=[], sparsity=0.0, steps=0, cycles=0, toggles={}, counters={},
                                                elements=0, buffered=0))
            f.tau.append(int(tau))
            f.steps += T
            f.cycles += r["counters"]["steps"]
            for u, v in toggles.items():
                f.toggles[u] = f.toggles.get(u, 0) + v
            for k, v in r["counters"].items():
                f.counters[k] = f.counters.get(k, 0) + v
            f.elements += T * B * config.hidden_size
            f.buffered += T * B * config.hidden_size if r["run"]["dense"] else _elements_with_nonzero(result)
            f.sparsity += r["entries"] - r["nonzeros"]   # summed here, divided below
            f.counters["entries"] = f.counters.get("entries", 0) + r["entries"]
        Path(wave).unlink(missing_ok=True)       # hundreds of MB; everything needed is in the figures
    for f in acc.values():
        f.sparsity = f.sparsity / f.counters["entries"]
    return acc


def _ideal(s):
    """The ideal speedup 1 / (1 - s) of dz sparsity s; None when every dz is zero."""
    return 1 / (1 - s) if s < 1 else None


def _x(v, digits=1):
    return "—" if v is None else f"{v:.{digits}f}x"


def _build_report(target, config, build_dir, progress):
    """The board build's report.json: reused from ``build_dir`` when it is this board and configuration's,
    else made there."""
    from .build import build
    path = Path(build_dir) / "report.json"
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise ReportError(f"{path} is not valid JSON; delete it or name another --build directory") from None
        complete = all(k in old for k in ("fmax_mhz", "constraint_mhz", "timing_met", "utilization", "cells"))
        if old.get("board") == target.name and old.get("config") == config.to_dict() and complete:
            if progress:
                progress(f"using the build in {build_dir} (its report.json is this board's and configuration's)")
            return old
        if progress:
            progress(f"the build in {build_dir} is of another board or configuration (or incomplete): building again")
    if progress:
        progress(f"building for {target.name} in {build_dir} (minutes)")
    return build(target, config, Path(build_dir), progress=progress).to_dict()


def _flip_flops(build):
    return sum(n for cell, n in build.get("cells", {}).items() if "DFF" in cell or cell == "TRELLIS_FF")


def _accuracy(run_dir):
    """Rows (label, dz sparsity, test metric, delta vs dense) of a 'zskip compare' directory, or the one row of
    a 'zskip train' directory."""
    run_dir = Path(run_dir)
    for name in ("compare.json", "metrics.json"):
        path = run_dir / name
        if not path.is_file():
            continue
        try:
            d = json.loads(path.read_text())
            if name == "compare.json":
                rows = [{"label": str(r["label"]), "kind": r["kind"], "dz_sparsity": float(r["dz_sparsity"]),
                         "test_metric": float(r["test_metric"]), "delta": float(r["delta"])} for r in d["rows"]]
            else:
                rows = [{"label": str(d.get("threshold_rule", "run")), "kind": "run",
                         "dz_sparsity": float(d["dz_sparsity"]), "test_metric": float(d["test_metric"]),
                         "delta": None}]
            return {"source": str(path), "metric": str(d["metric"]), "dataset": d.get("dataset"), "rows": rows}
        except (ValueError, KeyError, TypeError) as e:     # JSONDecodeError is a ValueError
            raise ConfigError(f"{path} is not a readable {name} of 'zskip {name.split('.')[0].replace('metrics', 'train')}' "
                              f"({type(e).__name__}: {e})") from None
    raise ConfigError(f"--run {run_dir} holds neither compare.json ('zskip compare') nor metrics.json ('zskip train')")


def report(target, config, trace, out, *, build_dir=None, run_dir=None, passes=None, taus=SWEEP, sim="verilator",
           cosim_root=Path("build/cosim"), trace_path=None, progress=None):
    """Make the report of ``trace`` (a golden_model.trace.Trace) on ``target`` with ``config`` in ``out``;
    returns the report.json dictionary."""
    from sim.cosim import trace_sequences
    config, sequences = trace_sequences(trace, config, passes)
    accuracy = _accuracy(run_dir) if run_dir is not None else None
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    build = _build_report(target, config, build_dir or out / "build", progress)
    figures = measure(config, sequences, taus=taus, sim=sim, root=cosim_root, progress=progress)
    family, clock, fmax = target.family, build["constraint_mhz"], build["fmax_mhz"]
    ffs = _flip_flops(build)

    def workload(f, temporaries=False):
        ops = engine_operations(config, f.counters, f.elements, f.buffered)
        toggles = sum(v for u, v in f.toggles.items() if temporaries or not u.endswith(TEMPORARIES))
        return Workload(cycles=f.cycles, f_mhz=clock, flip_flops=ffs, net_toggles=toggles, **ops)

    loads = {k: workload(f) for k, f in figures.items()}
    traced = any(u.endswith(TEMPORARIES) for u in figures["dense"].toggles)     # Icarus traces them
    with_temporaries = ratio_band(family, workload(figures["skip"], True), workload(figures["dense"], True))[0] \
        if traced else None
    est = {k: estimate(family, w) for k, w in loads.items()}
    skip, dense = figures["skip"], figures["dense"]
    per_step = lambda k: est[k].total_nj / figures[k].steps
    ratio, r_lo, r_hi = ratio_band(family, loads["skip"], loads["dense"])
    s = skip.sparsity
    N, R, B = config.n_inputs, config.n_rows, sequences[0].dh.shape[1]
    dense_macs_per_step = 2 * B * R * N          # dW and da, every dz
    cyc = {k: figures[k].cycles / figures[k].steps for k in figures}
    sweep = []
    for k, f in sorted(figures.items(), key=lambda kv: kv[1].sparsity):
        if k == "dense":
            continue
        rb = ratio_band(family, loads[k], loads["dense"])
        point = "trace tau" if k == "skip" else "tau = 0 (exact zeros)" if k == 0 else f"{k:g} x tau"
        sweep.append({"point": point, "tau": f.tau, "sparsity": f.sparsity,
                      "cycles_per_step": cyc[k], "speedup": cyc["dense"] / cyc[k], "ideal_speedup": _ideal(f.sparsity),
                      "energy_per_step_nj": per_step(k), "energy_ratio": rb[0], "energy_ratio_band": [rb[1], rb[2]],
                      "goal": 1.15 * (1 - f.sparsity)})
    breakdown = {m: {t: v / figures[m].steps for t, v in est[m].terms_nj.items()} for m in ("skip", "dense")}
    d = {
        "board": target.name, "device": target.device, "estimate": True, "label": LABEL, "model": MODEL_VERSION,
        "config": config.to_dict(), "trace": {"path": str(trace_path or ""), "passes": len(sequences),
                                              "T": int(sequences[0].dh.shape[0]), "B": int(B)},
        "sparsity": s, "ideal_speedup": _ideal(s),
        "cycles_dense": cyc["dense"], "cycles_skip": cyc["skip"], "speedup": cyc["dense"] / cyc["skip"],
        "cycles_dense_total": dense.cycles, "cycles_skip_total": skip.cycles, "steps": skip.steps,
        "fmax_mhz": fmax, "clock_mhz": clock, "timing_met": build["timing_met"],
        "time_per_step_us": {"skip_at_fmax": cyc["skip"] / fmax, "dense_at_fmax": cyc["dense"] / fmax,
                             "skip_at_clock": cyc["skip"] / clock, "dense_at_clock": cyc["dense"] / clock},
        "dense_equivalent_macs_per_s": dense_macs_per_step / (cyc["skip"] / (fmax * 1e6)),
        "energy_skip_nj": per_step("skip"), "energy_dense_nj": per_step("dense"), "energy_ratio": ratio,
        "energy_band": {"ratio": [r_lo, r_hi],
                        "skip_nj": [x / skip.steps for x in est["skip"].band_nj],
                        "dense_nj": [x / dense.steps for x in est["dense"].band_nj]},
        "energy_goal": 1.15 * (1 - s), "energy_goal_met": ratio <= 1.15 * (1 - s),
        "energy_ratio_with_temporaries": with_temporaries,
        "power_mw": {"skip": est["skip"].power_mw, "dense": est["dense"].power_mw},
        "energy_breakdown_nj_per_step": breakdown,
        "toggles_per_step": {m: {u: v / figures[m].steps for u, v in figures[m].toggles.items()} for m in ("skip", "dense")},
        "operations_per_step": {m: {k: v if k in ("f_mhz", "flip_flops") else v / figures[m].steps
                                    for k, v in asdict(loads[m]).items()} for m in ("skip", "dense")},
        "sweep": sweep,
        "resources": build["utilization"], "flip_flops": ffs, "critical_path": build.get("critical_path"),
        "accuracy": accuracy,
        "coefficient_sources": coefficient_sources(family),
        "assumptions": {
            "activity": f"RTL simulation of the exported engine on {sim} (zero-delay: glitches are not counted), "
                        "full-rate streams, the trace's passes; net toggles = toggles of the bits of named RTL "
                        "signals (registers, ports, named wires; clock and reset excluded) in the cycles of the "
                        "backward steps, read from the waveform with pywellen. Amaranth's unnamed expression "
                        "temporaries are left out (they outnumber the mapped netlist's nets several times" +
                        (f"; with them the ratio would be {with_temporaries:.3f})" if traced else
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
        },
        "build": {k: build.get(k) for k in ("build_s", "bitstream", "tools", "clock")},
    }
    (out / "report.json").write_text(json.dumps(d, indent=1, default=float) + "\n")
    _plots(d, out)
    (out / "report.md").write_text(markdown(d))
    return d


def _plots(d, out):
    from golden_model.plots import _pyplot
    plt = _pyplot()
    terms = list(d["energy_breakdown_nj_per_step"]["dense"])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    left = {"skip": 0.0, "dense": 0.0}
    for i, t in enumerate(terms):
        vals = [d["energy_breakdown_nj_per_step"][m][t] for m in ("skip", "dense")]
        ax.barh(["skip", "dense"], vals, left=[left["skip"], left["dense"]], label=t, color=f"C{i}")
        left = {"skip": left["skip"] + vals[0], "dense": left["dense"] + vals[1]}
    ax.set(xlabel="energy per backward step (nJ, estimate)",
           title=f"{d['board']}: energy per step by resource class ({LABEL})")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "energy_breakdown.png", dpi=110)
    plt.close(fig)

    sw = d["sweep"]
    s = np.array([p["sparsity"] for p in sw])
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    grid = np.linspace(0, 0.995, 200)
    a1.plot(s, [p["speedup"] for p in sw], "o-", label="measured (co-simulation)")
    a1.plot(grid, 1 / (1 - grid), ":", color="grey", label="ideal 1 / (1 - s)")
    a1.set(xlabel="dz sparsity s", ylabel="speedup (cycles dense / skip)", title="speedup per backward step",
           ylim=(0, max(1.2 * max(p["speedup"] for p in sw), 2)))
    a1.legend()
    lo = [p["energy_ratio_band"][0] for p in sw]
    hi = [p["energy_ratio_band"][1] for p in sw]
    a2.fill_between(s, lo, hi, alpha=0.25, label="band (estimate)")
    a2.plot(s, [p["energy_ratio"] for p in sw], "o-", label="energy skip / dense (estimate)")
    a2.plot(grid, 1.15 * (1 - grid), "--", color="C3", label="goal 1.15 (1 - s)")
    a2.plot(grid, 1 - grid, ":", color="grey", label="1 - s")
    a2.set(xlabel="dz sparsity s", ylabel="energy ratio", ylim=(0, 1.05), title="energy per step, skip / dense")
    a2.legend(fontsize=8)
    fig.suptitle(f"{d['board']}: tau swept over the trace", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "sparsity_sweep.png", dpi=110)
    plt.close(fig)


def headline_table(d):
    """The one table a user asks for (Markdown)."""
    acc = "—"
    if d.get("accuracy"):
        rows = {r["kind"]: r for r in d["accuracy"]["rows"]}
        fmt = (lambda v: f"{100 * v:.1f} %") if d["accuracy"]["metric"] == "accuracy" else (lambda v: f"{v:.3f}")
        acc = " / ".join(fmt(rows[k]["test_metric"]) if k in rows else "—" for k in ("dense", "sparse", "fixed"))
    res = d["resources"]
    main = [k for k in ("ICESTORM_LC", "ICESTORM_DSP", "ICESTORM_RAM", "TRELLIS_COMB", "MULT18X18D", "DP16KD")
            if k in res]
    resources = ", ".join(f"{k} {res[k]['used']}/{res[k]['available']}" for k in main)
    band = d["energy_band"]["ratio"]
    return "\n".join([
        "| board | dz sparsity | speedup (ideal) | energy skip/dense, estimate (band) | goal 1.15 (1 - s) "
        "| accuracy dense / sparsified / fixed | resources | Fmax (clock) |",
        "|---|---:|---:|---:|---:|---|---|---:|",
        f"| {d['board']} | {100 * d['sparsity']:.1f} % | {d['speedup']:.2f}x ({_x(d['ideal_speedup'])}) "
        f"| {d['energy_ratio']:.3f} ({band[0]:.3f}-{band[1]:.3f}) | {d['energy_goal']:.3f} "
        f"{'met' if d['energy_goal_met'] else 'not met'} | {acc} | {resources} "
        f"| {d['fmax_mhz']:.1f} MHz ({d['clock_mhz']:g}) |",
    ])


def markdown(d):
    t = d["time_per_step_us"]
    band = d["energy_band"]
    lines = [
        f"# zskip report: {d['board']} ({d['device']})", "",
        f"Energy figures are an **{LABEL}** ({d['model']}); ratios between the skip and dense runs of one build "
        "are far more trustworthy than the absolute figures.", "",
        headline_table(d), "",
        "## Cycles and time per backward step", "",
        f"Trace: {d['trace']['passes']} pass(es) of T = {d['trace']['T']}, B = {d['trace']['B']}, co-simulated "
        "in skip and dense mode; every output, counter and flag equal to the golden model.", "",
        "| | skip | dense |", "|---|---:|---:|",
        f"| cycles per step | {d['cycles_skip']:.1f} | {d['cycles_dense']:.1f} |",
        f"| time per step at Fmax {d['fmax_mhz']:.1f} MHz | {t['skip_at_fmax']:.2f} us | {t['dense_at_fmax']:.2f} us |",
        f"| time per step at the clock {d['clock_mhz']:g} MHz | {t['skip_at_clock']:.2f} us | {t['dense_at_clock']:.2f} us |",
        f"| energy per step (estimate) | {d['energy_skip_nj']:.1f} nJ ({band['skip_nj'][0]:.1f}-{band['skip_nj'][1]:.1f}) "
        f"| {d['energy_dense_nj']:.1f} nJ ({band['dense_nj'][0]:.1f}-{band['dense_nj'][1]:.1f}) |",
        f"| power (estimate) | {d['power_mw']['skip']:.2f} mW | {d['power_mw']['dense']:.2f} mW |", "",
        f"dz sparsity {100 * d['sparsity']:.1f} %: speedup {d['speedup']:.2f}x of an ideal {_x(d['ideal_speedup'], 2)}; "
        f"effective dense-equivalent rate {d['dense_equivalent_macs_per_s'] / 1e6:.1f} M MAC/s at Fmax. "
        f"Energy ratio skip / dense **{d['energy_ratio']:.3f}** (band {band['ratio'][0]:.3f}-{band['ratio'][1]:.3f}) "
        f"against the goal 1.15 (1 - s) = {d['energy_goal']:.3f}: "
        f"**{'met' if d['energy_goal_met'] else 'not met'}**.", "",
        "## Energy per step by resource class (nJ, estimate)", "",
        "| term | skip | dense | skip / dense |", "|---|---:|---:|---:|",
    ]
    bd = d["energy_breakdown_nj_per_step"]
    for term in bd["dense"]:
        a, b = bd["skip"][term], bd["dense"][term]
        lines.append(f"| {term} | {a:.2f} | {b:.2f} | {a / b:.3f} |" if b else f"| {term} | {a:.2f} | {b:.2f} | — |")
    lines += [f"| **total** | **{d['energy_skip_nj']:.2f}** | **{d['energy_dense_nj']:.2f}** | **{d['energy_ratio']:.3f}** |",
              "", "![energy breakdown](energy_breakdown.png)", "",
              "## What the terms count, per step", "", "| | skip | dense |", "|---|---:|---:|"]
    ops = d["operations_per_step"]
    for k in ("cycles", "net_toggles", "bram_reads", "bram_writes", "dsp_ops"):
        lines.append(f"| {k.replace('_', ' ')} | {ops['skip'][k]:,.0f} | {ops['dense'][k]:,.0f} |")
    lines += ["", "Net toggles per step by unit (the units marked temporaries are Amaranth's unnamed expression "
              "temporaries, not in the estimate: see below):", "", "| unit | skip | dense |", "|---|---:|---:|"]
    tg = d["toggles_per_step"]
    for u in sorted(tg["dense"], key=lambda u: -tg["dense"][u]):
        lines.append(f"| {u} | {tg['skip'].get(u, 0):,.0f} | {tg['dense'][u]:,.0f} |")
    lines += ["", "## Speedup and energy ratio vs sparsity (tau swept over the trace)", "",
              "| point | dz sparsity | cycles per step | speedup (ideal) | energy ratio (band) | goal |",
              "|---|---:|---:|---:|---:|---:|"]
    for p in d["sweep"]:
        lines.append(f"| {p['point']} | {100 * p['sparsity']:.1f} % | {p['cycles_per_step']:.0f} | {p['speedup']:.2f}x "
                     f"({_x(p['ideal_speedup'])}) | {p['energy_ratio']:.3f} ({p['energy_ratio_band'][0]:.3f}-"
                     f"{p['energy_ratio_band'][1]:.3f}) | {p['goal']:.3f} |")
    lines += ["", "![sweep](sparsity_sweep.png)", ""]
    if d.get("accuracy"):
        a = d["accuracy"]
        lines += [f"## Accuracy ({a['dataset'] or ''}, test {a['metric']}; {a['source']})", "",
                  "| training | dz sparsity | test metric | vs dense |", "|---|---:|---:|---:|"]
        for r in a["rows"]:
            delta = "—" if r["delta"] is None else f"{r['delta']:+.4f}"
            lines.append(f"| {r['label']} | {100 * (r['dz_sparsity'] or 0):.1f} % | {r['test_metric']:.4f} | {delta} |")
        lines.append("")
    lines += ["## Resources and Fmax (from the build)", "", "| resource | used | available |", "|---|---:|---:|"]
    lines += [f"| {k} | {v['used']} | {v['available']} |" for k, v in d["resources"].items()]
    cp = d.get("critical_path") or {}
    lines += ["", f"Fmax {d['fmax_mhz']:.1f} MHz against the {d['clock_mhz']:g} MHz clock "
              f"({'met' if d['timing_met'] else 'NOT met'}); critical path `{cp.get('from', '?')}` -> "
              f"`{cp.get('to', '?')}`. Flip-flops (Yosys): {d['flip_flops']}.", "",
              "## How the estimate is made", ""]
    lines += [f"- **{k.replace('_', ' ')}**: {v}" for k, v in d["assumptions"].items()]
    lines += ["", "Coefficients (value at the nominal core voltage, band, source):", ""]
    lines += [f"- `{k}`: {v}" for k, v in d["coefficient_sources"].items()]
    return "\n".join(lines) + "\n"
