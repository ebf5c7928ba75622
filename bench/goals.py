"""The design's goals and where we stand, from the committed results in bench/results/.

    python bench/goals.py                 # print the table (Markdown)
    python bench/goals.py --write         # and put it into docs/DESIGN.md, between its goals markers

Every figure comes from a committed file (named in the table's last column) or, for the balance of a
board's default engine, from its configuration (boards/targets.py) and the cycle model's rule. A goal
with nothing measured yet says so. tests/test_goals.py holds docs/DESIGN.md's table equal to this
script's output, so the table is never edited by hand and never left behind.
"""

import argparse
import json
import statistics
import sys
from pathlib import Path

from boards.power import ENERGY_GOAL_FACTOR
from boards.report import BoardReport
from boards.targets import TARGETS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DESIGN = ROOT / "docs" / "DESIGN.md"
BEGIN = "<!-- goals: made by `python bench/goals.py --write`; do not edit by hand -->"
END = "<!-- /goals -->"


def _rel(path):
    return f"`{path.relative_to(ROOT)}`"


def _status(met):
    return "**met**" if met else "not met"


def accuracy():
    """>= 80 % dz sparsity within tolerance of dense, per committed compare run (not the seed repeats): the
    highest sparsity a run reached within its tolerance."""
    rows, met = [], 0
    runs = [p for p in sorted(RESULTS.glob("*/compare.json")) if "seed" not in p.parent.name]
    for path in runs:
        best = json.loads(path.read_text())["best"]
        rows.append(f"{path.parent.name} {100 * best['dz_sparsity']:.1f} %")
        met += best["dz_sparsity"] >= 0.8 and best["within_tolerance"]
    return ("dz sparsity at no loss", ">= 80 % within 1 pp accuracy / 2 % bpc of dense", "; ".join(rows),
            f"met in {met} of {len(runs)}", "`bench/results/*/compare.json`")


def skip_efficiency():
    path = RESULTS / "skip_efficiency.json"
    rows = [r for r in json.loads(path.read_text()) if 0.5 <= r["sparsity"] <= 0.95]
    by_p = {p: min(r["efficiency"] for r in rows if r["lanes"] == p) for p in sorted({r["lanes"] for r in rows})}
    stand = ", ".join(f"P = {p}: {e:.3f}" for p, e in by_p.items())
    return ("skip efficiency (speedup / ideal)", ">= 0.95 at s = 0.5 .. 0.95, P = 4, 8, 16", f"lowest {stand}",
            _status(min(by_p.values()) >= 0.95), _rel(path))


def balance():
    """k <= 4 (1 - s) ceil(N / P) at s = 0.9, for each board's default engine."""
    parts, ok = [], True
    for t in TARGETS.values():
        c = t.default_config()
        bound = 4 * (1 - 0.9) * c.cols_per_lane
        parts.append(f"{t.name}: k = {c.ggu_cycles} vs {bound:.1f}")
        ok &= c.ggu_cycles <= bound
    return ("balanced step at s = 0.9", "k <= 4 (1 - s) ceil(N / P) on each board's default engine",
            "; ".join(parts), _status(ok), "`boards/targets.py`")


def _report(board):
    path = RESULTS / f"energy-{board}" / "report.json"
    return BoardReport.read(path), path


def fmax(board, size, big_enough):
    """The board build's Fmax against the board's goal (boards.targets: ``goal_mhz``), for an engine of
    ``size`` (``big_enough(H, P, share of logic cells)``): over placement seeds where bench/board_seeds.py
    has a table for the board (min / median / max; met when the slowest seed meets it), else the energy
    report's build."""
    goal = TARGETS[board].goal_mhz
    seeds = RESULTS / f"seeds-{board}.json"
    data = json.loads(seeds.read_text()) if seeds.exists() else {"builds": []}
    builds = [b for b in data["builds"] if "error" not in b]
    if builds:                         # (a table whose every seed failed falls back to the energy report)
        f = sorted(b["fmax_mhz"] for b in builds)
        config, util, path = data["config"], builds[0]["utilization"], seeds
        stand = (f"{f[0]:.1f} / {statistics.median(f):.1f} / {f[-1]:.1f} MHz (min / median / max over "
                 f"{len(f)} seeds)")
        slowest = f[0]
    else:
        r, path = _report(board)
        config, util, slowest = r.config, r.resources, r.fmax_mhz
        stand = f"{r.fmax_mhz:.1f} MHz"
    H, P = config["hidden_size"], config["lanes"]
    cells = util.get("ICESTORM_LC") or util["TRELLIS_COMB"]
    share = cells["used"] / cells["available"]
    return (f"Fmax, {board}", f">= {goal:g} MHz with {size}",
            f"{stand} with H = {H}, P = {P}, {100 * share:.0f} % of the logic cells",
            _status(slowest >= goal and big_enough(H, P, share)), _rel(path))


def rate():
    r, path = _report("ulx3s-85f")
    gmacs = r.dense_equivalent_macs_per_s / 1e9
    return ("dense-equivalent rate, ulx3s-85f", ">= 20 GMAC/s at s >= 0.9",
            f"{gmacs:.1f} GMAC/s at s = {100 * r.sparsity:.1f} %", _status(gmacs >= 20 and r.sparsity >= 0.9),
            _rel(path))


def energy():
    parts, ok, paths = [], True, []
    for board in ("icebreaker", "ulx3s-85f"):
        r, path = _report(board)
        lo, hi = r.energy_band.ratio
        parts.append(f"{board}: {r.energy_ratio:.3f} ({lo:.3f}-{hi:.3f}) vs {r.energy_goal:.3f} at "
                     f"s = {100 * r.sparsity:.1f} %")
        ok &= r.energy_ratio <= r.energy_goal
        paths.append(_rel(path))
    return ("energy per step, skip / dense (estimate)", f"<= {ENERGY_GOAL_FACTOR} (1 - s) on both boards",
            "; ".join(parts), _status(ok), ", ".join(paths))


def cosim_speed():
    path = RESULTS / "cosim_speed.json"
    d = json.loads(path.read_text())
    return ("co-simulation speed", ">= 100k cycles/s on Verilator", f"{d['cycles_per_s']:,.0f} cycles/s",
            _status(d["cycles_per_s"] >= 100_000), _rel(path))


def sweeps():
    return ("sweeps on Dask", ">= 1.7x with 2 workers vs 1, < 0.5 s overhead per point", "not built yet",
            "—", "(issue 17)")


def table():
    """The goals table (Markdown)."""
    rows = [accuracy(), skip_efficiency(), balance(),
            fmax("ulx3s-85f", "H >= 64, 16 lanes", lambda H, P, share: H >= 64 and P >= 16),
            fmax("icebreaker", "H >= 32, logic cells <= 85 %", lambda H, P, share: H >= 32 and share <= 0.85),
            rate(), energy(), cosim_speed(), sweeps()]
    lines = ["| goal | target | where we stand | | source |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write(path=DESIGN):
    """Replace the table between the goals markers of ``path`` (docs/DESIGN.md)."""
    text = path.read_text()
    head, found, rest = text.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise SystemExit(f"{path} has no goals markers ({BEGIN} ... {END})")
    path.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help=f"also put the table into {DESIGN.relative_to(ROOT)}")
    args = p.parse_args(argv)
    print(table())
    if args.write:
        write()
        print(f"-> {DESIGN.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
