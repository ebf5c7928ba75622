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
from dataclasses import MISSING, fields
from pathlib import Path

from golden_model.datasets import DATASETS
from golden_model.engine_config import EngineConfig, read_toml
from golden_model.errors import ConfigError, ZskipError
from golden_model.optim import OPTIMIZERS
from golden_model.sparsify import THRESHOLD_HELP, parse_threshold
from golden_model.train import CELLS, TrainConfig

from . import __version__
from .progress import TrainingProgress, console

__all__ = ["main", "build_parser", "merge_engine_config", "add_engine_options"]


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
        kwargs["engine"] = read_toml(args.engine_config)
    return TrainConfig(**kwargs).validate()


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show."""

    def _get_help_string(self, action):
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def build_parser(config_cls=EngineConfig):
    """The argument parser of ``zskip``.

    Parameters
    ----------
    config_cls : type, optional
        EngineConfig or a subclass: the verbs that make an engine configuration offer one flag per
        field of it (made from the fields' metadata) and make the configuration as this class.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(prog="zskip", description="Zero-skipping LSTM backward-pass hardware "
                                     "and its sparsified-SGD golden model.", formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"zskip {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for add in (_add_train, _add_compare, _add_trace):
        add(sub)
    for add in (_add_verilog, _add_cosim, _add_build, _add_report):
        add(sub, config_cls)
    return parser


def _verb(sub, func):
    """The sub-parser of verb NAME, run by ``func`` (cmd_NAME), with defaults shown in --help: the first line
    of the function's docstring is the verb's help in ``zskip --help``, the rest its description."""
    summary, _, description = func.__doc__.partition("\n\n")
    p = sub.add_parser(func.__name__.removeprefix("cmd_"), help=summary[:1].lower() + summary[1:].rstrip("."),
                       description=" ".join(description.split()), formatter_class=_HelpFormatter)
    p.set_defaults(func=func)
    return p


def _add_train(sub):
    p = _verb(sub, cmd_train)
    _add_training_options(p, with_threshold=True)
    p.add_argument("--out", type=Path, default=None, help="output directory (default: runs/<dataset>-<cell>-<threshold>)")


def _add_compare(sub):
    p = _verb(sub, cmd_compare)
    _add_training_options(p, with_threshold=False)
    p.add_argument("--thresholds", nargs="+", required=True, metavar="RULE",
                   help=f"threshold rules to compare with dense; each {THRESHOLD_HELP}")
    p.add_argument("--fixed", action="store_true", help="also run every rule with the fixed-point backward pass "
                   "(float dense vs float sparsified vs fixed-point sparsified; LSTM)")
    p.add_argument("--tolerance", type=float, default=None, help="'as good as dense' margin (default: "
                   "1 percentage point of accuracy, 2 %% of bits per character or MSE)")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: runs/compare-<dataset>-<cell>)")


def _add_trace(sub):
    p = _verb(sub, cmd_trace)
    p.add_argument("--run", type=Path, required=True, help="a 'zskip train' output directory (LSTM)")
    p.add_argument("--steps", type=int, default=3, help="backward passes (whole sequences) to capture")
    p.add_argument("--batch", type=int, default=4, help="sequences per pass (the engine's B)")
    p.add_argument("--lanes", type=int, default=4, help="MAC lanes P of the engine configuration")
    p.add_argument("--threshold", default=None, help=f"threshold rule (default: the run's); {THRESHOLD_HELP}")
    p.add_argument("--engine-config", type=Path, default=None, metavar="TOML",
                   help="engine formats and widths (EngineConfig fields; sizes follow from the run)")
    p.add_argument("--split", choices=["train", "val", "test"], default="train", help="data to draw the passes from")
    p.add_argument("--out", type=Path, required=True, help="the trace file to write (.npz)")


def _add_verilog(sub, config_cls):
    p = _verb(sub, cmd_verilog)
    _add_engine_options(p, config_cls, "engine configuration file")
    p.add_argument("--format", choices=["v", "il"], default="v", help="Verilog or RTLIL")
    p.add_argument("-o", "--out", type=Path, default=Path("zskip_engine.v"), help="file to write")
    p.add_argument("--json", type=Path, default=None, help="also write a JSON summary (configuration, ports, "
                   "memories) here")


def _add_trace_options(p):
    """The trace to co-simulate, how much of it, and on which simulator (cosim, report)."""
    p.add_argument("--trace", type=Path, required=True, help="a trace from 'zskip trace' (.npz)")
    p.add_argument("--passes", type=int, default=None, help="use the first N passes of the trace (default: all)")
    p.add_argument("--sim", choices=["verilator", "icarus"], default="verilator", help="simulator")


def _add_cosim(sub, config_cls):
    p = _verb(sub, cmd_cosim)
    _add_trace_options(p)
    _add_engine_options(p, config_cls, "engine options over the trace's own configuration; sizes and formats "
                        "must agree with the trace", base="the trace's")
    p.add_argument("--gap", type=float, default=0.0, help="probability of an idle cycle before each input "
                   "transfer (hostile handshakes; slower)")
    p.add_argument("--stall", type=float, default=0.0, help="probability per cycle that an output is refused")
    p.add_argument("--seed", type=int, default=0, help="seed of the handshake patterns")
    p.add_argument("--waves", action="store_true", help="write waveforms (VCD on Verilator, FST on Icarus; the path is printed)")
    p.add_argument("--build-dir", type=Path, default=Path("build/cosim"), help="where builds are kept (one "
                   "directory per configuration and simulator)")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")


def _add_build(sub, config_cls):
    p = _verb(sub, cmd_build)
    p.add_argument("--list", action="store_true", help="list the boards and their default configurations")
    p.add_argument("--board", default=None, help="board name (see --list)")
    _add_engine_options(p, config_cls, "engine options over the board's default configuration", base="the board's")
    p.add_argument("--clock-mhz", type=float, default=None, help="engine clock (default: the board's; a PLL makes it)")
    p.add_argument("--baud", type=int, default=None, help="UART baud rate (default: the board's, 115200)")
    p.add_argument("--seed", type=int, default=1, help="placement seed of nextpnr")
    p.add_argument("--time-limit", type=float, default=60, metavar="MIN",
                   help="stop a build that runs longer (nextpnr's router may not converge at a seed)")
    p.add_argument("--out", type=Path, default=None, help="output directory (default: build/<board>)")
    p.add_argument("--program", action="store_true", help="program the board after the build (never by default)")


def _add_report(sub, config_cls):
    p = _verb(sub, cmd_report)
    p.add_argument("--board", required=True, help="board name (zskip build --list)")
    _add_engine_options(p, config_cls, "engine options over the board's default configuration; the trace's "
                        "sizes and formats must agree", base="the board's")
    _add_trace_options(p)
    p.add_argument("--run", type=Path, default=None, help="a 'zskip compare' (or 'zskip train') directory: "
                   "its accuracy table goes into the report")
    p.add_argument("--build", type=Path, default=None, help="board build directory: reused when its report.json "
                   "is of the same design (board, configuration, clock and hardware), else built there (default: "
                   "OUT/build)")
    p.add_argument("--out", type=Path, required=True, help="output directory (e.g. reports/NAME)")


def _add_engine_options(p, config_cls, config_help, base=None):
    """--config TOML and one flag per field of ``config_cls``, made from the field's metadata (help, metavar,
    choices, the default shown; see golden_model.engine_config.option) and its default's type (or annotation):
    integers as int, formats (Q2.14) and rules as text that the configuration class parses and checks. Each
    flag defaults to None (unset), so that what lies beneath it stands (merge_engine_config). ``base``: what
    the verb builds on ("the board's"), shown as every flag's default before the class's own."""
    p.add_argument("--config", type=Path, default=None, metavar="TOML", help=config_help)
    p.set_defaults(engine_class=config_cls)
    g = p.add_argument_group(f"engine configuration ({config_cls.__name__}; flags override --config)")
    for f in fields(config_cls):
        meta, default = f.metadata, None if f.default is MISSING else f.default
        shown = meta.get("shown") or default
        shown = f"{base}, else {shown}" if base and shown is not None else base or shown
        text = meta.get("help", "") + ("" if shown is None else f" (default: {shown})")
        is_int = isinstance(default, int) if default is not None else f.type in (int, "int")
        choices = meta.get("choices")
        g.add_argument("--" + f.name.replace("_", "-"), dest="engine_" + f.name, default=None,
                       type=int if is_int else str, choices=choices, help=text.replace("%", "%%"),
                       metavar=meta.get("metavar") or (None if choices else f.name.upper()))


def add_engine_options(p, config_cls, base="the board's"):
    """The engine options of ``zskip build`` (--config and one flag per field of ``config_cls``) on the parser
    ``p`` of another program (a bench script), for :func:`merge_engine_config`."""
    _add_engine_options(p, config_cls, "engine options over the board's default configuration", base=base)


def merge_engine_config(args, base=None):
    """The engine configuration of a verb: ``base``, then the --config TOML file, then the engine flags.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed by :func:`build_parser` for a verb with the engine options (verilog, cosim, build, report).
    base : dict, optional
        Engine options beneath the file and the flags: a board's ``Target.engine``, a trace's
        configuration as ``to_dict``. The configuration class's defaults fill in the rest.

    Returns
    -------
    EngineConfig
        Of the class the parser was built with, validated, and buildable (``check_buildable``); unknown
        keys in the file are refused by name (``from_dict``).
    """
    cls = args.engine_class
    options = dict(base or {})
    if args.config is not None:
        options |= read_toml(args.config)
    options |= {f.name: v for f in fields(cls) if (v := getattr(args, "engine_" + f.name)) is not None}
    return cls.from_dict(options).check_buildable()


def cmd_train(args):
    """Train with (sparsified) SGD; write metrics.json and plots.

    Train a recurrent layer and head on a dataset with sparsified SGD. Writes metrics.json,
    learning_curves.png and dz_histogram.png to --out.
    """
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
    """Dense vs sparsified, same seed and data; a table and a plot.

    Train dense and once per threshold rule with the same seed and data. Writes compare.md,
    compare.json, sparsity_vs_metric.png and one run directory per rule to --out.
    """
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
    """Capture real, quantised engine inputs from a trained LSTM run.

    Run backward passes of real data through the model trained in --run and write the engine's
    quantised inputs (weights, per-step caches, dh, tau, configuration) to a versioned .npz trace
    for co-simulation.
    """
    from golden_model.engine_model import run_engine
    from golden_model.trace import capture_trace, load_trace, save_trace

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
    """Generate the engine as Verilog (or RTLIL) for an engine configuration.

    Elaborate the zero-skipping engine for an EngineConfig and write it as Verilog (top module
    zskip_engine) or RTLIL. The configuration comes from --config (a TOML file with EngineConfig
    keys, optionally under [engine]) and the flags below, which take precedence; without either, the
    defaults shown are used. The configuration is validated before anything is elaborated.
    """
    from sim.export import FORMATS, export

    config = merge_engine_config(args)
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
    """Co-simulate the exported engine against the golden model (cocotb).

    Build the engine's Verilog for a simulator and run a gradient trace through it in skip and in
    dense mode on the same build; every output, counter and flag is compared with the golden model,
    exactly. Prints a table; --json writes the figures. Exit 1 on a mismatch, naming the step,
    stream, index, expected and actual value. The engine configuration is the trace's own, with
    --config and then the flags on top.
    """
    from golden_model.trace import load_trace
    from sim.cosim import cosim, require_simulator, trace_sequences

    require_simulator(args.sim)
    trace = load_trace(args.trace)
    config = merge_engine_config(args, trace.config.options())
    config, sequences = trace_sequences(trace, config, args.passes)
    console.print(f"building for {args.sim} (once per configuration) ...")

    def progress(n, total):
        console.print(f"sequence {n + 1}/{total}: skip, then dense")

    report = cosim(config, sequences, args.sim, seed=args.seed, gap=args.gap, stall=args.stall, waves=args.waves,
                   root=args.build_dir, progress=progress)
    if args.json:
        report.write(args.json, leave_out=("runs",))   # the figures, not every run
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
        where = f"{m.stream} transfer {m.index} ({m.where})" if m.stream else "the counters/flags"
        print(f"zskip cosim: MISMATCH in sequence {m.sequence}, {m.mode} mode: {where}: expected "
              f"{m.expected}, got {m.actual}; counters {m.counters or 'equal'}, flags {m.flags or 'equal'}; "
              f"waveform: {report.waveform or 'rerun with --waves'}; build: {report.build_dir}", file=sys.stderr)
        return 1
    return 0


def cmd_build(args):
    """Build the engine for a board (bitstream, resources, Fmax).

    Synthesise, place and route the engine behind its UART host link for a board with the open
    toolchain (YoWASP's Yosys and nextpnr unless YOSYS, NEXTPNR_ICE40, ICEPACK, NEXTPNR_ECP5 or
    ECPPACK name other tools). Writes the bitstream, report.json and report.md (resources, Fmax
    against the clock constraint, the critical path, tool versions) to --out. The engine
    configuration is the board's default, with --config and then the flags on top.
    """
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
    config = merge_engine_config(args, target.engine)
    out = args.out or Path("build") / target.name
    with console.status("building") as status:
        report = build(target, config, out, clock_mhz=args.clock_mhz, baud=args.baud, seed=args.seed,
                       time_limit_min=args.time_limit,
                       progress=lambda text: (status.update(text), console.print(text)))
    rows = [("board", f"{report.board} ({report.device})"),
            ("Fmax", f"{report.fmax_mhz:.1f} MHz vs the {report.clock['engine_mhz']:g} MHz engine clock: "
                     f"{'met' if report.timing_met else 'NOT MET'} (placed for {report.constraint_mhz:g} MHz; goal {report.goal_mhz:g} MHz: "
                     f"{'met' if report.goal_met else 'not met'})"),
            ("critical path", f"{report.critical_path.get('from', '?')} -> {report.critical_path.get('to', '?')}")]
    rows += [(k, f"{v['used']} / {v['available']}") for k, v in report.utilization.items() if v["used"]]
    rows += [("build time", f"{report.build_s:.0f} s"), ("report", str(out / "report.md"))]
    width = max(len(k) for k, _ in rows)
    console.print("\n".join(f"{k:<{width}}  {v}" for k, v in rows), highlight=False)
    if args.program:
        _program(target, report)
    return 0 if report.timing_met else 1


def cmd_report(args):
    """Speed, energy (estimate) and accuracy of the engine on a board, in one report.

    Build the engine for a board (or reuse --build), co-simulate a trace in skip and dense mode and
    at other thresholds with waveforms, estimate the energy per backward step from the switching
    activity (boards/power.py: an estimate, not vendor analysis, not measured), and write report.md,
    report.json, energy_breakdown.png and sparsity_sweep.png to --out. Prints the headline table.
    The engine configuration is the board's default, with --config and then the flags on top.
    """
    from boards.report import headline_table, report
    from boards.targets import get_target
    from golden_model.trace import load_trace
    from sim.cosim import require_simulator

    target = get_target(args.board)
    require_simulator(args.sim)
    config = merge_engine_config(args, target.engine)
    trace = load_trace(args.trace)
    with console.status("report") as status:
        r = report(target, config, trace, args.out, build_dir=args.build, run_dir=args.run, passes=args.passes,
                   sim=args.sim, trace_path=args.trace,
                   progress=lambda text: (status.update(text), console.print(text, highlight=False)))
    console.print(headline_table(r), highlight=False, markup=False)
    console.print(f"energy figures: {r.label}; report: {Path(args.out) / 'report.md'}, report.json, "
                  "energy_breakdown.png, sparsity_sweep.png", highlight=False)
    return 0


def _program(target, report):
    """Program the board with the target's own programmer command (boards.targets.Target.programmer)."""
    from golden_model.errors import MissingDependencyError
    import shutil
    import subprocess
    cmd = target.program_command(report.bitstream)
    tool = cmd[0]
    if shutil.which(tool) is None:
        raise MissingDependencyError(tool, f"sudo apt-get install {target.programmer_package}", "--program")
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
