"""Measure the ranges of every engine operand on real data, to choose the fixed-point formats.

    python bench/measure_ranges.py --run runs/NAME [--batches 20] [--batch 4]

For a trained LSTM run, over real batches: the cached activations (i, f, g,
o, tanh c), the cell state c_{t-1}, the inputs a_t = [x_t ; h_{t-1}], the
weights, and -- after the host's power-of-two gradient scale that puts
max |dh_out| three bits below the top of the grad format -- dh (with the
recurrent part), dc, dz, dc_prev, and the dW, db and da accumulators. Prints
per operand the largest magnitude, the 99.99th percentile, and the headroom
(in bits) of the default engine format that holds it (negative: it
saturates); writes
``ranges.json`` and ``ranges.png`` (log2 histograms) to
bench/results/formats/<run name>/.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

from golden_model.engine_config import EngineConfig
from golden_model.engine_model import gradient_scale

BINS = np.arange(-40, 9)  # log2 |v| histogram edges


def load_run(run):
    from golden_model.datasets import load_dataset
    from golden_model.train import TrainConfig, build_model
    metrics = json.loads((Path(run) / "metrics.json").read_text())
    cfg = TrainConfig.from_dict(metrics["config"])
    ds = load_dataset(cfg.dataset, seq_len=cfg.seq_len, seed=cfg.seed, features=cfg.features)
    layer, head = build_model(cfg, ds)
    with np.load(Path(run) / "model.npz") as saved:
        for name, arr in saved.items():
            part, attr = name.split(".", 1)
            getattr(layer if part == "layer" else head, attr)[...] = arr
    return cfg, ds, layer, head


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--batch", type=int, default=4, help="sequences per backward pass (the engine's B)")
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results" / "formats")
    args = ap.parse_args(argv)
    cfg, ds, layer, head = load_run(args.run)
    engine = EngineConfig(input_size=ds.input_size, hidden_size=cfg.hidden, lanes=1, max_batch=args.batch,
                          max_seq=ds.seq_len)
    values = {}

    def add(name, v):
        a = np.abs(np.asarray(v, np.float64)).ravel()
        values.setdefault(name, []).append(a[a > 0])

    rng = np.random.default_rng(1)
    batches = ds.batches("train", args.batch, None if ds.stateful else rng)
    H = cfg.hidden
    for _ in range(args.batches):
        x, y = next(batches)
        h, cache = layer.forward(x)
        _, _, dh, _ = head.loss_and_grad(h, y)
        s = gradient_scale(engine, dh)
        k = math.ldexp(1.0, s)
        for q, g in enumerate("ifgo"):
            add(f"act {g}", cache.gates[..., q * H:(q + 1) * H])
        add("act tanh_c", cache.tanh_c)
        add("state c_prev", cache.c_prev)
        add("inp x", cache.x)
        add("inp h", cache.h_prev)
        add("grad dh_out", dh * k)

        def observe(t, v):
            for name in ("dh", "dc", "dz_raw", "dc_prev"):
                add(f"grad {name}", v[name] * k)
            add("acc da", v["dh_rec"] * k)
        grads, _ = layer.backward(dh, cache, 0.0, observe=observe)
        add("acc dW", grads["W"] * k)
        add("acc db", grads["b"] * k)
        add("acc dx", grads["x"] * k)
    add("weight W", layer.W)
    rows = []
    fmt_of = {"act": engine.act, "state": engine.state, "inp": engine.inp, "grad": engine.grad,
              "weight": engine.weight, "acc": engine.grad}
    for name, parts in values.items():
        a = np.concatenate(parts)
        mx = float(a.max())
        fmt = fmt_of[name.split()[0]]
        if name.startswith("acc"):  # accumulators are exact; their outputs (dx, dh_rec) take the grad format
            fmt = {"acc dW": engine.dw_acc, "acc db": engine.db_acc}.get(name, engine.grad)
        rows.append({"operand": name, "max": mx, "p99.99": float(np.quantile(a, 0.9999)),
                     "log2_max": math.log2(mx), "format": str(fmt), "format_max": fmt.max,
                     "headroom_bits": math.log2(fmt.max / mx),
                     "hist_log2": np.histogram(np.log2(a), BINS)[0].tolist()})
    out = args.results / Path(args.run).name
    out.mkdir(parents=True, exist_ok=True)
    (out / "ranges.json").write_text(json.dumps({"run": str(args.run), "grad_format": str(engine.grad),
                                                 "headroom_bits": 3, "bins_log2": BINS.tolist(), "rows": rows},
                                                indent=1))
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(4, 5, figsize=(18, 11), sharex=True)
    for ax, r in zip(axes.ravel(), rows):
        ax.bar(BINS[:-1] + 0.5, r["hist_log2"], width=1.0)
        ax.set_title(f"{r['operand']} (max {r['max']:.3g})", fontsize=9)
        ax.set_yscale("log")
    for ax in axes[-1]:
        ax.set_xlabel("log2 |value| (gradients after the 2**s scale)")
    fig.suptitle(f"Engine operand ranges, {args.run}")
    fig.tight_layout()
    fig.savefig(out / "ranges.png", dpi=90)
    print("| operand | max | 99.99th pct | log2 max | default format | headroom (bits) |\n|---|---:|---:|---:|---|---:|")
    for r in rows:
        print(f"| {r['operand']} | {r['max']:.4g} | {r['p99.99']:.4g} | {r['log2_max']:.2f} | {r['format']} "
              f"| {r['headroom_bits']:.2f} |")
    print(f"-> {out}/ranges.json, ranges.png")


if __name__ == "__main__":
    sys.exit(main())
