"""Sparsity-vs-metric sweeps: dense vs sparsified SGD with the same seed and data.

    python bench/sparsity_sweep.py fashion-mnist-lstm     # or jane-austen-lstm, fashion-mnist-gru, ...
    python bench/sparsity_sweep.py --list

Each preset trains dense and once per threshold rule (``zskip compare`` with
fixed settings), prints the Markdown table and writes compare.md,
compare.json and sparsity_vs_metric.png to bench/results/<preset>/ (run
directories with per-step histories go to runs/bench/<preset>/).
"""

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from golden_model.datasets import load_dataset
from golden_model.runs import compare, markdown_table
from golden_model.train import TrainConfig

FASHION = dict(dataset="fashion-mnist", hidden=128, epochs=3, batch_size=128, optimizer="adam", seed=0)
AUSTEN = dict(dataset="jane-austen", hidden=128, epochs=1, batch_size=32, seq_len=64, optimizer="adam", lr=3e-3,
              seed=0)
FASHION_RULES = ["static:3e-6", "static:1e-5", "static:3e-5", "static:1e-4",
                 "sparsity:0.8", "sparsity:0.9", "sparsity:0.95", "rms:1"]
AUSTEN_RULES = ["static:3e-7", "static:1e-6", "static:3e-6", "static:1e-5",
                "sparsity:0.8", "sparsity:0.9", "sparsity:0.95", "rms:1"]

#: GRU sweeps use fewer rules (the session's compute budget), around the LSTM's interesting range.
GRU_RULES = {"fashion": ["static:1e-5", "static:3e-5", "sparsity:0.8", "sparsity:0.9", "sparsity:0.95"],
             "austen": ["static:1e-6", "static:3e-6", "sparsity:0.8", "sparsity:0.9", "sparsity:0.95"]}

#: name -> (config, threshold rules, also run the fixed-point backward pass)
PRESETS = {
    "fashion-mnist-lstm": (TrainConfig(cell="lstm", **FASHION), FASHION_RULES, False),
    "fashion-mnist-gru": (TrainConfig(cell="gru", **FASHION), GRU_RULES["fashion"], False),
    "jane-austen-lstm": (TrainConfig(cell="lstm", **AUSTEN), AUSTEN_RULES, False),
    "jane-austen-gru": (TrainConfig(cell="gru", **AUSTEN), GRU_RULES["austen"], False),
    # float dense vs float sparsified vs fixed-point sparsified (the engine's arithmetic)
    "fashion-mnist-lstm-fixed": (TrainConfig(cell="lstm", **FASHION), ["static:1e-5", "sparsity:0.9"], True),
    "jane-austen-lstm-fixed": (TrainConfig(cell="lstm", **AUSTEN), ["static:1e-6", "sparsity:0.9"], True),
    # the seed-to-seed spread of the language model at this budget (dense and the chosen rule)
    "jane-austen-lstm-seed1": (TrainConfig(cell="lstm", **(AUSTEN | {"seed": 1})), ["sparsity:0.9"], False),
    "jane-austen-lstm-seed2": (TrainConfig(cell="lstm", **(AUSTEN | {"seed": 2})), ["sparsity:0.9"], False),
    # a two-minute smoke version of the pipeline, for checking the script itself
    "smoke": (TrainConfig(cell="lstm", dataset="fashion-mnist", hidden=32, epochs=1, limit=2000,
                          eval_limit=500, optimizer="adam"), ["static:1e-4", "sparsity:0.9"], True),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("preset", nargs="?", choices=list(PRESETS))
    ap.add_argument("--list", action="store_true", help="show the presets and exit")
    ap.add_argument("--results", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args(argv)
    if args.list or not args.preset:
        for name, (cfg, rules, fixed) in PRESETS.items():
            print(f"{name}: {cfg}\n    thresholds: {' '.join(rules)}{'  (+ fixed-point)' if fixed else ''}")
        return 0
    cfg, rules, fixed = PRESETS[args.preset]
    runs = Path("runs") / "bench" / args.preset
    ds = load_dataset(cfg.dataset, seq_len=cfg.seq_len, limit=cfg.limit, eval_limit=cfg.eval_limit, seed=cfg.seed,
                      features=cfg.features)

    def progress(e):
        if e["kind"] == "run":
            print(f"[{e['index']}/{e['runs']}] {e['threshold']}", flush=True)
        elif e["kind"] == "epoch":
            print(f"    epoch {e['epoch']}: val {e['val_metric']:.4f}, dz sparsity {e['dz_sparsity']:.1%}, "
                  f"{e['seconds']:.0f} s", flush=True)

    summary = compare(cfg, rules, runs, progress=progress, dataset=ds, fixed=fixed)
    out = args.results / args.preset
    out.mkdir(parents=True, exist_ok=True)
    for f in ("compare.md", "compare.json", "sparsity_vs_metric.png"):
        shutil.copy(runs / f, out / f)
    print(markdown_table(summary))


if __name__ == "__main__":
    sys.exit(main())
