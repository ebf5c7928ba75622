"""Skip efficiency of the engine on real gradient traces.

    python bench/skip_efficiency.py --run runs/NAME [--run runs/OTHER ...] [--batch 4] [--verify]

For each trained LSTM run, P in {4, 8, 16} and target sparsities 0.5-0.95:
capture real backward passes (zskip trace's path), run the engine model in
skip and dense mode, and print sparsity, dense and skip cycles of the
backward steps (the hardware's ``steps`` counter: start to the end of the
last step), the ideal speedup (dense MACs / nonzero MACs), the speedup and
the skip efficiency (speedup / ideal); then the same speedup and efficiency
for whole sequences (``cycles``: including the read-out of dh0/dc0, dW and
db, a fixed 4H*C + 4H + B*H cycles per sequence in both modes).

The cycle counts are golden_model.cycles', which equals the hardware's own
``cycles`` counter exactly (tests/hw/test_engine.py compares them cycle for
cycle, real trace included). Whole H = 128 sequences take millions of cycles,
too many for Amaranth's Python simulator; ``--verify`` simulates a slice of
one pass per P (two steps, batch 2) and checks that the hardware's count
equals the model's before printing.
"""

import argparse
import json
import sys
from pathlib import Path

from golden_model.cycles import cycle_counts
from hw.timing import micro_arch
from golden_model.engine_model import run_engine
from golden_model.trace import capture_trace

TARGETS = (0.5, 0.8, 0.9, 0.95)
LANES = (4, 8, 16)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, action="append", required=True)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    ap.add_argument("--verify", action="store_true", help="simulate a slice per P in Amaranth and compare cycles")
    args = ap.parse_args(argv)
    rows = []
    print("| run | P | C = ceil(N/P) | target | dz sparsity | dense cycles | skip cycles | ideal speedup "
          "| speedup | efficiency | with read-out: speedup | efficiency |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in args.run:
        for lanes in LANES:
            for target in TARGETS:
                trace = capture_trace(run, passes=args.passes, batch=args.batch, lanes=lanes,
                                      threshold=f"sparsity:{target}")
                if args.verify and target == TARGETS[-1]:
                    verify(trace)
                dense = skip = dense_all = skip_all = nnz = total = 0
                for p in trace.passes:
                    r = cycle_counts(trace.config, run_engine(trace.config, p), micro_arch(trace.config))
                    d = cycle_counts(trace.config, run_engine(trace.config, p, dense=True), micro_arch(trace.config))
                    skip, dense = skip + r.steps, dense + d.steps
                    skip_all, dense_all = skip_all + r.cycles, dense_all + d.cycles
                    nnz, total = nnz + r.nonzeros, total + r.nonzeros + r.zeros_skipped
                sparsity = 1 - nnz / total
                ideal = total / max(nnz, 1)
                row = {"run": str(run), "lanes": lanes, "cols_per_lane": trace.config.cols_per_lane,
                       "target": target, "sparsity": sparsity, "cycles_dense": dense, "cycles_skip": skip,
                       "ideal_speedup": ideal, "speedup": dense / skip, "efficiency": dense / skip / ideal,
                       "cycles_dense_with_readout": dense_all, "cycles_skip_with_readout": skip_all,
                       "speedup_with_readout": dense_all / skip_all,
                       "efficiency_with_readout": dense_all / skip_all / ideal}
                rows.append(row)
                print(f"| {run.name} | {lanes} | {row['cols_per_lane']} | {target} | {sparsity:.3f} | {dense} | {skip} "
                      f"| {ideal:.2f} | {row['speedup']:.2f} | {row['efficiency']:.3f} "
                      f"| {row['speedup_with_readout']:.2f} | {row['efficiency_with_readout']:.3f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def verify(trace):
    """Simulate two steps of batch 2 of the trace's first pass on the hardware; the cycle counts must agree."""
    from dataclasses import replace

    from golden_model.engine_model import EngineInputs
    from sim.pysim import simulate

    p = trace.passes[0]
    cfg = replace(trace.config, max_batch=2, max_seq=2, dw_acc_width=None, da_acc_width=None, db_acc_width=None)
    s, b = slice(-2, None), slice(0, 2)
    inputs = EngineInputs(gates=p.gates[s, b], tanh_c=p.tanh_c[s, b], c_prev=p.c_prev[s, b], a=p.a[s, b],
                          dh=p.dh[s, b], W=p.W, tau=p.tau)
    for dense in (False, True):
        model = cycle_counts(cfg, run_engine(cfg, inputs, dense=dense), micro_arch(cfg))
        want = (model.cycles, model.steps)
        counters = simulate(cfg, inputs, dense=dense)[0].counters
        got = (counters["cycles"], counters["steps"])
        if got != want:
            raise SystemExit(f"hardware and cycle model disagree (P = {cfg.lanes}, dense = {dense}): {got} != {want}")
    print(f"<!-- P = {cfg.lanes}: hardware cycles == model cycles on a 2-step slice, skip and dense -->", flush=True)


if __name__ == "__main__":
    sys.exit(main())
