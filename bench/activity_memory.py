"""Time and memory of reading an engine waveform's switching activity (sim.activity.toggle_bins).

    python bench/activity_memory.py WAVEFORM                  # a waveform of the exported engine (.vcd, .fst)
    python bench/activity_memory.py --cosim ulx3s-85f --root /tmp/activity [--sweep] [--keep]

Reads the waveform as boards.report.measure does (the engine's units, its counters watched) and prints
the wall time, the peak of the anonymous memory (the process's own: sampled from /proc every 0.2 s) and
the peak of the waveform's mapped pages (pywellen maps the file it streams: those pages count in the
resident set size that ``/usr/bin/time -v`` shows, but they are the file's page cache, which the kernel
drops under pressure), with what was read: cycles, value changes' toggles, copies of a net.

``--cosim BOARD``: first co-simulate, with waveforms, one pass of the trace (``--trace``; default the
committed H = 64 one) on the board's default engine under ``--root``, in skip and dense mode (and at the
report's swept thresholds with ``--sweep``), as the energy report does; the waveform is deleted afterwards
unless ``--keep``.
"""

import argparse
import sys
import threading
import time
from pathlib import Path

__all__ = ["main"]

TRACE = Path(__file__).resolve().parents[1] / "tests" / "data" / "fashion_lstm_h64.npz"


def _peak_memory(peak, stop):
    """Keep in ``peak`` the largest RssAnon and RssFile (kB) of this process until ``stop`` is set."""
    while not stop.wait(0.2):
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f)
        for key in peak:
            peak[key] = max(peak[key], int(status[key].split()[0]))


def _cosim(board, root, trace, sweep):
    """Co-simulate one pass of ``trace`` on ``board``'s default engine with waveforms; the waveform's path."""
    from boards.report import SWEEP
    from boards.targets import get_target
    from golden_model.trace import load_trace
    from sim.cosim import build, run_job, trace_sequences
    from sim.jobs import RunSpec

    config, sequences = trace_sequences(load_trace(trace), get_target(board).default_config(), 1)
    inputs = sequences[0]
    runs = [RunSpec(dense=False), RunSpec(dense=True)]
    if sweep:
        runs += [RunSpec(hw_tau=int(round(inputs.tau * m)), model_tau=int(round(inputs.tau * m))) for m in SWEEP]
    built = build(config, "verilator", root=root, waves=True, temporaries=False)
    res = run_job(config, inputs, runs, built, name="activity-memory")
    if not all(r.passed for r in res) or res[0].waveform is None:
        sys.exit(f"the co-simulation failed or wrote no waveform; see {built.dir / 'activity-memory'}")
    return Path(res[0].waveform)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("waveform", nargs="?", type=Path)
    ap.add_argument("--cosim", metavar="BOARD", help="co-simulate the board's default engine first")
    ap.add_argument("--root", type=Path, help="build root of the co-simulation (with --cosim)")
    ap.add_argument("--trace", type=Path, default=TRACE)
    ap.add_argument("--sweep", action="store_true", help="also the report's swept thresholds (with --cosim)")
    ap.add_argument("--keep", action="store_true", help="keep the co-simulated waveform")
    args = ap.parse_args(argv)
    if (args.waveform is None) == (args.cosim is None):
        ap.error("give a waveform or --cosim BOARD")
    if args.cosim and args.root is None:
        ap.error("--cosim needs --root (the waveform of a board's engine is several GB)")
    from golden_model.errors import ZskipError
    try:
        return _measure(args)
    except ZskipError as e:          # an unknown board, a missing or malformed waveform or trace
        print(f"activity_memory: {e}", file=sys.stderr)
        return 2


def _measure(args):
    """Read the waveform (co-simulated first with ``--cosim``) and print what it took."""
    from boards.report import engine_unit
    from golden_model.checks import check_file
    from sim.activity import ActivityError, toggle_bins
    from sim.export import TOP
    from sim.jobs import PERIOD_NS

    wave = _cosim(args.cosim, args.root, args.trace, args.sweep) if args.cosim else args.waveform
    size = check_file(wave, "waveform", ActivityError).stat().st_size
    peak, stop = {"RssAnon": 0, "RssFile": 0}, threading.Event()
    sampler = threading.Thread(target=_peak_memory, args=(peak, stop), daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    bins = toggle_bins(wave, PERIOD_NS, top=TOP, watch=(f"{TOP}.counters",), unit=engine_unit)
    seconds = time.perf_counter() - t0
    stop.set()
    sampler.join()
    if args.cosim and not args.keep:
        wave.unlink()
    print(f"waveform: {wave} ({size / 1e9:.2f} GB)")
    print(f"toggle_bins: {seconds:.1f} s; peak anonymous memory {peak['RssAnon'] / 2**20:.2f} GB, peak mapped "
          f"waveform {peak['RssFile'] / 2**20:.2f} GB")
    print(f"read: {bins.bins.shape[1]} cycles, {int(bins.bins.sum())} toggles in {len(bins.units)} units, "
          f"{sum(bins.bits.values())} bits counted, {bins.duplicates} copies of a net left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
