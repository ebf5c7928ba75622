"""Random regression: many random engine configurations in Amaranth's simulator against the golden model.

    .venv/bin/python bench/regress.py [--count 200] [--seed 0] [--jobs 2] [--out bench/results] [--only I ...]

Draws ``--count`` engine configurations (input_size 1..9, hidden_size 1..4, lanes a power of two <= N,
max_batch 1..3, max_seq 1..4, ggu_cycles of 1, 2, 3, 5, 9, 10, 11, 18, both lane pipelines, both overflow
rules, now and then narrow accumulators; draws EngineConfig refuses are drawn again) and a sequence for
each (T <= max_seq, B <= max_batch; random, saturating -- mostly, with narrow accumulators, so that they
overflow -- or all-below-threshold inputs), and simulates each in
skip and in dense mode (sim.pysim.simulate: the engine in Amaranth's simulator) under random handshakes
(gap and stall probabilities, seeds; sometimes two sequences back to back). Every output (dx, dh0, dc0,
dW, db), every counter (against golden_model.cycles.cycle_counts with hw.timing.micro_arch) and every
sticky flag is compared with the golden model (golden_model.engine_model.run_engine), and a run without
gaps or stalls, simulated with FIFOs of depth 3, must not stall the core at all (with the default depth 2
the core may wait, by design, docs/engine.md: in 2026-12 four such runs of the first 31 waited 11-26 cycles,
which this check, then made at depth 2, counted as mismatches).

Configuration ``i`` depends only on ``--seed`` and ``i`` (``--only i`` runs it again). Writes
``regress.json`` (every configuration, mode, seeds, pass or fail, the mismatches) and ``regress.md`` (the
counts) into ``--out``; exits 1 when anything differs (or a simulation fails), else 0.
"""

import argparse
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from golden_model.cycles import cycle_counts
from golden_model.engine_config import LANE_PIPELINES, EngineConfig
from golden_model.engine_model import FLAGS, EngineInputs, run_engine
from golden_model.errors import ConfigError
from hw.timing import micro_arch
from sim import stimuli
from sim.pysim import simulate

__all__ = ["main", "draw_config", "draw_case", "run_case"]

SCHEMA = "zskip.regress/1"
GGU_CYCLES = (1, 2, 3, 5, 9, 10, 11, 18)
OVERFLOWS = ("saturate", "wrap")
INPUT_KINDS = ("random", "hot", "quiet")
ACCUMULATORS = ("dw_acc_width", "da_acc_width", "db_acc_width")


# -- drawing -------------------------------------------------------------------------------------------

def draw_config(rng):
    """A random valid EngineConfig and how many draws EngineConfig refused before it."""
    refused = 0
    while True:
        I, H = int(rng.integers(1, 10)), int(rng.integers(1, 5))
        lanes = [p for p in (1, 2, 4, 8) if p <= I + H]
        opts = dict(input_size=I, hidden_size=H, lanes=int(rng.choice(lanes)), max_batch=int(rng.integers(1, 4)),
                    max_seq=int(rng.integers(1, 5)), ggu_cycles=int(rng.choice(GGU_CYCLES)),
                    lane_pipeline=str(rng.choice(LANE_PIPELINES)), overflow=str(rng.choice(OVERFLOWS)))
        try:
            cfg = EngineConfig(**opts)
            if rng.random() < 0.5:      # narrow accumulators: mostly one term's width (below it: refused)
                one_term = {"dw_acc_width": cfg.grad.width + cfg.inp.width,
                            "da_acc_width": cfg.grad.width + cfg.weight.width, "db_acc_width": cfg.grad.width}
                narrow = {}
                for name in ACCUMULATORS:
                    exact = getattr(cfg, name)
                    if rng.random() < 0.7 and exact > one_term[name]:
                        narrow[name] = min(exact - 1, one_term[name] + int(rng.choice([-1, 0, 0, 0, 1])))
                cfg = EngineConfig(**opts, **narrow)
            return cfg.check_buildable(), refused
        except ConfigError:
            refused += 1


def random_inputs(cfg, T, B, rng, tau, dh_scale):
    """Random inputs within every format (as tests/conftest.py's random_inputs, W over its whole range)."""
    H, N = cfg.hidden_size, cfg.n_inputs
    one = 1 << cfg.act.frac
    gates = np.concatenate([rng.integers(0, one + 1, (T, B, 2 * H)), rng.integers(-one, one + 1, (T, B, H)),
                            rng.integers(0, one + 1, (T, B, H))], axis=2)
    w = cfg.weight.max_int
    return EngineInputs(gates=gates, tanh_c=rng.integers(-one, one + 1, (T, B, H)),
                        c_prev=rng.integers(-4 << cfg.state.frac, 4 << cfg.state.frac, (T, B, H)),
                        a=rng.integers(-one, one + 1, (T, B, N)), dh=rng.integers(-dh_scale, dh_scale + 1, (T, B, H)),
                        W=rng.integers(-w, w + 1, (4 * H, N)), tau=tau)


def hot_inputs(cfg, T, B, rng, zero=0.3):
    """The co-simulation tests' hot inputs (sim.stimuli), hotter: o near 1 and tanh(c) near 0."""
    return stimuli.hot_inputs(cfg, T, B, rng, zero, o=(0.75, 1), tanh_c=0.25)


def draw_handshake(rng):
    """Gap and stall probabilities (each 0 a fifth of the time), a seed, and 1 or 2 sequences back to back."""
    gap = 0.0 if rng.random() < 0.2 else round(float(rng.uniform(0, 0.7)), 3)
    stall = 0.0 if rng.random() < 0.2 else round(float(rng.uniform(0, 0.8)), 3)
    return dict(gap=gap, stall=stall, seed=int(rng.integers(0, 1 << 31)), runs=1 if rng.random() < 0.8 else 2)


def draw_case(seed, index):
    """Configuration ``index`` of the regression seeded ``seed``: (config, inputs, description, [skip run,
    dense run]) where each run is a dict of simulate's keyword arguments."""
    rng = np.random.default_rng([seed, index])
    cfg, refused = draw_config(rng)
    T = cfg.max_seq if rng.random() < 0.6 else int(rng.integers(1, cfg.max_seq + 1))
    B = cfg.max_batch if rng.random() < 0.6 else int(rng.integers(1, cfg.max_batch + 1))
    narrow = any(getattr(cfg, name) < getattr(cfg, "exact_" + name.replace("_acc_width", "_width"))
                 for name in ACCUMULATORS)
    kind = str(rng.choice(INPUT_KINDS, p=[0.35, 0.6, 0.05] if narrow else [0.7, 0.25, 0.05]))
    if kind == "hot":
        inputs = hot_inputs(cfg, T, B, rng)
    else:
        tau = cfg.grad.max_int if kind == "quiet" else int(rng.choice([0, 50, 100, 400, 2000]))
        inputs = random_inputs(cfg, T, B, rng, tau, int(rng.choice([500, 4000, 30000])))
    runs = [dict(dense=dense, **draw_handshake(rng)) for dense in (False, True)]
    case = dict(index=index, seed=seed, config=cfg.options(), T=T, B=B, inputs=kind, tau=int(inputs.tau),
                refused_draws=refused)
    return cfg, inputs, case, runs


# -- running -------------------------------------------------------------------------------------------

def _plain(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def run_case(cfg, inputs, run):
    """Simulate one mode's run (simulate's keyword arguments) and compare everything with the golden model:
    a dict of the run, the mismatches (empty: passed; each with the model's value and the hardware's), the
    flags the model raised, and the hardware's counters (of the first sequence)."""
    t0 = time.perf_counter()
    want = run_engine(cfg, inputs, dense=run["dense"])
    cycles = cycle_counts(cfg, want, micro_arch(cfg)).to_dict()
    flags = {k: bool(v) for k, v in want.flags.items()}
    mismatches, got, error = [], [], None
    try:
        # (a run without gaps or stalls has FIFOs of depth 3, which move a transfer every cycle each way, so the
        # core must never wait: with depth 2 it may, two transfers in three, by design: docs/engine.md)
        free = run["gap"] == 0 and run["stall"] == 0
        got = simulate(cfg, inputs, **run, **({"fifo_depth": 3} if free else {}))
    except Exception as e:          # a hang (TimeoutError) or a crash: a failure, with its reason
        error = f"{type(e).__name__}: {e}"
    if error is None and len(got) != run["runs"]:
        mismatches.append(dict(sequence=None, what="sequences", name="count", expected=run["runs"], actual=len(got)))
    for n, g in enumerate(got):
        for name, index, expected, actual in g.outputs.mismatches(want):
            mismatches.append(dict(sequence=n, what="output", name=name, index=_plain(index),
                                   expected=_plain(expected), actual=_plain(actual)))
        for name, actual in g.counters.items():
            if actual != cycles[name]:
                mismatches.append(dict(sequence=n, what="counter", name=name, expected=cycles[name], actual=actual))
        for name in FLAGS:
            if g.flags.get(name) != flags[name]:
                mismatches.append(dict(sequence=n, what="flag", name=name, expected=flags[name],
                                       actual=g.flags.get(name)))
        if free and g.stall != 0:
            mismatches.append(dict(sequence=n, what="stall", name="stall", expected=0, actual=g.stall))
    return dict(mode="dense" if run["dense"] else "skip", **{k: v for k, v in run.items() if k != "dense"},
                passed=error is None and not mismatches, error=error, mismatches=mismatches,
                flags=[k for k in FLAGS if flags[k]], counters=got[0].counters if got else None,
                stall_cycles=got[0].stall if got else None, wall_s=round(time.perf_counter() - t0, 3))


def _task(args):
    """One configuration and mode (in a worker): the case's description and the run's result."""
    seed, index, mode = args
    cfg, inputs, case, runs = draw_case(seed, index)
    return case, run_case(cfg, inputs, runs[mode])


def _progress(total):
    """(advance(text), close()): a rich progress bar when rich is installed and the output is a terminal,
    else a plain line every tenth of the work."""
    try:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        if Console().is_terminal:
            bar = Progress(TextColumn("[bold]regress"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                           TextColumn("{task.description}"))
            bar.start()
            task = bar.add_task("", total=total)
            return (lambda text: bar.update(task, advance=1, description=text)), bar.stop
    except ImportError:
        pass
    done = [0]
    step = max(1, total // 10)

    def advance(text):
        done[0] += 1
        if done[0] % step == 0 or done[0] == total:
            print(f"  {done[0]}/{total} runs ({text})", flush=True)
    return advance, lambda: None


# -- reporting -----------------------------------------------------------------------------------------

def summary(results):
    """The counts regress.md and the console show."""
    runs = [r for c in results for r in c["runs"]]
    configs = [c["config"] for c in results]
    full = [EngineConfig.from_dict(c) for c in configs]
    return {
        "configurations": len(results),
        "runs": len(runs),
        "sequences": sum(r["runs"] for r in runs),
        "passed": sum(r["passed"] for r in runs),
        "failed": sum(not r["passed"] for r in runs),
        "mismatches": sum(len(r["mismatches"]) for r in runs),
        "errors": sum(r["error"] is not None for r in runs),
        "ggu_cycles": dict(sorted(Counter(c.ggu_cycles for c in full).items())),
        "lane_pipeline": dict(Counter(c.lane_pipeline for c in full)),
        "overflow": dict(Counter(c.overflow for c in full)),
        "lanes": dict(sorted(Counter(c.lanes for c in full).items())),
        "C": dict(sorted(Counter(c.cols_per_lane for c in full).items())),
        "narrow_accumulators": sum(any(k in c for k in ACCUMULATORS) for c in configs),
        "inputs": dict(Counter(c["inputs"] for c in results)),
        "runs_raising": {f: sum(f in r["flags"] for r in runs) for f in FLAGS},
        "handshake_free_runs": sum(r["gap"] == 0 and r["stall"] == 0 for r in runs),
        "back_to_back_runs": sum(r["runs"] == 2 for r in runs),
    }


def dumps(report):
    """The report as JSON text, indented, with one line per configuration."""
    head = json.dumps({**report, "results": None}, indent=1)
    cases = ",\n  ".join(json.dumps(c) for c in report["results"])
    return head.replace('"results": null', f'"results": [\n  {cases}\n ]') + "\n"


def markdown(report):
    s = report["summary"]
    table = lambda d: ", ".join(f"{k}: {v}" for k, v in d.items())
    lines = [
        "# Random regression: the engine in Amaranth's simulator against the golden model", "",
        "```sh", report["command"], "```", "",
        f"{s['configurations']} random configurations x {{skip, dense}} = {s['runs']} runs ({s['sequences']} "
        f"sequences), seed {report['seed']}, {report['jobs']} processes, wall time {report['wall_s']:.0f} s. "
        "Each run compares every output (dx, dh0, dc0, dW, db), every counter (golden_model.cycles with "
        "hw.timing.micro_arch) and the five sticky flags with the golden model.", "",
        f"**Mismatches: {s['mismatches']}** (0 expected); failed runs: {s['failed']}; simulations that did not "
        f"finish: {s['errors']}.", "",
        "| drawn | counts |", "|---|---|",
        f"| ggu_cycles | {table(s['ggu_cycles'])} |",
        f"| lane_pipeline | {table(s['lane_pipeline'])} |",
        f"| overflow | {table(s['overflow'])} |",
        f"| lanes P | {table(s['lanes'])} |",
        f"| columns per lane C | {table(s['C'])} |",
        f"| narrow accumulators | {s['narrow_accumulators']} configurations |",
        f"| inputs | {table(s['inputs'])} |",
        f"| runs raising each flag | {table(s['runs_raising'])} |",
        f"| runs without gaps or stalls | {s['handshake_free_runs']} |",
        f"| runs of two sequences back to back | {s['back_to_back_runs']} |", "",
        "Every configuration, mode, handshake and seed, with its result, is in regress.json; "
        "`--seed S --only I` runs configuration I again.",
    ]
    failed = [(c, r) for c in report["results"] for r in c["runs"] if not r["passed"]]
    if failed:
        lines += ["", "## Failed runs", "", "| # | mode | config | first difference |", "|---:|---|---|---|"]
        for c, r in failed:
            first = r["error"] or json.dumps(r["mismatches"][0])
            lines.append(f"| {c['index']} | {r['mode']} | `{json.dumps(c['config'])}` | {first} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200, help="random configurations (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the draws (default 0)")
    ap.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--out", type=Path, default=Path("bench/results"), help="directory of regress.json/.md")
    ap.add_argument("--only", type=int, nargs="+", metavar="I", help="run only these configuration numbers")
    args = ap.parse_args(argv)
    if args.count < 1 or args.jobs < 1:
        ap.error("--count and --jobs must be at least 1")
    indices = args.only if args.only else list(range(args.count))
    tasks = [(args.seed, i, mode) for i in indices for mode in (0, 1)]
    command = " ".join([".venv/bin/python bench/regress.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    print(f"regress: {len(indices)} configurations x {{skip, dense}} = {len(tasks)} runs, seed {args.seed}, "
          f"{args.jobs} processes", flush=True)
    t0 = time.perf_counter()
    cases = {}
    advance, close = _progress(len(tasks))

    def collect(case, result):
        entry = cases.setdefault(case["index"], {**case, "runs": []})
        entry["runs"].append(result)
        if not result["passed"]:
            close_text = result["error"] or result["mismatches"][:3]
            print(f"MISMATCH: configuration {case['index']} ({result['mode']}): {close_text}; "
                  f"config {case['config']}", flush=True)
        advance(f"{case['index']} {result['mode']}")

    try:
        if args.jobs == 1:
            for task in tasks:
                collect(*_task(task))
        else:
            import multiprocessing
            with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
                for case, result in pool.imap_unordered(_task, tasks):
                    collect(case, result)
    finally:
        close()
    wall = time.perf_counter() - t0
    results = [cases[i] for i in sorted(cases)]
    for c in results:
        c["runs"].sort(key=lambda r: r["mode"] != "skip")
    report = {"schema": SCHEMA, "command": command, "seed": args.seed, "count": len(indices), "jobs": args.jobs,
              "wall_s": round(wall, 1), "summary": summary(results), "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "regress.json").write_text(dumps(report))
    (args.out / "regress.md").write_text(markdown(report))
    s = report["summary"]
    print(f"regress: {s['configurations']} configurations, {s['runs']} runs: {s['passed']} passed, {s['failed']} "
          f"failed, {s['mismatches']} mismatches, {s['errors']} errors; wall {wall:.0f} s; "
          f"{args.out / 'regress.json'}", flush=True)
    return 1 if s["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
