"""Fmax over placement seeds: one board's build, several nextpnr seeds, min / median / max.

    python bench/board_seeds.py ulx3s-85f --seeds 1-5 [--jobs 2] [engine flags, e.g. --hidden-size 64]
    python bench/board_seeds.py ulx3s-85f --seeds 1-5 --markdown     # only print the table of finished builds

Builds the board's default engine (or the one the engine flags of ``zskip build`` give) with
``boards.build.build`` once per seed, into build/seeds-<board>/<seed>/, ``--jobs`` at a time (each build
is one process; nextpnr uses one core). A seed whose report.json is already there for the same design
(``boards.build.design_digest``: the same RTLIL and Yosys script, so a change of the hardware builds again)
is not built again. Prints a Markdown table: each seed's Fmax, the engine's clock and nextpnr's
constraint (boards.targets.Target.place_mhz), whether the clock was met, the critical path's end points and build time, then min / median / max; writes it
with the figures to bench/results/seeds-<board>.md and .json.
"""

import argparse
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from boards.build import BuildError, BuildReport, build, design_digest
from boards.targets import TARGETS, get_target
from golden_model.engine_config import EngineConfig
from golden_model.errors import ZskipError
from zskip.cli import add_engine_options, merge_engine_config

__all__ = ["main"]

ROOT = Path(__file__).resolve().parents[1]


def _seeds(text):
    """"1-5" or "1,3,7" -> [1, ...]."""
    try:
        if "-" in text:
            lo, hi = (int(x) for x in text.split("-"))
            seeds = list(range(lo, hi + 1))
        else:
            seeds = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds: a range such as 1-5 or a list such as 1,3,7, not {text!r}")
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds: at least one, none negative: {text!r}")
    return seeds


def _one(board, config, clock_mhz, seed, out, design, time_limit):
    """Build one seed (or reuse its report if it built the same ``design``, a boards.build.design_digest);
    returns the BuildReport's dict, or {"seed", "error"}."""
    report = out / "report.json"
    if report.exists():
        old = BuildReport.read(report)
        if old.design == design and (clock_mhz is None or old.clock["engine_mhz"] == clock_mhz):
            return {"seed": seed, **old.to_dict(), "reused": True}
    try:
        r = build(get_target(board), config, out, clock_mhz=clock_mhz, seed=seed, time_limit_min=time_limit)
    except BuildError as e:
        return {"seed": seed, "error": str(e)}
    return {"seed": seed, **r.to_dict(), "reused": False}


def table(board, rows):
    """The Markdown table of the seeds' builds and their spread."""
    done = [r for r in rows if "error" not in r]
    lines = ["| seed | Fmax (MHz) | clock (MHz) | constraint (MHz) | met | critical path | build (s) |",
             "|---:|---:|---:|---:|---|---|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['seed']} | failed: {r['error']} | | | | | |")
            continue
        cp = r["critical_path"]
        path = f"{cp.get('from', '?')} -> {cp.get('to', '?')} ({cp.get('delay_ns', 0):.1f} ns)"
        lines.append(f"| {r['seed']} | {r['fmax_mhz']:.1f} | {r['clock']['engine_mhz']:g} | {r['constraint_mhz']:g} | "
                     f"{'yes' if r['timing_met'] else 'no'} | `{path}` | {r['build_s']:.0f} |")
    if done:
        f = [r["fmax_mhz"] for r in done]
        lines += ["", f"Fmax over {len(f)} seeds: min {min(f):.1f}, median {statistics.median(f):.1f}, "
                  f"max {max(f):.1f} MHz ({board}, goal {get_target(board).goal_mhz:g} MHz)."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("board", choices=list(TARGETS))
    ap.add_argument("--seeds", type=_seeds, default=_seeds("1-5"), help="placement seeds (default: 1-5)")
    ap.add_argument("--jobs", type=int, default=2, help="builds at a time (default: 2)")
    ap.add_argument("--clock-mhz", type=float, default=None, help="engine clock (default: the board's)")
    ap.add_argument("--out", type=Path, default=None, help="build root (default: build/seeds-<board>)")
    ap.add_argument("--time-limit", type=float, default=60, metavar="MIN",
                    help="stop a seed's build after this many minutes: it is reported as failed (default: 60)")
    ap.add_argument("--markdown", action="store_true", help="only print the table of the builds already there")
    add_engine_options(ap, EngineConfig)
    args = ap.parse_args(argv)
    try:
        config = merge_engine_config(args, get_target(args.board).engine)
    except ZskipError as e:
        ap.error(str(e))
    root = args.out or ROOT / "build" / f"seeds-{args.board}"
    if args.markdown:
        rows = [{"seed": s, **BuildReport.read(root / str(s) / "report.json").to_dict()}
                for s in args.seeds if (root / str(s) / "report.json").exists()]
    else:
        design = design_digest(get_target(args.board), config, clock_mhz=args.clock_mhz)
        with ProcessPoolExecutor(max(1, args.jobs)) as pool:
            jobs = [pool.submit(_one, args.board, config, args.clock_mhz, s, root / str(s), design, args.time_limit)
                    for s in args.seeds]
            rows = []
            for job in jobs:
                rows.append(job.result())
                r = rows[-1]
                print(f"seed {r['seed']}: " + (f"failed: {r['error']}" if "error" in r else
                                               f"{r['fmax_mhz']:.1f} MHz ({r['build_s']:.0f} s)"), file=sys.stderr)
    text = table(args.board, rows)
    print(text)
    if not args.markdown:
        res = ROOT / "bench" / "results"
        command = "python bench/board_seeds.py " + " ".join(argv if argv is not None else sys.argv[1:])
        (res / f"seeds-{args.board}.md").write_text(f"# Fmax over placement seeds: {args.board}\n\n```sh\n{command}\n```\n\n"
                                                    f"Engine: `{json.dumps(config.to_dict())}`\n\n{text}")
        (res / f"seeds-{args.board}.json").write_text(json.dumps({"command": command, "config": config.to_dict(),
                                                                  "builds": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
