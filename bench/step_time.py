"""Time per training step of the golden model (layer forward + sparsified backward).

    python bench/step_time.py [--repeats 10] [--json out.json]

Shapes: row-wise Fashion-MNIST (T=28, B=128, I=28) and the Jane Austen
language model (T=100, B=64, I=81), hidden 128 and 256, LSTM and GRU, dense
(tau = 0) and sparsified (tau at ~90 % dz sparsity). The numbers are wall-clock
medians on this machine; run with the machine otherwise idle.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

from golden_model import GRU, LSTM

SHAPES = {"fashion-mnist": (28, 128, 28), "jane-austen": (100, 64, 81)}


def time_step(cls, T, B, I, H, tau, repeats):
    rng = np.random.default_rng(0)
    m = cls(I, H, seed=0)
    x = rng.normal(size=(T, B, I))
    dh = rng.normal(size=(T, B, H)) * 1e-3
    samples = []
    for _ in range(repeats + 1):  # the first run warms caches and is dropped
        t0 = time.perf_counter()
        h, cache = m.forward(x)
        _, st = m.backward(dh, cache, threshold=tau)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples[1:]), st.dz_sparsity


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    rows = []
    print(f"numpy {np.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"| shape (T, B, I) | cell | H | ms/step dense | ms/step sparsified | dz sparsity |")
    print("|---|---|---:|---:|---:|---:|")
    for name, (T, B, I) in SHAPES.items():
        for cls in (LSTM, GRU):
            for H in (128, 256):
                dense, _ = time_step(cls, T, B, I, H, 0.0, args.repeats)
                sparse, sp = time_step(cls, T, B, I, H, 3e-4, args.repeats)
                rows.append({"dataset": name, "T": T, "B": B, "I": I, "cell": cls.__name__, "H": H,
                             "ms_dense": dense * 1e3, "ms_sparse": sparse * 1e3, "dz_sparsity": sp})
                print(f"| {name} ({T}, {B}, {I}) | {cls.__name__} | {H} | {dense * 1e3:.1f} | "
                      f"{sparse * 1e3:.1f} | {sp:.0%} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
