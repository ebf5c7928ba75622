"""Skip efficiency predicted by the engine's cycle model on real gradient traces.

    python bench/skip_efficiency.py --run runs/NAME [--run runs/OTHER ...] [--batch 4]

For each trained LSTM run, P in {4, 8, 16} and target sparsities 0.5-0.95:
capture real backward passes (zskip trace's path), run the engine model in
skip and dense mode, and print sparsity, dense and skip cycles, the ideal
speedup (dense MACs / nonzero MACs), the speedup and the skip efficiency
(speedup / ideal). These are the cycle model's numbers
(golden_model/cycles.py); the hardware must reproduce them exactly.
"""

import argparse
import json
import sys
from pathlib import Path

from golden_model.cycles import cycle_counts
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
    args = ap.parse_args(argv)
    rows = []
    print("| run | P | C = ceil(N/P) | target | dz sparsity | dense cycles | skip cycles | ideal speedup "
          "| speedup | efficiency |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run in args.run:
        for lanes in LANES:
            for target in TARGETS:
                trace = capture_trace(run, passes=args.passes, batch=args.batch, lanes=lanes,
                                      threshold=f"sparsity:{target}")
                dense = skip = nnz = total = 0
                for p in trace.passes:
                    r = run_engine(trace.config, p)
                    d = run_engine(trace.config, p, dense=True)
                    skip += cycle_counts(trace.config, r).total
                    dense += cycle_counts(trace.config, d).total
                    nnz, total = nnz + r.nonzeros, total + r.dz.size
                sparsity = 1 - nnz / total
                ideal = total / max(nnz, 1)
                row = {"run": str(run), "lanes": lanes, "cols_per_lane": trace.config.cols_per_lane,
                       "target": target, "sparsity": sparsity, "cycles_dense": dense, "cycles_skip": skip,
                       "ideal_speedup": ideal, "speedup": dense / skip, "efficiency": dense / skip / ideal}
                rows.append(row)
                print(f"| {run.name} | {lanes} | {row['cols_per_lane']} | {target} | {sparsity:.3f} | {dense} | {skip} "
                      f"| {ideal:.2f} | {row['speedup']:.2f} | {row['efficiency']:.3f} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
