"""The ``zskip`` command line: thin verbs over the packages.

    zskip train    train a layer with (sparsified) SGD, write metrics.json and plots
    zskip compare  dense vs sparsified with the same seed and data, a table and a plot
    zskip trace    real, quantised engine inputs from a trained LSTM, for co-simulation
    zskip verilog  the engine for an EngineConfig as Verilog or RTLIL
    zskip cosim    the exported engine against the golden model, on Verilator or Icarus
    zskip build    the engine on a board: bitstream, resources and Fmax from the open toolchain
    zskip report   speed, energy per step (an estimate) and accuracy on a board, in one report
"""

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

from golden_model.datasets import DATASETS
from golden_model.errors import ConfigError, ZskipError
from golden_model.optim import OPTIMIZERS
from golden_model.sparsify import THRESHOLD_HELP, parse_threshold
from golden_model.train import CELLS, TrainConfig

from . import __version__
from .progress import TrainingProgress, console

__all__ = ["main", "build_parser"]


def _add_training_options(p, *, with_threshold):
    d = TrainConfig()
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default=d.dataset,
                   help=f"{', '.join(DATASETS)}, or the path of a .npz file (x, y) or a UTF-8 text file")
    g.add_argument("--limit", type=int, default=d.limit, help="use at most this many training sequences "
                   "(characters for text)")
    g.add_argument("--eval-limit", type=int, default=d.eval_limit, help="use at most this many validation "
                   "and test sequences (characters for text)")
    g.add_argument("--seq-len", type=int, default=d.seq_len, help="chunk length of text (truncated BPTT)")
    g.add_argument("--features", type=int, default=d.features, help="resample each step's features to this "
                   "many (area average; sequence datasets), e.g. 8 for the iCEBreaker's engine")
    g = p.add_argument_group("model")
    g.add_argument("--cell", choices=list(CELLS), default=d.cell, help="recurrent cell")
    g.add_argument("--hidden", type=int, default=d.hidden, help="hidden size H")
    g.add_argument("--dtype", choices=["float64", "float32"], default=d.dtype, help="precision")
    g.add_argument("--engine-config", type=Path, default=None, metavar="TOML",
                   help="engine formats and widths for the fixed-point backward pass (EngineConfig fields; "
                        "sizes follow from the run)")
    g = p.add_argument_group("training")
    if with_threshold:
        g.add_argument("--threshold", default=d.threshold, help=f"threshold rule: {THRESHOLD_HELP}")
        g.add_argument("--backward", choices=["float", "fixed"], default=d.backward,
                       help="backward pass: the float golden model, or the engine's fixed-point arithmetic (LSTM)")
    g.add_argument("--epochs", type=int, default=d.epochs, help="training epochs")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="sequences per step (streams for text)")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS), default=d.optimizer,
                   help="optimizer (momentum = SGD with momentum)")
    g.add_argument("--lr", type=float, default=d.lr, help="learning rate (default: "
                   + ", ".join(f"{k} {v:g}" for k, v in OPTIMIZERS.items()) + ")")
    g.add_argument("--momentum", type=float, default=d.momentum, help="momentum of --optimizer momentum")
    g.add_argument("--clip", type=float, default=d.clip, help="clip the global gradient norm (0: off)")
    g.add_argument("--seed", type=int, default=d.seed, help="seed of initialisation and shuffling")


def _config(args, **extra):
    names = {f.name for f in fields(TrainConfig)}
    kwargs = {k: v for k, v in vars(args).items() if k in names} | extra
    if args.engine_config is not None:
        from golden_model.engine_config import read_toml
        kwargs["engine"] = read_toml(args.engine_config)
    return TrainConfig(**kwargs).validate()


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser():
    fmt = _HelpFormatter
    parser = argparse.ArgumentParser(prog="zskip", description="Zero-skipping LSTM backward-pass hardware "
                                     "and its sparsified-SGD golden model.", formatter_class=fmt)
    parser.add_argument("--version", action="version", version=f"zskip {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    p = sub.add_parser("train", help="train with (sparsified) SGD; write metrics.json and plots",
                       formatter_class=fmt, description="Train a recurrent layer and head on a dataset with "
                       "sparsified SGD. Writes metrics.json, learning_curves.png and dz_histogram.png to --out.")
    _add_training_options(p, with_threshold=True)
    p.add_argument("--out", type=Path, default=None, help="output directory (default: runs/<dataset>-<cell>-<threshold>)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("compare", help="dense vs sparsified, same seed and data; a table and a plot",
                       formatter_class=fmt, description="Train dense and once per threshold rule with the same "
                       "seed and data. Writes compare.md, compare.json, sparsity_vs_metric.png and one run "
                       "directory per rule to --out.")
    _add_training_options(p, with_threshold=False)
    p.add_argument("--thresholds", nargs="+", required=True, metavar="RULE",
                   help=f"threshold rules to compare with dense; each {THRESHOLD_HELP}")
    p.add_argument("--fixed", action="store_true", help="also run every rule with the fixed-point backward pass "
                   "(float dense vs float sparsified vs fixed-point sparsified; LSTM)")
    p.add_argument("--tolerance", type=float, default=None, help="'as good as dense' margin (default: "
                   "1 percentage point of accuracy, 2 %% of bits per character or MSE)")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: runs/compare-<dataset>-<cell>)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("trace", help="capture real, quantised engine inputs from a trained LSTM run",
                       formatter_class=fmt, description="Run backward passes of real data through the model "
                       "trained in --run and write the engine's quantised inputs (weights, per-step caches, dh, "
                       "tau, configuration) to a versioned .npz trace for co-simulation.")
    p.add_argument("--run", type=Path, required=True, help="a 'zskip train' output directory (LSTM)")
    p.add_argument("--steps", type=int, default=3, help="backward passes (whole sequences) to capture")
    p.add_argument("--batch", type=int, default=4, help="sequences per pass (the engine's B)")
    p.add_argument("--lanes", type=int, default=4, help="MAC lanes P of the engine configuration")
    p.add_argument("--threshold", default=None, help=f"threshold rule (default: the run's); {THRESHOLD_HELP}")
    p.add_argument("--engine-config", type=Path, default=None, metavar="TOML",
                   help="engine formats and widths (EngineConfig fields; sizes follow from the run)")
    p.add_argument("--split", choices=["train", "val", "test"], default="train", help="data to draw the passes from")
    p.add_argument("--out", type=Path, required=True, help="the trace file to write (.npz)")
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("verilog", help="generate the engine as Verilog (or RTLIL) for an engine configuration",
                       formatter_class=fmt, description="Elaborate the zero-skipping engine for an EngineConfig "
                       "and write it as Verilog (top module zskip_engine) or RTLIL. The configuration comes from "
                       "--config (a TOML file with EngineConfig keys, optionally under [engine]) and the flags "
                       "below, which take precedence; without either, the defaults shown are used. The "
                       "configuration is validated before anything is elaborated.")
    p.add_argument("--config", type=Path, default=None, metavar="TOML", help="engine configuration file")
    _add_engine_options(p)
    p.add_argument("--format", choices=["v", "il"], default="v", help="Verilog or RTLIL")
    p.add_argument("-o", "--out", type=Path, default=Path("zskip_engine.v"), help="file to write")
    p.add_argument("--json", type=Path, default=None, help="also write a JSON summary (configuration, ports, "
                   "memories) here")
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser("cosim", help="co-simulate the exported engine against the golden model (cocotb)",
                       formatter_class=fmt, description="Build the engine's Verilog for a simulator and run a "
                       "gradient trace through it in skip and in dense mode on the same build; every output, "
                       "counter and flag is compared with the golden model, exactly. Prints a table; --json "
                       "writes the figures. Exit 1 on a mismatch, naming the step, stream, index, expected and "
                       "actual value.")
    p.add_argument("--trace", type=Path, required=True, help="a trace from 'zskip trace' (.npz)")
    p.add_argument("--config", type=Path, default=None, metavar="TOML",
                   help="engine configuration (default: the trace's own); sizes and formats must agree with it")
    p.add_argument("--sim", choices=["verilator", "icarus"], default="verilator", help="simulator")
    p.add_argument("--passes", type=int, default=None, help="co-simulate the first N passes (default: all)")
    p.add_argument("--gap", type=float, default=0.0, help="probability of an idle cycle before each input "
                   "transfer (hostile handshakes; slower)")
    p.add_argument("--stall", type=float, default=0.0, help="probability per cycle that an output is refused")
    p.add_argument("--seed", type=int, default=0, help="seed of the handshake patterns")
    p.add_argument("--waves", action="store_true", help="write waveforms (VCD on Verilator, FST on Icarus; the path is printed)")
    p.add_argument("--build-dir", type=Path, default=Path("build/cosim"), help="where builds are kept (one "
                   "directory per configuration and simulator)")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    p.set_defaults(func=cmd_cosim)

    p = sub.add_parser("build", help="build the engine for a board (bitstream, resources, Fmax)",
                       formatter_class=fmt, description="Synthesise, place and route the engine behind its UART "
                       "host link for a board with the open toolchain (YoWASP's Yosys and nextpnr unless YOSYS, "
                       "NEXTPNR_ICE40, ICEPACK, NEXTPNR_ECP5 or ECPPACK name other tools). Writes the bitstream, "
                       "report.json and report.md (resources, Fmax against the clock constraint, the critical "
                       "path, tool versions) to --out. The engine configuration is the board's default, or "
                       "--config and the flags.")
    p.add_argument("--list", action="store_true", help="list the boards and their default configurations")
    p.add_argument("--board", default=None, help="board name (see --list)")
    p.add_argument("--config", type=Path, default=None, metavar="TOML",
                   help="engine configuration file (default: the board's own)")
    _add_engine_options(p)
    p.add_argument("--clock-mhz", type=float, default=None, help="engine clock (default: the board's; a PLL makes it)")
    p.add_argument("--baud", type=int, default=None, help="UART baud rate (default: the board's, 115200)")
    p.add_argument("--seed", type=int, default=1, help="placement seed of nextpnr")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: build/<board>)")
    p.add_argument("--program", action="store_true", help="program the board after the build (never by default)")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("report", help="speed, energy (estimate) and accuracy of the engine on a board, in one report",
                       formatter_class=fmt, description="Build the engine for a board (or reuse --build), "
                       "co-simulate a trace in skip and dense mode and at other thresholds with waveforms, "
                       "estimate the energy per backward step from the switching activity (boards/power.py: an "
                       "estimate, not vendor analysis, not measured), and write report.md, report.json, "
                       "energy_breakdown.png and sparsity_sweep.png to --out. Prints the headline table.")
    p.add_argument("--board", required=True, help="board name (zskip build --list)")
    p.add_argument("--config", type=Path, default=None, metavar="TOML",
                   help="engine configuration (default: the board's); the trace's sizes and formats must agree")
    p.add_argument("--trace", type=Path, required=True, help="a trace from 'zskip trace' (.npz)")
    p.add_argument("--run", type=Path, default=None, help="a 'zskip compare' (or 'zskip train') directory: "
                   "its accuracy table goes into the report")
    p.add_argument("--build", type=Path, default=None, help="board build directory: reused when its report.json "
                   "is this board's and configuration's, else built there (default: OUT/build)")
    p.add_argument("--passes", type=int, default=None, help="use the first N passes of the trace (default: all)")
    p.add_argument("--sim", choices=["verilator", "icarus"], default="verilator", help="simulator")
    p.add_argument("--out", type=Path, required=True, help="output directory (e.g. reports/NAME)")
    p.set_defaults(func=cmd_report)
    return parser


def _add_engine_options(p):
    """One flag per EngineConfig field, defaulting to None (unset) so that --config values stand."""
    from golden_model.engine_config import EngineConfig
    from golden_model.fixedpoint import QFormat
    d = EngineConfig()
    g = p.add_argument_group("engine configuration (EngineConfig; flags override --config)")
    help_ = {
        "input_size": "I, inputs of the layer", "hidden_size": "H, hidden units",
        "lanes": "P, MAC lanes (a power of two, at most N = I + H)", "max_batch": "largest batch B",
        "max_seq": "largest sequence length T", "act": "format of i, f, g, o and tanh(c)",
        "state": "format of c", "inp": "format of a = [x; h]", "weight": "format of W",
        "grad": "format of dh, dc, dz (frac > width: a power-of-two scale)",
        "dw_acc_width": "dW accumulator bits", "da_acc_width": "da accumulator bits",
        "db_acc_width": "db accumulator bits", "rounding": "rounding of every product that loses bits",
        "overflow": "what a value beyond its format does",
        "ggu_cycles": "cycles per element of the gate-gradient unit (k > 1 shares ceil(16/(k-1)) multipliers)",
    }
    for f in fields(EngineConfig):
        default = getattr(d, f.name)
        shown = {"dw_acc_width": "exact for max_batch x max_seq terms", "da_acc_width": "exact for 4H terms",
                 "db_acc_width": "exact for max_batch x max_seq terms"}.get(f.name, default)
        choices = {"rounding": ["truncate", "half-up", "half-even"], "overflow": ["saturate", "wrap"]}.get(f.name)
        if choices:
            g.add_argument("--" + f.name, dest=f"engine_{f.name}", choices=choices, default=None,
                           help=f"{help_[f.name]} (default: {shown})")
            continue
        is_int = not isinstance(default, QFormat)
        g.add_argument("--" + f.name.replace("_", "-"), dest=f"engine_{f.name}", type=int if is_int else str,
                       default=None, metavar=f.name.split("_")[-1].upper() if is_int else "Q",
                       help=f"{help_[f.name]} (default: {shown})")


def _engine_config(args):
    """The EngineConfig of --config and the engine flags (flags win), validated."""
    from golden_model.engine_config import EngineConfig, read_toml
    d = read_toml(args.config) if args.config is not None else {}
    for key, value in vars(args).items():
        if key.startswith("engine_") and value is not None:
            d[key[len("engine_"):]] = value
    config = EngineConfig.from_dict(d)
    return config.check_buildable()


def cmd_train(args):
    from golden_model.runs import prepare_dir, slug, write_run
    from golden_model.train import train

    cfg = _config(args)
    spec = parse_threshold(cfg.threshold).spec
    out = prepare_dir(args.out or Path("runs") / f"{slug(Path(cfg.dataset).stem)}-{cfg.cell}-h{cfg.hidden}-{slug(spec)}")
    with TrainingProgress() as progress:
        result = train(cfg, progress=progress, keep_model=True)
    write_run(result, out)
    f = result["final"]
    console.print(f"test {result['metric']} {f['test_metric']:.4f}, dz sparsity {f['dz_sparsity']:.1%}, "
                  f"training MACs redundant {f['macs']['redundant_fraction_all']:.1%}  ->  {out}/metrics.json")
    return 0


def cmd_compare(args):
    from golden_model.datasets import load_dataset
    from golden_model.runs import compare, markdown_table, prepare_dir, slug

    cfg = _config(args, backward="fixed" if args.fixed else "float")
    for t in args.thresholds:
        parse_threshold(t)
    out = prepare_dir(args.out or Path("runs") / f"compare-{slug(Path(cfg.dataset).stem)}-{cfg.cell}-h{cfg.hidden}")
    dataset = load_dataset(cfg.dataset, seq_len=cfg.seq_len, limit=cfg.limit, eval_limit=cfg.eval_limit,
                           seed=cfg.seed, features=cfg.features)
    with TrainingProgress() as progress:
        summary = compare(cfg, args.thresholds, out, progress=progress, tolerance=args.tolerance, dataset=dataset,
                          fixed=args.fixed)
    console.print(markdown_table(summary))
    console.print(f"-> {out}/compare.md, compare.json, sparsity_vs_metric.png")
    return 0


def cmd_trace(args):
    from golden_model.engine_config import read_toml
    from golden_model.engine_model import run_engine
    from golden_model.trace import capture_trace, load_trace, save_trace

    for name in ("steps", "batch", "lanes"):
        v = getattr(args, name)
        if v < 1:
            raise ConfigError(f"--{name} must be a positive integer, not {v}")
    engine = read_toml(args.engine_config) if args.engine_config else None
    if engine:
        for key in ("input_size", "hidden_size", "max_batch", "max_seq", "lanes"):
            if key in engine:
                raise ConfigError(f"engine option {key} follows from the run and the command line; do not set it")
    trace = capture_trace(args.run, passes=args.steps, batch=args.batch, lanes=args.lanes,
                          threshold=args.threshold, engine=engine, split=args.split)
    path = save_trace(trace, args.out)
    back = load_trace(path)  # what a later reader will see
    results = [run_engine(back.config, p) for p in back.passes]
    sparsity = 1 - sum(r.nonzeros for r in results) / sum(r.dz.size for r in results)
    flags = sorted({k for r in results for k, v in r.flags.items() if v})
    console.print(f"{len(back.passes)} pass(es) of T={back.config.max_seq}, B={args.batch}, H={back.config.hidden_size}; "
                  f"dz sparsity {sparsity:.1%} at {back.meta['threshold_rule']}; overflow flags: "
                  f"{', '.join(flags) or 'none'}  ->  {path}")
    return 0


def cmd_verilog(args):
    from sim.export import FORMATS, export

    config = _engine_config(args)
    summary = export(config, args.out, args.format)
    c = config
    console.print(f"{FORMATS[args.format]} of {summary.top}: I={c.input_size} H={c.hidden_size} P={c.lanes} "
                  f"max_batch={c.max_batch} max_seq={c.max_seq}, C={c.cols_per_lane} cycles per nonzero; "
                  f"formats act {c.act}, state {c.state}, inp {c.inp}, weight {c.weight}, grad {c.grad}; "
                  f"accumulators dW {c.dw_acc_width}, da {c.da_acc_width}, db {c.db_acc_width} bits")
    console.print(f"{len(summary.ports)} ports, {summary.memory_bits / 1024:.1f} Kibit of memory  ->  {summary.path}")
    if args.json:
        args.json.write_text(json.dumps({"top": summary.top, "format": args.format, "path": str(summary.path),
                                         "config": summary.config,
                                         "ports": [{"name": n, "direction": d, "width": w} for n, d, w in summary.ports],
                                         "memories": {k: {"words": w, "bits": b} for k, (w, b) in summary.memories.items()}},
                                        indent=1) + "\n")
    return 0


def cmd_cosim(args):
    from golden_model.engine_config import EngineConfig
    from golden_model.trace import load_trace
    from sim.cosim import cosim, require_simulator, trace_sequences

    for name in ("gap", "stall"):
        v = getattr(args, name)
        if not 0.0 <= v <= 0.95:
            raise ConfigError(f"--{name} must be a probability in [0, 0.95], not {v}")
    require_simulator(args.sim)
    trace = load_trace(args.trace)
    config = EngineConfig.from_toml(args.config) if args.config else None
    config, sequences = trace_sequences(trace, config, args.passes)
    config.check_buildable()
    console.print(f"building for {args.sim} (once per configuration) ...")

    def progress(n, total):
        console.print(f"sequence {n + 1}/{total}: skip, then dense")

    report = cosim(config, sequences, args.sim, seed=args.seed, gap=args.gap, stall=args.stall, waves=args.waves,
                   root=args.build_dir, progress=progress)
    d = report.to_dict()
    d.pop("runs")
    if args.json:
        args.json.write_text(json.dumps(d, indent=1) + "\n")
    rows = [("passed", str(report.passed).lower()), ("simulator", report.sim),
            ("sequences", f"{report.sequences} (T={sequences[0].dh.shape[0]}, B={sequences[0].dh.shape[1]}, "
                          f"H={config.hidden_size}, P={config.lanes})"),
            ("dz sparsity", f"{report.sparsity:.1%}"),
            ("cycles dense / skip", f"{report.cycles_dense} / {report.cycles_skip}  (backward steps)"),
            ("speedup (ideal)", f"{report.speedup:.2f} ({report.ideal_speedup:.2f})"),
            ("skip efficiency", f"{report.efficiency:.3f}  ({report.efficiency_with_readout:.3f} with the dW read-out)"),
            ("simulated cycles/s", f"{report.sim_cycles_per_s:,.0f}")]
    if report.waveform:
        rows.append(("waveform", report.waveform))
    width = max(len(k) for k, _ in rows)
    console.print("\n".join(f"{k:<{width}}  {v}" for k, v in rows), highlight=False)
    if not report.passed:
        m = report.mismatch
        where = f"{m.get('stream', '?')} transfer {m.get('index', '?')} ({m.get('where', '')})" if m.get("stream") else \
            "the counters/flags"
        print(f"zskip cosim: MISMATCH in sequence {m['sequence']}, {m['mode']} mode: {where}: expected "
              f"{m.get('expected')}, got {m.get('actual')}; counters {m['counters'] or 'equal'}, flags "
              f"{m['flags'] or 'equal'}; waveform: {report.waveform or 'rerun with --waves'}; "
              f"build: {report.build_dir}", file=sys.stderr)
        return 1
    return 0


def cmd_build(args):
    from boards.build import build
    from boards.targets import TARGETS, get_target

    if args.list:
        for t in TARGETS.values():
            c = t.default_config()
            console.print(f"{t.name:<12} {t.title}, {t.device}, engine clock {t.clock_mhz:g} MHz (goal {t.goal_mhz:g}); "
                          f"default engine I={c.input_size} H={c.hidden_size} P={c.lanes} max_batch={c.max_batch} "
                          f"max_seq={c.max_seq}", highlight=False)
        return 0
    if args.board is None:
        raise ConfigError("name a board with --board (zskip build --list shows them)")
    target = get_target(args.board)
    flags = any(v is not None for k, v in vars(args).items() if k.startswith("engine_"))
    if args.config is None and not flags:
        config = target.default_config()
    else:
        if args.config is None:   # flags on top of the board's default
            from golden_model.engine_config import EngineConfig
            base = target.default_config().to_dict()
            for key, value in vars(args).items():
                if key.startswith("engine_") and value is not None:
                    base[key[len("engine_"):]] = value
            config = EngineConfig.from_dict(base).check_buildable()
        else:
            config = _engine_config(args)
    if args.clock_mhz is not None and not 1 <= args.clock_mhz <= 400:
        raise ConfigError(f"--clock-mhz must be in [1, 400], not {args.clock_mhz}")
    if args.baud is not None and args.baud <= 0:
        raise ConfigError(f"--baud must be positive, not {args.baud}")
    out = args.out or Path("build") / target.name
    with console.status("building") as status:
        report = build(target, config, out, clock_mhz=args.clock_mhz, baud=args.baud, seed=args.seed,
                       progress=lambda text: (status.update(text), console.print(text)))
    rows = [("board", f"{report.board} ({report.device})"),
            ("Fmax", f"{report.fmax_mhz:.1f} MHz vs {report.constraint_mhz:.1f} MHz constraint: "
                     f"{'met' if report.timing_met else 'NOT MET'} (goal {report.goal_mhz:g} MHz: "
                     f"{'met' if report.goal_met else 'not met'})"),
            ("critical path", f"{report.critical_path.get('from', '?')} -> {report.critical_path.get('to', '?')}")]
    rows += [(k, f"{v['used']} / {v['available']}") for k, v in report.utilization.items() if v["used"]]
    rows += [("build time", f"{report.build_s:.0f} s"), ("report", str(out / "report.md"))]
    width = max(len(k) for k, _ in rows)
    console.print("\n".join(f"{k:<{width}}  {v}" for k, v in rows), highlight=False)
    if args.program:
        _program(target, out, report)
    return 0 if report.timing_met else 1


def cmd_report(args):
    from boards.report import headline_table, report
    from boards.targets import get_target
    from golden_model.engine_config import EngineConfig
    from golden_model.trace import load_trace
    from sim.cosim import require_simulator

    target = get_target(args.board)
    require_simulator(args.sim)
    config = EngineConfig.from_toml(args.config) if args.config else target.default_config()
    trace = load_trace(args.trace)
    with console.status("report") as status:
        d = report(target, config, trace, args.out, build_dir=args.build, run_dir=args.run, passes=args.passes,
                   sim=args.sim, trace_path=args.trace,
                   progress=lambda text: (status.update(text), console.print(text, highlight=False)))
    console.print(headline_table(d), highlight=False, markup=False)
    console.print(f"energy figures: {d['label']}; report: {Path(args.out) / 'report.md'}, report.json, "
                  "energy_breakdown.png, sparsity_sweep.png", highlight=False)
    return 0


def _program(target, out, report):
    from golden_model.errors import MissingDependencyError
    import shutil
    import subprocess
    tool, cmd = {"ice40": ("iceprog", ["iceprog", report.bitstream]),
                 "ecp5": ("openFPGALoader", ["openFPGALoader", "-b", "ulx3s", report.bitstream])}[target.family]
    if shutil.which(tool) is None:
        raise MissingDependencyError(tool, f"sudo apt-get install {tool.lower() if tool != 'iceprog' else 'fpga-icestorm'}",
                                     "--program")
    console.print(f"programming with {' '.join(cmd)}")
    done = subprocess.run(cmd)
    if done.returncode != 0:
        raise ZskipError(f"{tool} failed (exit status {done.returncode}); is the board connected, and may this "
                         "user open it?")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ZskipError as e:
        print(f"zskip {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"zskip {args.verb}: error: out of memory; use a smaller --hidden, --batch-size or --limit",
              file=sys.stderr)
        return 2
    except OSError as e:
        print(f"zskip {args.verb}: error: {e.strerror or e}: {e.filename or ''}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"zskip {args.verb}: interrupted", file=sys.stderr)
        return 130
