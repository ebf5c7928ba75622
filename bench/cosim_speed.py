"""Co-simulation speed on Verilator: simulated cycles per second for the default engine configuration.

    python bench/cosim_speed.py [--passes N] [--sim verilator] [--json out.json]

Runs the committed Fashion-MNIST trace (I = 28, H = 32, B = 4, T = 28: it fits the default
EngineConfig) through the exported default engine in skip and dense mode, with the host always
ready (no handshake gaps), and prints simulated cycles, wall time and cycles per second per run.
Goal (issue 5): >= 100,000 simulated cycles/s. The build is not timed (it is made once per
configuration and kept under build/cosim).
"""

import argparse
import json
import sys
from pathlib import Path

from golden_model.engine_config import EngineConfig
from golden_model.trace import load_trace
from sim.cosim import build, run_job, trace_sequences
from sim.jobs import RunSpec

__all__ = ["main"]

TRACE = Path(__file__).parents[1] / "tests" / "data" / "fashion_lstm_h32.npz"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--sim", default="verilator", choices=["verilator", "icarus"])
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    config, passes = trace_sequences(load_trace(TRACE), EngineConfig(), args.passes)
    built = build(config, args.sim)
    rows = []
    print(f"| pass | mode | simulated cycles | wall s | cycles/s |")
    print("|---:|---|---:|---:|---:|")
    for n, inputs in enumerate(passes):
        for r in run_job(config, inputs, [RunSpec(dense=False), RunSpec(dense=True)], built, name=f"speed{n}"):
            if not r.passed:
                raise SystemExit(f"pass {n} differs from the golden model: {r.differences}")
            mode = "dense" if r.run.dense else "skip"
            rows.append({"pass": n, "mode": mode, "sim_cycles": r.sim_cycles, "wall_s": r.wall_s,
                         "cycles_per_s": r.sim_cycles / r.wall_s})
            print(f"| {n} | {mode} | {r.sim_cycles} | {r.wall_s:.2f} | {rows[-1]['cycles_per_s']:,.0f} |",
                  flush=True)
    total = sum(r["sim_cycles"] for r in rows) / sum(r["wall_s"] for r in rows)
    print(f"\n{args.sim}, default configuration (P = {config.lanes}, H = {config.hidden_size}): "
          f"{total:,.0f} simulated cycles/s overall (goal >= 100,000)")
    if args.json:
        args.json.write_text(json.dumps({"sim": args.sim, "config": config.to_dict(), "rows": rows,
                                         "cycles_per_s": total}, indent=1))


if __name__ == "__main__":
    sys.exit(main())
