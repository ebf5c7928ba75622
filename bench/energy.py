"""Energy per backward step, skip vs dense, on each board: the estimate against DESIGN.md's goal.

    python bench/energy.py icebreaker [--build build/icebreaker]
    python bench/energy.py ulx3s-85f --build build/ulx3s
    python bench/energy.py --list

Runs ``zskip report`` (boards.report) for a board's preset: its default engine and a committed real
trace that fits it, reusing a build directory whose report.json is of the same design (its
``boards.build.design_digest``: board, configuration, clock and hardware; else building there: minutes). Prints the energy ratio skip / dense with its band against the goal
1.15 x (1 - s) (boards.power.ENERGY_GOAL_FACTOR) at the trace's dz sparsity s, and the breakdown by
resource class that explains it; writes the report to bench/results/energy-<board>/ (report.md, report.json, plots).

The energy figures are an estimate, not vendor analysis, not measured (boards/power.py, docs/power.md).
"""

import argparse
import sys
from pathlib import Path

from boards.power import ENERGY_GOAL_FACTOR, LABEL
from boards.report import headline_table, report
from boards.targets import get_target
from golden_model.trace import load_trace

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {
    "icebreaker": {"trace": ROOT / "tests/data/fashion8_lstm_h8.npz",
                   "why": "Fashion-MNIST rows on 8 features, H = 8 (the UP5K's engine), 2 passes"},
    "ulx3s-85f": {"trace": ROOT / "tests/data/fashion_lstm_h64.npz",
                  "why": "Fashion-MNIST rows of 28 pixels, H = 64, 16 lanes (the ECP5-85F's engine), 3 passes"},
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("board", nargs="?", choices=list(PRESETS))
    ap.add_argument("--list", action="store_true", help="list the presets")
    ap.add_argument("--build", type=Path, default=None, help="board build directory (default: build/<board>)")
    ap.add_argument("--passes", type=int, default=None, help="passes of the trace (default: all)")
    ap.add_argument("--out", type=Path, default=None, help="default: bench/results/energy-<board>")
    args = ap.parse_args(argv)
    if args.list or args.board is None:
        for name, p in PRESETS.items():
            print(f"{name:<12} {p['trace'].relative_to(ROOT)}: {p['why']}")
        return 0
    target = get_target(args.board)
    preset = PRESETS[args.board]
    out = args.out or ROOT / "bench/results" / f"energy-{args.board}"
    r = report(target, target.default_config(), load_trace(preset["trace"]), out,
               build_dir=args.build or Path("build") / args.board, passes=args.passes,
               trace_path=preset["trace"].relative_to(ROOT), progress=lambda text: print(text, flush=True))
    print()
    print(headline_table(r))
    lo, hi = r.energy_band.ratio
    print(f"\nenergy ratio skip/dense {r.energy_ratio:.3f} (band {lo:.3f}-{hi:.3f}) at dz sparsity "
          f"{100 * r.sparsity:.1f} %; goal {ENERGY_GOAL_FACTOR:g} (1 - s) = {r.energy_goal:.3f}: "
          f"{'met' if r.energy_goal_met else 'NOT met'} ({LABEL})")
    print(f"cycles per step skip / dense: {r.cycles_skip:.0f} / {r.cycles_dense:.0f} (speedup {r.speedup:.2f}x)")
    print("\nper step (nJ)          skip      dense   skip/dense")
    bd = r.energy_breakdown_nj_per_step
    for term in bd.dense:
        a, b = bd.skip[term], bd.dense[term]
        print(f"  {term:<18} {a:9.2f} {b:10.2f}   {a / b:.3f}" if b else f"  {term:<18} {a:9.2f} {b:10.2f}")
    print(f"\n-> {out / 'report.md'}")


if __name__ == "__main__":
    sys.exit(main())
