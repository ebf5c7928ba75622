"""zskip report: a real trace co-simulated with waveforms, its activity and counters turned into the energy
estimate, the report's files and keys; and the inputs it must refuse by name."""

import json
from pathlib import Path

import pytest

import boards.build
import boards.report
from boards.power import Workload, ratio_band
from boards.report import TEMPORARIES, BoardReport, engine_operations, engine_unit, readout_operations, report
from boards.build import design_digest
from boards.targets import get_target
from golden_model.cycles import cycle_counts
from golden_model.engine_config import EngineConfig
from golden_model.errors import ConfigError
from golden_model.fixedpoint import QFormat
from hw.timing import micro_arch
from golden_model.engine_model import EngineInputs, run_engine
from golden_model.trace import Trace, load_trace
from tests.boards.test_records import BOARD_REPORT, BOARD_REPORT_ADDED
from zskip.cli import main

DATA = Path(__file__).parents[1] / "data"
TRACE = DATA / "fashion8_lstm_h8.npz"       # fits the iCEBreaker's default engine (I = H = 8)
STEPS = 6


def _short_trace():
    """The committed trace's first pass, its last STEPS steps (a valid sequence of its own, with the loss's
    gradient at its end: the report test takes a minute, not five)."""
    t = load_trace(TRACE)
    p = t.passes[0]
    last = slice(-STEPS, None)
    cut = EngineInputs(gates=p.gates[last], tanh_c=p.tanh_c[last], c_prev=p.c_prev[last], a=p.a[last],
                       dh=p.dh[last], W=p.W, tau=p.tau)
    return Trace(config=t.config, passes=[cut], meta=t.meta), cut


def _fake_build(target, config, directory, design=None):
    """A build report as boards.build writes it (the report test is not a build test: tests/boards/test_build.py
    runs the tools)."""
    directory.mkdir(parents=True)
    (directory / "report.json").write_text(json.dumps({
        "board": target.name, "device": target.device, "fmax_mhz": 18.9, "constraint_mhz": 12.0,
        "goal_mhz": 48, "timing_met": True, "goal_met": False, "config": config.to_dict(),
        "utilization": {"ICESTORM_LC": {"used": 5116, "available": 5280},
                        "ICESTORM_DSP": {"used": 5, "available": 8}, "ICESTORM_RAM": {"used": 26, "available": 30}},
        "cells": {"SB_DFF": 140, "SB_DFFE": 415, "SB_DFFESR": 1893, "SB_DFFSR": 12, "SB_LUT4": 3462},
        "critical_path": {"from": "a", "to": "b"}, "build_s": 1.0, "bitstream": "top.bin", "tools": {},
        "clock": {"oscillator_mhz": 12.0, "engine_mhz": 12.0},
        "design": design_digest(target, config) if design is None else design}))


def test_a_build_is_reused_only_for_the_same_design(tmp_path, monkeypatch):
    """The report reuses a build directory only if it built the design asked for (its digest): a build of the
    same configuration made before the hardware changed is built again, not reported as current."""
    target = get_target("icebreaker")
    config = target.default_config()
    built = []
    monkeypatch.setattr(boards.build, "build", lambda *args, **kw: built.append(args) or "rebuilt")
    said = []
    _fake_build(target, config, tmp_path / "same")
    assert boards.report._build_report(target, config, tmp_path / "same", said.append).design == \
        design_digest(target, config)
    assert built == [] and "using the build" in said[-1]
    _fake_build(target, config, tmp_path / "older", design="0123456789abcdef")
    assert boards.report._build_report(target, config, tmp_path / "older", said.append) == "rebuilt"
    assert len(built) == 1 and "another design" in said[-2]


def test_a_report_of_the_committed_trace(tmp_path, monkeypatch):
    measured, real = {}, boards.report.measure

    def measure(*args, **kw):          # the ModeFigures report() measures, kept for the checks below
        measured.update(real(*args, **kw))
        return measured

    monkeypatch.setattr(boards.report, "measure", measure)
    target = get_target("icebreaker")
    config = target.default_config()
    trace, inputs = _short_trace()
    _fake_build(target, config, tmp_path / "build")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "compare.json").write_text(json.dumps({
        "metric": "accuracy", "dataset": {"name": "fashion-mnist (8 features)", "task": "classify"},
        "rows": [{"label": "dense", "kind": "dense", "dz_sparsity": 0.01, "test_metric": 0.8, "delta": 0.0},
                 {"label": "sparsity:0.9", "kind": "sparse", "dz_sparsity": 0.9, "test_metric": 0.79, "delta": -0.01}]}))
    d = report(target, config, trace, tmp_path / "out", build_dir=tmp_path / "build", run_dir=tmp_path / "run",
               taus=(4.0,), cosim_root=tmp_path / "cosim")
    for name in ("report.md", "report.json", "energy_breakdown.png", "sparsity_sweep.png"):
        assert (tmp_path / "out" / name).stat().st_size > 0
    on_disk = json.loads((tmp_path / "out" / "report.json").read_text())
    for key in ("board", "sparsity", "cycles_dense", "cycles_skip", "fmax_mhz", "energy_dense_nj", "energy_skip_nj",
                "energy_ratio", "energy_band", "estimate", "coefficient_sources"):
        assert key in on_disk
    assert on_disk["estimate"] is True and on_disk["board"] == "icebreaker"
    assert on_disk["schema"] == "zskip.board-report/1" and BoardReport.read(tmp_path / "out" / "report.json") == d
    # the cycles are the hardware's, which the co-simulation held equal to the cycle model
    for dense, total, per_step in ((False, d.cycles_skip_total, d.cycles_skip),
                                   (True, d.cycles_dense_total, d.cycles_dense)):
        model = cycle_counts(config, run_engine(config, inputs, dense=dense), micro_arch(config))
        assert total == model.steps and per_step == model.steps / STEPS
    result = run_engine(config, inputs, dense=False)
    assert d.sparsity == 1 - result.nonzeros / result.dz.size
    assert d.speedup == d.cycles_dense / d.cycles_skip > 1
    # the estimate: skip costs less than dense, the ratio inside its band, the band inside the totals'
    lo, hi = d.energy_band.ratio
    assert d.energy_skip_nj < d.energy_dense_nj
    assert lo < d.energy_ratio < hi
    assert d.energy_ratio == pytest.approx(d.energy_skip_nj / d.energy_dense_nj)
    assert d.energy_band.skip_nj[0] < d.energy_skip_nj < d.energy_band.skip_nj[1]
    assert d.energy_goal == pytest.approx(1.15 * (1 - d.sparsity))
    # what the terms count: cycles, the build's flip-flops, the lanes' work only in what skip mode issues
    ops = d.operations_per_step
    assert ops.skip["cycles"] == d.cycles_skip and ops.skip["flip_flops"] == 2460
    assert ops.skip["dsp_ops"] < ops.dense["dsp_ops"]
    tg = d.toggles_per_step
    assert tg.dense["MAC lanes"] > tg.skip["MAC lanes"] > 0
    # the gate-gradient unit does the same work in both modes: its named signals toggle alike
    assert tg.skip["gate-gradient unit"] == pytest.approx(tg.dense["gate-gradient unit"], rel=0.02)
    assert [p.point for p in d.sweep] == ["trace tau", "4 x tau"]
    assert d.sweep[1].sparsity > d.sweep[0].sparsity
    # the keys added since the committed reports: all written, none null
    assert set(on_disk) == BOARD_REPORT[""] | BOARD_REPORT_ADDED | {"schema"}
    assert all(on_disk[k] is not None for k in BOARD_REPORT_ADDED)
    # throughput: a dense step is 2 B 4H N MACs (dW and da); the lanes do 2 per lane per cycle at most
    assert d.macs_dense_per_step == 2 * inputs.dh.shape[1] * 4 * config.hidden_size * (
        config.input_size + config.hidden_size) == 2 * 4 * 32 * 16
    assert d.peak_gmacs == config.lanes * 2 * d.fmax_mhz / 1000
    assert d.dense_equiv_gmacs == d.dense_equivalent_macs_per_s / 1e9
    assert d.dense_equivalent_macs_per_s == d.macs_dense_per_step / (d.cycles_skip / (d.fmax_mhz * 1e6))
    assert d.macs_dense_per_step <= 2 * config.lanes * d.cycles_dense      # dense mode cannot beat the peak
    # whole sequences: the `cycles` counter (the cycle model's), a window that holds the steps' ...
    for mode, dense in (("skip", False), ("dense", True)):
        f = measured[mode]
        model = cycle_counts(config, run_engine(config, inputs, dense=dense), micro_arch(config))
        assert f.sequence_cycles == model.cycles > f.cycles == model.steps
        assert set(f.sequence_toggles) == set(f.toggles)
        assert all(f.sequence_toggles[u] >= f.toggles[u] for u in f.toggles)
        assert sum(f.sequence_toggles.values()) > sum(f.toggles.values())
    # ... and the ratio of their workloads: the steps' operations plus one read-out per sequence
    def whole(f):
        ops = engine_operations(config, f.counters, f.elements, f.buffered)
        ops = {k: v + readout_operations(config, inputs.dh.shape[1])[k] for k, v in ops.items()}
        toggles = sum(v for u, v in f.sequence_toggles.items() if not u.endswith(TEMPORARIES))
        return Workload(cycles=f.sequence_cycles, f_mhz=12.0, flip_flops=2460, net_toggles=toggles, **ops)
    ratio, lo, hi = ratio_band("ice40", whole(measured["skip"]), whole(measured["dense"]))
    assert (d.energy_ratio_sequence, *d.energy_ratio_sequence_band) == (ratio, lo, hi)
    assert d.energy_goal_met_sequence == (d.energy_ratio_sequence <= d.energy_goal)
    # the read-out costs both modes alike: amortised, it pulls the ratio from the step's towards 1
    assert d.energy_ratio < d.energy_ratio_sequence < 1
    assert lo < d.energy_ratio_sequence < hi
    md = (tmp_path / "out" / "report.md").read_text()
    assert "estimate, not vendor analysis, not measured" in md and "| icebreaker |" in md
    assert f"| {d.energy_ratio_sequence:.3f} ({lo:.3f}-{hi:.3f}) {'met' if d.energy_goal_met_sequence else 'not met'} " \
        in md
    assert f"| {d.dense_equiv_gmacs:.3f} ({d.peak_gmacs:.3f}) |" in md
    assert f"peak {d.peak_gmacs:.3f} GMAC/s" in md and f"energy ratio skip / dense **{d.energy_ratio_sequence:.3f}**" in md
    # the accuracy table: its heading names the dataset (not a dictionary's repr), the headline its figures
    assert "## Accuracy (fashion-mnist (8 features), test accuracy; " in md and "{'name'" not in md
    assert "| 80.0 % / 79.0 % / — |" in md


def test_signals_are_counted_by_unit_and_temporaries_apart():
    assert engine_unit("core.ggu.r_t1") == "gate-gradient unit"
    assert engine_unit("core.ggu.$12") == "gate-gradient unit" + TEMPORARIES
    assert engine_unit("core.lanes.wp__en$16") == "MAC lanes"
    assert engine_unit("core.state") == "controller"
    assert engine_unit("core.dz_buffer.fifo.level") == "dz buffer" and engine_unit("core.feed.j") == "feed"
    assert engine_unit("core.readout.rec_we") == "read-out" and engine_unit("core.loader.ahead") == "a-loader"
    assert engine_unit("a_fifo.w_en") == "stream FIFOs" and engine_unit("dw_fifo12.level") == "stream FIFOs"
    assert engine_unit("tau") == "ports and glue"


def test_report_refuses_what_it_cannot_use(tmp_path, capsys):
    austen = DATA / "austen_lstm_h32.npz"
    assert main(["report", "--board", "nosuch", "--trace", str(TRACE), "--out", str(tmp_path / "r")]) == 2
    assert "unknown board 'nosuch'" in capsys.readouterr().err
    assert main(["report", "--board", "icebreaker", "--trace", str(austen), "--out", str(tmp_path / "r")]) == 2
    assert "the trace does not match the configuration (input_size: trace 81 vs configuration 8" in \
        capsys.readouterr().err
    assert main(["report", "--board", "icebreaker", "--trace", str(TRACE), "--run", str(tmp_path),
                 "--out", str(tmp_path / "r")]) == 2
    assert "holds neither compare.json" in capsys.readouterr().err
    assert main(["report", "--board", "icebreaker", "--trace", str(TRACE), "--passes", "0",
                 "--out", str(tmp_path / "r")]) == 2
    assert "--passes must be in 1..2" in capsys.readouterr().err
    assert main(["report", "--board", "icebreaker", "--trace", str(tmp_path / "none.npz"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "none.npz" in capsys.readouterr().err
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "report.json").write_text("{not json")
    assert main(["report", "--board", "icebreaker", "--trace", str(TRACE), "--build", str(tmp_path / "b"),
                 "--out", str(tmp_path / "r")]) == 2
    assert "report.json is not valid JSON" in capsys.readouterr().err


def test_a_malformed_run_directory_is_named(tmp_path):
    from boards.report import _accuracy
    from golden_model.errors import ConfigError
    (tmp_path / "compare.json").write_text('{"metric": "accuracy", "rows": [{"label": "dense"}]}')
    with pytest.raises(ConfigError, match=r"compare.json is not a readable compare.json of 'zskip compare' \(KeyError"):
        _accuracy(tmp_path)
    (tmp_path / "compare.json").write_text("{not json")
    with pytest.raises(ConfigError, match="is not a readable compare.json"):
        _accuracy(tmp_path)


def test_the_read_out_operations_by_hand():
    # I = 3, H = 2, P = 2: N = 5, C = 3 chunks of 2 words per row of 4H = 8; dW 32 bits, db 24, grad 16
    config = EngineConfig(input_size=3, hidden_size=2, lanes=2, max_batch=3, max_seq=2, grad=QFormat(16, 12),
                          dw_acc_width=32, db_acc_width=24)
    dw = 8 * 3 * 2 * 2            # 48 words of 32 bits: 96 16-bit words, read and written back as 0
    db = 8 * 1.5                  # 8 words of 24 bits, read and cleared
    walk = 3 * 2 * 2              # B H words of dh_rec and B H of dc, 16 bits each
    assert readout_operations(config, 3) == {"bram_reads": dw + db + walk, "bram_writes": dw + db, "dsp_ops": 0}
    assert readout_operations(config, 1) == {"bram_reads": 96 + 12 + 4, "bram_writes": 108, "dsp_ops": 0}
    for bad in (0, 4, 1.5):
        with pytest.raises(ConfigError, match="batch"):
            readout_operations(config, bad)
